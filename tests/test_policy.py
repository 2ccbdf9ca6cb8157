"""Policies: rule levels on validate and plan, overrides recorded, bad rules as one-line
errors, long rules stopped, and every ready rule of docs/policies.md proven on examples."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from reconciler.cli import run
from reconciler.loader import load_directory
from reconciler.plan import Action, ActionKind, Plan, Reason
from reconciler.policy import PolicyError, check_campaigns, load_policy
from reconciler.sandbox import Sandbox

REPO = Path(__file__).resolve().parents[1]


def email(name: str, **fields: str) -> str:
    base = {
        "campaign_type": "normal",
        "to": "{type: tag, value: [t]}",
        "sender_id": "53",
        "template_invoke_name": "tpl",
        "subject": "Hello",
        "send_time": '"2027-03-01 10:00:00"',
    }
    base.update(fields)
    if "ab_test" in fields or fields.get("sender_id") == "":
        base["campaign_type"] = "ab"
    return f"name: {name}\n" + "".join(f"{k}: {v}\n" for k, v in base.items() if v)


def write_policy(path: Path, rules: str) -> Path:
    path.write_text("rules:\n" + textwrap.indent(textwrap.dedent(rules), "  "), encoding="utf-8")
    return path


class Repo:
    def __init__(self, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.root = root
        self.config = root / "campaigns.d"
        self.config.mkdir()
        self.capsys = capsys

    def write(self, stem: str, text: str) -> None:
        (self.config / f"{stem}.yaml").write_text(text, encoding="utf-8")

    def policy(self, rules: str, name: str = "rules.yaml") -> Path:
        return write_policy(self.root / name, rules)

    def run(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = run(["--state", str(self.root / "state.json"), *args])
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def repo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Repo:
    r = Repo(tmp_path, capsys)
    r.write(
        "long",
        email(
            "Long", subject="A subject line far longer than anyone reads on a phone screen today"
        ),
    )
    r.write("short", email("Short"))
    return r


SUBJECT_RULE = """\
- name: short-subject
  level: {level}
  kind: EmailCampaign
  expr: size(campaign.subject) <= 40
  message: subjects stay short
