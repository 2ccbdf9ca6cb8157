"""Policy files refused with one error naming the file, line and rule; and rules over many
campaigns split between workers, with the outcomes merged back in order.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from reconciler.policy import PolicyError, load_policy
from reconciler.policy.rules import MAX_EXPR_CHARS
from reconciler.policy.workers import SHARD_MIN_BINDINGS, evaluate

GOOD = "  level: soft\n  expr: 'true'\n  message: m\n"


@pytest.mark.parametrize(
    ("text", "expected", "line"),
    [
        ("- 1\n- 2\n", "a policy file is a mapping with a `rules` list", 1),
        ("rules: {a: 1}\n", "a policy file is a mapping with a `rules` list", 1),
        ("rules: []\nextra: 1\n", "unknown key 'extra' (only `rules`)", 1),
        ("rules:\n- just a string\n", "a rule is a mapping with name, level, expr and message", 2),
        ("rules:\n- level: soft\n", "a rule needs a `name`", 2),
        ("rules:\n- name: '  '\n" + GOOD, "a rule needs a `name`", 2),
        ("rules:\n- name: s\n  scope: global\n" + GOOD, "scope must be campaign or plan", 2),
        ("rules:\n- name: k\n  kind: Sms\n" + GOOD, "rule 'k': kind must be one of", 2),
        ("rules:\n- name: e\n  level: soft\n  message: m\n", "`expr` must be a CEL expression", 2),
        ("rules:\n- name: m\n  level: soft\n  expr: 'true'\n", "`message` must say what", 2),
        (
            "rules:\n- name: p\n  scope: plan\n  level: soft\n  expr: campaign.name == ''\n"
            "  message: m\n",
            "a plan rule sees `plan`, not `campaign`",
            2,
        ),
        (
            "rules:\n- name: c\n  level: soft\n  expr: size(plan.actions) == 0\n  message: m\n",
            "a campaign rule sees `campaign` and `sends`, not `plan`",
            2,
        ),
        (
            "rules:\n- name: f\n  scope: plan\n  level: soft\n  expr: plan.nothing == 0\n"
            "  message: m\n",
            "rule 'f': unknown field plan.nothing (known: ",
            2,
        ),
        (
            "rules:\n- name: ok\n" + GOOD + "- name: long\n  level: soft\n  message: m\n"
            f"  expr: '{'1 == 1 && ' * (MAX_EXPR_CHARS // 9)}true'\n",
            f"the limit is {MAX_EXPR_CHARS}",
            6,
        ),
    ],
)
def test_a_bad_policy_file_names_the_file_and_the_rules_line(
    tmp_path: Path, text: str, expected: str, line: int
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert expected in info.value.message
    assert info.value.where == f"{path}:{line}"


def test_a_missing_or_undecodable_policy_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read the policy file") as info:
        load_policy(tmp_path / "absent.yaml")
    assert info.value.where == str(tmp_path / "absent.yaml")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"rules: []\n\xff\xfe\n")
    with pytest.raises(PolicyError, match="cannot read the policy file"):
        load_policy(binary)


def test_a_good_policy_file_keeps_each_rules_line_and_fields(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            rules:
            - name: subject
              level: hard
              kind: EmailCampaign
              expr: campaign.subject != ''
              message: '  needs a subject  '
            - name: small
              scope: plan
              level: advisory
              expr: size(plan.actions) < 5
              message: few deletes
            """
        ),
        encoding="utf-8",
    )
    policy = load_policy(path)
    assert [(r.name, r.level, r.scope, r.line, r.kind) for r in policy.rules] == [
        ("subject", "hard", "campaign", 2, "EmailCampaign"),
        ("small", "advisory", "plan", 7, None),
    ]
    assert policy.rules[0].message == "needs a subject"


# --------------------------------------------------------------------------- shards


def test_many_campaigns_are_split_between_workers_and_merged_in_order() -> None:
    count = SHARD_MIN_BINDINGS + 7
    bindings = [{"campaign": {"n": n}} for n in range(count)]
    jobs = [
        ("campaign.n % 97 != 0", range(count)),  # fails on every 97th, across shards
        ("campaign.n < 1500 || campaign.missing == 1", range(count)),  # raises from 1500 on
        ("campaign.n >= 0", range(0, count, 2)),  # passes everywhere it runs
    ]
    multiples, raises, passes = evaluate(jobs, bindings, time_limit=60)
    assert multiples.error is None
    assert multiples.failed == list(range(0, count, 97)), "every shard's failures, in order"
    assert raises.error is not None and "no such key" in raises.error
    assert raises.error_index == 1500, "the first binding that raised, of all shards"
    assert (passes.failed, passes.error) == ([], None)