"""


def test_advisory_is_a_warning_and_validate_passes(repo: Repo) -> None:
    policy = repo.policy(SUBJECT_RULE.format(level="advisory"))
    code, _, err = repo.run("validate", str(repo.config), "--policy", str(policy))
    assert code == 0
    assert (
        f'policy warning: rule "short-subject" (advisory): EmailCampaign "Long": subjects stay '
        f"short ({repo.config / 'long.yaml'}:1)"
    ) in err
    assert "Short" not in err


def test_soft_is_an_error_unless_overridden_with_a_reason(repo: Repo) -> None:
    policy = repo.policy(SUBJECT_RULE.format(level="soft"))
    code, _, err = repo.run("validate", str(repo.config), "--policy", str(policy))
    assert code == 1
    assert 'policy error: rule "short-subject" (soft): EmailCampaign "Long"' in err
    assert "error: 1 policy violation at error level (rule 'short-subject')" in err
    code, _, err = repo.run(
        "validate", str(repo.config), "--policy", str(policy),
        "--override", "short-subject", "--reason", "legal asked for this wording",
    )  # fmt: skip
    assert code == 0, err
    assert "override reason: legal asked for this wording" in err


def test_hard_is_always_an_error_and_cannot_be_overridden(repo: Repo) -> None:
    policy = repo.policy(SUBJECT_RULE.format(level="hard"))
    code, _, err = repo.run("validate", str(repo.config), "--policy", str(policy))
    assert code == 1 and 'policy error: rule "short-subject" (hard)' in err
    code, _, err = repo.run(
        "validate", str(repo.config), "--policy", str(policy),
        "--override", "short-subject", "--reason", "please",
    )  # fmt: skip
    assert code == 1
    assert "only soft rules can be overridden; this one is hard" in err


def test_validate_json_and_github_formats_carry_violations(repo: Repo) -> None:
    policy = repo.policy(SUBJECT_RULE.format(level="soft"))
    code, out, _ = repo.run(
        "validate", str(repo.config), "--policy", str(policy), "--format", "json"
    )
    assert code == 1
    (issue,) = json.loads(out)
    assert issue["severity"] == "error" and issue["file"].endswith("long.yaml")
    code, out, _ = repo.run(
        "validate", str(repo.config), "--policy", str(policy), "--format", "github"
    )
    assert code == 1 and out.startswith("::error file=") and "short-subject" in out


def test_plan_records_an_override_in_json_and_markdown(repo: Repo, sandbox_env: Sandbox) -> None:
    policy = repo.policy(SUBJECT_RULE.format(level="soft"))
    args = ("plan", str(repo.config), "--policy", str(policy))
    code, out, err = repo.run(*args)
    assert code == 1
    assert "policy error: rule" in out and "error: 1 policy violation" in err
    override = ("--override", "short-subject", "--reason", "approved by @lead in #42")
    code, out, err = repo.run(*args, *override, "--format", "json")
    assert code == 0, err
    assert json.loads(out)["policy"] == [
        {
            "rule": "short-subject",
            "level": "soft",
            "kind": "EmailCampaign",
            "name": "Long",
            "file": str(repo.config / "long.yaml"),
            "line": 1,
            "message": "subjects stay short",
            "overridden": True,
            "reason": "approved by @lead in #42",
        }
    ]
    code, out, _ = repo.run(*args, *override, "--format", "markdown")
    assert code == 0
    assert "#### Policy" in out and "| ✅ overridden | `short-subject` | soft | `Long`" in out
    # The reason is prose in the comment: shown as written, never a mention.
    assert "- `short-subject` on `Long`: approved by @\u2060lead in #42" in out
    # A saved plan keeps it.
    saved = repo.root / "plan.json"
    assert repo.run(*args, *override, "--out", str(saved))[0] == 0
    (violation,) = Plan.from_json(json.loads(saved.read_text())).policy
    assert violation.overridden and violation.reason == "approved by @lead in #42"


def test_a_hard_plan_rule_blocks_the_plan_and_names_the_rule_line(
    repo: Repo, sandbox_env: Sandbox
) -> None:
    policy = repo.policy(
        """\
        - name: at-most-one-create
          level: hard
          scope: plan
          expr: plan.actions.filter(a, a.action == 'create').size() <= 1
          message: create campaigns one pull request at a time
        """
    )
    saved = repo.root / "plan.json"
    code, out, _ = repo.run("plan", str(repo.config), "--policy", str(policy), "--out", str(saved))
    assert code == 1
    assert (
        f'policy error: rule "at-most-one-create" (hard): create campaigns one pull request '
        f"at a time ({policy}:2)" in out
    )
    assert not saved.exists(), "a plan that breaks a hard rule is never saved"


def test_policy_yaml_beside_the_config_dir_is_the_default(repo: Repo) -> None:
    repo.policy(SUBJECT_RULE.format(level="hard"), name="policy.yaml")
    code, _, err = repo.run("validate", str(repo.config))
    assert code == 1 and "short-subject" in err


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ("- name: a\n  level: soft\n  expr: [unclosed\n", "policy file is not valid YAML"),
        (
            "- name: broken\n  level: soft\n  expr: campaign.name +\n  message: m\n",
            "rule 'broken': CEL syntax error: Failed to parse expression",
        ),
        (
            "- name: typo\n  level: soft\n  expr: campaign.sendr_id == '53'\n  message: m\n",
            "rule 'typo': unknown field campaign.sendr_id",
        ),
        (
            "- name: typo2\n  level: soft\n  expr: has(campaign.google_track.utm_source)\n"
            "  message: m\n",
            "rule 'typo2': unknown field campaign.google_track.utm_source",
        ),
        ("- name: lvl\n  level: strict\n  expr: 'true'\n  message: m\n", "level must be one of"),
        (
            "- name: k\n  level: soft\n  expr: 'true'\n  message: m\n  when: x\n",
            "unknown key 'when'",
        ),
        (
            "- name: twice\n  level: soft\n  expr: 'true'\n  message: m\n"
            "- name: twice\n  level: soft\n  expr: 'true'\n  message: m\n",
            "rule 'twice' is defined twice",
        ),
    ],
)
def test_a_bad_policy_file_is_one_line_naming_the_rule_and_line(
    repo: Repo, rules: str, expected: str
) -> None:
    policy = repo.root / "bad.yaml"
    policy.write_text("rules:\n" + textwrap.indent(rules, "  "), encoding="utf-8")
    code, _, err = repo.run("validate", str(repo.config), "--policy", str(policy))
    assert code == 1
    assert "Traceback" not in err and "internal" not in err
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert expected in line
    assert re.search(rf"\({re.escape(str(policy))}:\d+\)$", line)


def test_the_line_is_the_rules_own(repo: Repo) -> None:
    policy = repo.policy(
        """\
        - name: fine
          level: soft
          expr: 'true'
          message: m
        - name: broken
          level: soft
          expr: campaign.name +
          message: m
        """
    )
    code, _, err = repo.run("validate", str(repo.config), "--policy", str(policy))
    assert code == 1 and f"({policy}:6)" in err


def test_a_rule_that_raises_on_a_campaign_names_rule_line_and_campaign(repo: Repo) -> None:
    policy = repo.policy(
        """\
        - name: needs-utm
          level: soft
          expr: campaign.google_track.campaign_source == 'x'
          message: m
        """
    )
    code, _, err = repo.run("validate", str(repo.config), "--policy", str(policy))
    assert code == 1 and "Traceback" not in err
    assert (
        f"error: rule 'needs-utm' could not be evaluated on EmailCampaign 'Long' "
        f"({repo.config / 'long.yaml'}:1): KeyError: no such key 'google_track' (test it with "
        f"has() first) ({policy}:2)"
    ) in err


def test_a_rule_that_is_not_a_bool_is_an_error(repo: Repo) -> None:
    policy = repo.policy("- name: nb\n  level: soft\n  expr: campaign.name\n  message: m\n")
    code, _, err = repo.run("validate", str(repo.config), "--policy", str(policy))
    assert code == 1 and "the expression gave str 'Long', not a bool" in err


LONG_RANGE = "[" + ",".join(str(i) for i in range(30)) + "]"
#: 30^6 = 729 million evaluations: minutes of CPU, no memory (all() builds no list).
SLOW = (
    f"{LONG_RANGE}.all(a, {LONG_RANGE}.all(b, {LONG_RANGE}.all(c, {LONG_RANGE}.all(d, "
    f"{LONG_RANGE}.all(e, {LONG_RANGE}.all(f, a + b + c + d + e + f >= 0))))))"
)


def test_a_rule_that_runs_long_is_stopped_and_the_others_still_run(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = repo.policy(
        f"""\
        - name: slow
          level: advisory
          expr: "{SLOW}"
          message: m
        """
    )
    monkeypatch.setenv("CAMPAIGNCTL_POLICY_TIME_LIMIT", "0.5")
    code, _, err = repo.run("validate", str(repo.config), "--policy", str(policy))
    assert code == 1
    assert (
        f"error: rule 'slow' could not be evaluated: stopped after 0.5 s (the time limit per "
        f"rule) ({policy}:2)"
    ) in err
    # Through the API: the rules after a stopped one are still evaluated (in a new worker).
    rules = load_policy(
        write_policy(
            repo.root / "api.yaml",
            f"""\
            - name: fast
              level: advisory
              expr: campaign.name != 'Long'
              message: m
            - name: slow
              level: advisory
              expr: "{SLOW}"
              message: m
            """,
        )
    )
    with pytest.raises(PolicyError, match="rule 'slow' could not be evaluated: stopped"):
        check_campaigns(rules, load_directory(repo.config).campaigns, time_limit=0.5)


def test_override_mistakes_are_errors(repo: Repo) -> None:
    policy = repo.policy(SUBJECT_RULE.format(level="soft"))
    base = ("validate", str(repo.config), "--policy", str(policy))
    code, _, err = repo.run(*base, "--override", "short-subjet", "--reason", "x")
    assert code == 1 and "--override 'short-subjet': no such rule" in err
    code, _, err = repo.run(*base, "--override", "short-subject")
    assert code == 1 and "give each --override RULE its own --reason TEXT" in err


# --------------------------------------------------------------------------- the docs' rules


def docs_policies() -> dict[str, Path]:
    """Every YAML block of docs/policies.md, by its first rule's name."""
    text = (REPO / "docs" / "policies.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    out = {}
    for block in blocks:
        name = re.search(r"- name: (\S+)", block)
        assert name
        out[name.group(1)] = block
    return out


AB_SENDERS = (
    "ab_test:\n  percent: 20\n"
    "  win_condition: {time_unit: hour, after_time: 4, compare: open_percent}\n"
    "  sender_ids: [53, 99]\n"
)

#: rule -> (campaigns that follow it, campaigns that break it), as YAML documents.
DOC_CASES: dict[str, tuple[list[str], list[str]]] = {
    "utm-source-required": (
        [email("Ok", google_track="{campaign_source: news}")],
        [email("Bad")],
    ),
    "utm-required": (
        [email("Ok", google_track="{campaign_source: n, campaign_medium: e, campaign_name: q}")],
        [email("Bad", google_track="{campaign_source: n, campaign_medium: e}"), email("None")],
    ),
    "allowed-senders": (
        [email("Ok", sender_id="54")],
        [email("Bad", sender_id="77")],
    ),
    "send-window": (
        [
            email("Asia", send_time='"2027-03-01 20:30:00"', time_zone="8"),
            email("Berlin", send_time='"2027-03-01 08:30:00"', time_zone="1"),
        ],
        [
            email("Late", send_time='"2027-03-01 20:30:00"', time_zone="1"),
            email("Early", send_time='"2027-03-01 08:30:00"', time_zone="8"),
        ],
    ),
    "subject-length": (
        [email("Ok", subject="Spring sale")],
        [email("Bad", subject="x" * 61)],
    ),
    "audience-spacing": (
        [
            email("A", to="{type: tag, value: [x]}", send_time='"2027-03-01 10:00:00"'),
            email("B", to="{type: tag, value: [x]}", send_time='"2027-03-03 10:00:00"'),
        ],
        [
            email("C", to="{type: tag, value: [y]}", send_time='"2027-03-01 10:00:00"'),
            email("D", to="{type: list, value: [all]}", send_time='"2027-03-02 10:00:00"'),
        ],
    ),
}


def test_the_docs_hold_every_ready_rule() -> None:
    assert set(docs_policies()) == {*DOC_CASES, "no-delete-sent"}


@pytest.mark.parametrize("rule", sorted(DOC_CASES))
def test_each_ready_rule_of_the_docs_passes_and_fails_as_documented(
    rule: str, tmp_path: Path
) -> None:
    policy = load_policy(_write(tmp_path / "policy.yaml", docs_policies()[rule]))
    good, bad = DOC_CASES[rule]
    for label, docs, expect_failing in (("good", good, False), ("bad", bad, True)):
        config = tmp_path / label
        config.mkdir()
        for index, doc in enumerate(docs):
            (config / f"c{index}.yaml").write_text(doc, encoding="utf-8")
        loaded = load_directory(config).campaigns
        failing = {v.name for v in check_campaigns(policy, loaded, time_limit=30)}
        expected = {c.name for c in loaded} if expect_failing else set()
        assert failing == expected, (rule, label)


def test_the_docs_no_delete_sent_rule_on_a_plan(tmp_path: Path) -> None:
    policy = load_policy(_write(tmp_path / "policy.yaml", docs_policies()["no-delete-sent"]))

    def delete(status: int) -> Plan:
        action = Action(
            ActionKind.DELETE, "EmailCampaign", "Old", "7", Reason.DELETE_BECAUSE_NO_CONFIG, "",
            live_status=status,
        )  # fmt: skip
        return Plan(actions=(action,))

    assert check_campaigns(policy, (), plan=delete(0), time_limit=30) == []
    (violation,) = check_campaigns(policy, (), plan=delete(2), time_limit=30)
    assert violation.rule == "no-delete-sent" and violation.level == "hard" and violation.blocking
    assert violation.file == str(tmp_path / "policy.yaml") and violation.line == 2


def test_allowed_senders_covers_ab_sender_ids(tmp_path: Path) -> None:
    policy = load_policy(_write(tmp_path / "p.yaml", docs_policies()["allowed-senders"]))
    config = tmp_path / "c"
    config.mkdir()
    (config / "ab.yaml").write_text(email("AB", sender_id="") + AB_SENDERS, encoding="utf-8")
    (violation,) = check_campaigns(policy, load_directory(config).campaigns, time_limit=30)
    assert violation.name == "AB"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
