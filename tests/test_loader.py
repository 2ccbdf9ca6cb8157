"""The loader through `campaignctl validate`: every rule, every bad input, exact positions.

Each bad-input case writes a few files into a fresh directory, runs the CLI in-process and
checks the exit code, that no traceback appears, and that the message names the file, the
1-based line and the field path.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.cli import run
from reconciler.errors import ConfigError
from reconciler.loader import MAX_FILE_BYTES, MAX_NODES_PER_FILE, load_directory

NORMAL = """\
name: Base
campaign_type: normal
to: {type: tag, value: [x]}
sender_id: 53
template_invoke_name: tpl
send_time: "2030-01-01 10:00:00"
"""

AB_SUBJECTS = """\
name: AB
campaign_type: ab
to: {type: list, value: [all]}
sender_id: 53
template_invoke_name: tpl
ab_test:
  percent: 20
  win_condition: {time_unit: hour, after_time: 18, compare: open_percent}
  subjects: [A, B]
"""

MESSAGING = """\
kind: MessagingCampaign
name: Journey
channel_type: whatsapp
touchpoints:
  - {name: One, type: message, message: hi}
  - {name: Two, type: action}
"""

BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
name: *i
"""


def replace(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


@dataclass
class Case:
    """A bad input: files to write, and the issue expected (file, line, field, message)."""

    id: str
    files: dict[str, str | bytes]
    file: str
    line: int
    field: str
    message: str
    symlinks: dict[str, str] = field(default_factory=dict)
    sparse: dict[str, int] = field(default_factory=dict)


# fmt: off
CASES = [
    # --- name
    Case("name-too-long", {"c.yaml": replace(NORMAL, "name: Base", "name: " + "x" * 65)},
         "c.yaml", 1, "name", "at most 64 characters"),
    Case("name-empty", {"c.yaml": replace(NORMAL, "name: Base", 'name: ""')},
         "c.yaml", 1, "name", "at least 1 character"),
    Case("name-missing", {"c.yaml": "\n" + replace(NORMAL, "name: Base\n", "")},
         "c.yaml", 2, "name", "required field is missing"),
    Case("name-wrong-type", {"c.yaml": replace(NORMAL, "name: Base", "name: [a, b]")},
         "c.yaml", 1, "name", "valid string"),
    # --- campaign_type
    Case("campaign-type-unknown", {"c.yaml": replace(NORMAL, "type: normal", "type: weekly")},
         "c.yaml", 2, "campaign_type", "normal or ab"),
    Case("campaign-type-bad-int", {"c.yaml": replace(NORMAL, "type: normal", "type: 3")},
         "c.yaml", 2, "campaign_type", "normal or ab"),
    # --- to
    Case("to-two-entries",
         {"c.yaml": replace(NORMAL, "to: {type: tag, value: [x]}",
                            "to: [{type: tag, value: [a]}, {type: list, value: [b]}]")},
         "c.yaml", 3, "to", "exactly one entry (found 2)"),
    Case("to-bad-type", {"c.yaml": replace(NORMAL, "{type: tag,", "{type: group,")},
         "c.yaml", 3, "to.type", "'list', 'tag' or 'segment'"),
    Case("to-list-form-bad-type",
         {"c.yaml": replace(NORMAL, "to: {type: tag, value: [x]}",
                            "to:\n  - type: group\n    value: [x]")},
         "c.yaml", 4, "to[0].type", "'list', 'tag' or 'segment'"),
    Case("to-empty-values", {"c.yaml": replace(NORMAL, "value: [x]", "value: []")},
         "c.yaml", 3, "to.value", "at least 1 item"),
    Case("to-wrong-type", {"c.yaml": replace(NORMAL, "to: {type: tag, value: [x]}", "to: tag")},
         "c.yaml", 3, "to", "valid dictionary"),
    # --- normal vs A/B fields
    Case("normal-needs-sender", {"c.yaml": replace(NORMAL, "sender_id: 53\n", "")},
         "c.yaml", 1, "sender_id", "sender_id is required"),
    # --- reply_to and sender_id: what the API refuses (32115, 32111), refused offline
    Case("reply-to-not-an-email", {"c.yaml": NORMAL + "reply_to: not-an-email\n"},
         "c.yaml", 7, "reply_to", "must be one email address"),
    Case("reply-to-two-addresses", {"c.yaml": NORMAL + 'reply_to: "a@b.co, c@d.co"\n'},
         "c.yaml", 7, "reply_to", "must be one email address"),
    Case("sender-id-not-a-number", {"c.yaml": replace(NORMAL, "sender_id: 53", "sender_id: abc")},
         "c.yaml", 4, "sender_id", "must be a positive integer"),
    Case("sender-id-zero", {"c.yaml": replace(NORMAL, "sender_id: 53", "sender_id: '000'")},
         "c.yaml", 4, "sender_id", "must be a positive integer"),
    Case("sender-ids-one-not-a-number",
         {"c.yaml": replace(AB_SUBJECTS.replace("sender_id: 53\n", ""), "subjects: [A, B]",
                            "sender_ids: ['1', 'x']")},
         "c.yaml", 8, "ab_test.sender_ids[1]", "must be a positive integer"),
    Case("to-blank-value", {"c.yaml": replace(NORMAL, "value: [x]", "value: [x, ' ']")},
         "c.yaml", 3, "to.value[1]", "must not be blank"),
    Case("name-blank", {"c.yaml": replace(NORMAL, "name: Base", "name: '  '")},
         "c.yaml", 1, "name", "must not be blank"),
    Case("ab-test-on-normal",
         {"c.yaml": NORMAL + AB_SUBJECTS[AB_SUBJECTS.index("ab_test:"):]},
         "c.yaml", 7, "ab_test", "only allowed when campaign_type is ab"),
    Case("warm-up-on-ab",
         {"c.yaml": AB_SUBJECTS
          + "warm_up: [{domain: g.com, rate: 1, upgrade_value: 1, downgrade_value: 1}]\n"},
         "c.yaml", 10, "warm_up", "only allowed when campaign_type is normal"),
    Case("ab-without-ab-test", {"c.yaml": replace(NORMAL, "type: normal", "type: ab")},
         "c.yaml", 1, "ab_test", "ab_test is required"),
    Case("ab-subject-with-subjects", {"c.yaml": AB_SUBJECTS + "subject: Hello\n"},
         "c.yaml", 10, "subject", "ignored by the API"),
    Case("ab-template-test-needs-subject",
         {"c.yaml": replace(
             replace(AB_SUBJECTS, "subjects: [A, B]", "template_invoke_names: [t1, t2]"),
             "template_invoke_name: tpl\n", "")},
         "c.yaml", 1, "subject", "subject is required"),
    # --- ab_test
    Case("ab-percent-zero", {"c.yaml": replace(AB_SUBJECTS, "percent: 20", "percent: 0")},
         "c.yaml", 7, "ab_test.percent", "greater than or equal to 1"),
    Case("ab-percent-over", {"c.yaml": replace(AB_SUBJECTS, "percent: 20", "percent: 101")},
         "c.yaml", 7, "ab_test.percent", "less than or equal to 100"),
    Case("ab-percent-wrong-type",
         {"c.yaml": replace(AB_SUBJECTS, "percent: 20", "percent: twenty")},
         "c.yaml", 7, "ab_test.percent", "valid integer"),
    Case("after-time-hour-range",
         {"c.yaml": replace(AB_SUBJECTS, "after_time: 18", "after_time: 24")},
         "c.yaml", 8, "ab_test.win_condition.after_time", "[0, 23]"),
    Case("after-time-day-range",
         {"c.yaml": replace(AB_SUBJECTS, "time_unit: hour, after_time: 18",
                            "time_unit: day, after_time: 11")},
         "c.yaml", 8, "ab_test.win_condition.after_time", "[0, 10]"),
    Case("time-unit-unknown",
         {"c.yaml": replace(AB_SUBJECTS, "time_unit: hour", "time_unit: minute")},
         "c.yaml", 8, "ab_test.win_condition.time_unit", "'hour' or 'day'"),
    Case("compare-unknown",
         {"c.yaml": replace(AB_SUBJECTS, "compare: open_percent", "compare: opens")},
         "c.yaml", 8, "ab_test.win_condition.compare", "'open_percent'"),
    Case("two-dimensions",
         {"c.yaml": AB_SUBJECTS.replace("sender_id: 53\n", "") + "  sender_ids: ['1', '2']\n"},
         "c.yaml", 5, "ab_test", "exactly one of"),
    Case("no-dimension", {"c.yaml": replace(AB_SUBJECTS, "  subjects: [A, B]\n", "")},
         "c.yaml", 6, "ab_test", "exactly one of"),
    Case("empty-dimension", {"c.yaml": replace(AB_SUBJECTS, "subjects: [A, B]", "subjects: []")},
         "c.yaml", 9, "ab_test.subjects", "at least one value"),
    # --- google_track
    Case("google-track-too-long",
         {"c.yaml": NORMAL + "google_track:\n  campaign_name: " + "g" * 65 + "\n"},
         "c.yaml", 8, "google_track.campaign_name", "at most 64 characters"),
    Case("google-track-typo",
         {"c.yaml": NORMAL + "google_track:\n  campaign_nam: q3\n"},
         "c.yaml", 8, "google_track.campaign_nam", "did you mean 'campaign_name'?"),
    # --- warm_up
    Case("warm-up-too-many",
         {"c.yaml": NORMAL + "warm_up:\n" + "".join(
             f"  - {{domain: d{i}.com, rate: 1, upgrade_value: 1, downgrade_value: 1}}\n"
             for i in range(21))},
         "c.yaml", 7, "warm_up", "at most 20 items"),
    Case("warm-up-zero",
         {"c.yaml": NORMAL
          + "warm_up:\n  - {domain: g.com, rate: 1, upgrade_value: 0, downgrade_value: 1}\n"},
         "c.yaml", 8, "warm_up[0].upgrade_value", "greater than 0"),
    Case("warm-up-over-one",
         {"c.yaml": NORMAL
          + "warm_up:\n  - domain: g.com\n    rate: 1\n    upgrade_value: 1\n"
          + "    downgrade_value: '1.5'\n"},
         "c.yaml", 11, "warm_up[0].downgrade_value", "less than or equal to 1"),
    # --- send_time, time_zone
    Case("send-time-format",
         {"c.yaml": replace(NORMAL, '"2030-01-01 10:00:00"', "next tuesday")},
         "c.yaml", 6, "send_time", "YYYY-MM-DD HH:MM:SS"),
    Case("time-zone-range", {"c.yaml": NORMAL + "time_zone: '+25'\n"},
         "c.yaml", 7, "time_zone", "between -12 and +14"),
    # --- unknown keys, kinds
    Case("unknown-key", {"c.yaml": NORMAL + "subjet: Hi\n"},
         "c.yaml", 7, "subjet", "did you mean 'subject'?"),
    Case("unknown-kind", {"c.yaml": "kind: EmailCampain\n" + NORMAL},
         "c.yaml", 1, "kind", "did you mean 'EmailCampaign'?"),
    # --- lifecycle
    Case("lifecycle-unknown-field",
         {"c.yaml": NORMAL + "lifecycle:\n  ignore_changes: [reply_to, subjcet]\n"},
         "c.yaml", 8, "lifecycle.ignore_changes[1]", "did you mean 'subject'?"),
    # --- MessagingCampaign
    Case("messaging-needs-channel",
         {"c.yaml": replace(MESSAGING, "channel_type: whatsapp\n", "")},
         "c.yaml", 1, "channel_type", "required field is missing"),
    Case("touchpoint-duplicate-name",
         {"c.yaml": replace(MESSAGING, "{name: Two, type: action}", "{name: One, type: action}")},
         "c.yaml", 6, "touchpoints[1].name", "duplicate touchpoint name 'One'"),
    Case("touchpoint-bad-type",
         {"c.yaml": replace(MESSAGING, "{name: Two, type: action}", "{name: Two, type: sms}")},
         "c.yaml", 6, "touchpoints[1].type", "'message' or 'action'"),
    Case("touchpoint-empty-message",
         {"c.yaml": replace(MESSAGING, "message: hi", 'message: "  "')},
         "c.yaml", 5, "touchpoints[0].message", "non-empty message"),
    Case("touchpoint-empty-name",
         {"c.yaml": replace(MESSAGING, "{name: Two,", '{name: "",')},
         "c.yaml", 6, "touchpoints[1].name", "at least 1 character"),
    # --- attachments
    Case("attachment-missing-file",
         {"c.yaml": NORMAL + "attachments:\n  - path: files/nope.pdf\n"},
         "c.yaml", 8, "attachments[0].path", "not found"),
    Case("attachment-absolute",
         {"c.yaml": NORMAL + "attachments:\n  - path: /etc/passwd\n"},
         "c.yaml", 8, "attachments[0].path", "not absolute"),
    Case("attachment-dotdot-escape",
         {"sub/c.yaml": NORMAL + "attachments:\n  - path: ../../outside.txt\n"},
         "sub/c.yaml", 8, "attachments[0].path", "leaves the config directory"),
    Case("attachment-symlink-escape",
         {"c.yaml": NORMAL + "attachments:\n  - {path: files/link.txt}\n"},
         "c.yaml", 8, "attachments[0].path", "outside the config directory",
         symlinks={"files/link.txt": "/etc/hostname"}),
    Case("attachments-too-many",
         {"c.yaml": NORMAL + "attachments:\n" + "".join(
             f"  - {{path: f.txt, filename: f{i}.txt}}\n" for i in range(11)), "f.txt": "x"},
         "c.yaml", 7, "attachments", "at most 10 items"),
    Case("attachments-over-10mb",
         {"c.yaml": NORMAL + "attachments:\n  - path: a.bin\n  - path: b.bin\n"},
         "c.yaml", 7, "attachments", "at most 10 MB",
         sparse={"a.bin": 6 * 1024 * 1024, "b.bin": 6 * 1024 * 1024}),
    Case("attachment-duplicate-filename",
         {"c.yaml": NORMAL + "attachments:\n  - {path: f.txt}\n  - {path: g/f.txt}\n",
          "f.txt": "x", "g/f.txt": "y"},
         "c.yaml", 9, "attachments[1]", "duplicate attachment filename 'f.txt'"),
    # --- YAML itself
    Case("malformed-flow", {"c.yaml": NORMAL + "warm_up: [1, 2\n"},
         "c.yaml", 8, "", "invalid YAML"),
    Case("malformed-tab-indent", {"c.yaml": NORMAL + "google_track:\n\tcampaign_name: x\n"},
         "c.yaml", 8, "", "a tab in indentation at line 8: YAML indents with spaces"),
    Case("malformed-unclosed-quote", {"c.yaml": 'name: "Base\n'},
         "c.yaml", 2, "", "invalid YAML"),
    Case("duplicate-key", {"c.yaml": NORMAL + "name: Again\n"},
         "c.yaml", 7, "name", "duplicate key 'name' (first at line 1)"),
    Case("non-string-key", {"c.yaml": NORMAL + "? [a, b]\n: x\n"},
         "c.yaml", 7, "", "keys must be plain strings"),
    Case("python-object-tag",
         {"c.yaml": NORMAL + "subject: !!python/object/apply:os.system [echo pwned]\n"},
         "c.yaml", 7, "subject", "tag !!python/object/apply:os.system is not allowed"),
    Case("custom-tag", {"c.yaml": NORMAL + "subject: !secret x\n"},
         "c.yaml", 7, "subject", "tag !secret is not allowed"),
    Case("binary-tag", {"c.yaml": NORMAL + "subject: !!binary aGk=\n"},
         "c.yaml", 7, "subject", "tag !!binary is not allowed"),
    Case("billion-laughs", {"c.yaml": BILLION_LAUGHS},
         "c.yaml", 1, "", "alias expansion"),
    Case("self-referencing-alias", {"c.yaml": "name: &a [*a]\n"},
         "c.yaml", 1, "name", "nesting deeper than"),
    Case("deep-flow-nesting", {"c.yaml": "name: " + "[" * 100_000 + "]" * 100_000 + "\n"},
         "c.yaml", 1, "", "nesting deeper than"),
    Case("oversize-file", {"c.yaml": NORMAL + "# " + "x" * MAX_FILE_BYTES + "\n"},
         "c.yaml", 1, "", "the limit is 1048576"),
    Case("not-utf8", {"c.yaml": NORMAL.encode() + b"subject: caf\xe9\n"},
         "c.yaml", 7, "", "not valid UTF-8"),
    Case("document-is-a-list", {"c.yaml": "- name: a\n- name: b\n"},
         "c.yaml", 1, "", "must be a mapping, found a list"),
    Case("empty-file", {"c.yaml": ""}, "c.yaml", 1, "", "file holds no campaign document"),
    Case("comments-only-file", {"c.yaml": "# nothing yet\n"},
         "c.yaml", 1, "", "file holds no campaign document"),
    Case("no-campaigns-in-directory", {"_defaults.yaml": "time_zone: 8\n", "notes.txt": "x"},
         "", 1, "", "no campaigns found"),
    # --- across files
    Case("duplicate-names",
         {"a.yaml": NORMAL, "sub/b.yaml": "# again\n" + NORMAL},
         "sub/b.yaml", 2, "name", "duplicate EmailCampaign name 'Base': also declared at "),
    Case("yaml-symlink-escape", {}, "c.yaml", 1, "", "symlink to a file outside",
         symlinks={"c.yaml": "/etc/hostname"}),
    Case("yaml-broken-symlink", {"a.yaml": NORMAL}, "c.yaml", 1, "", "not a regular file",
         symlinks={"c.yaml": "missing.yaml"}),
    # --- _defaults.yaml
    Case("defaults-unknown-key", {"_defaults.yaml": "time_zone: 8\nreply_too: x\n",
                                  "c.yaml": NORMAL},
         "_defaults.yaml", 2, "reply_too", "did you mean 'reply_to'?"),
    Case("defaults-bad-value-points-at-defaults",
         {"_defaults.yaml": "# shared\ngoogle_track:\n  campaign_source: " + "s" * 70 + "\n",
          "sub/c.yaml": NORMAL},
         "_defaults.yaml", 3, "google_track.campaign_source", "at most 64 characters"),
    Case("defaults-name", {"_defaults.yaml": "name: Everyone\n", "c.yaml": NORMAL},
         "_defaults.yaml", 1, "name", "name cannot have a default"),
]
# fmt: on


def write_tree(root: Path, case: Case) -> None:
    for rel, content in case.files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    for rel, target in case.symlinks.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)
    for rel, size in case.sparse.items():
        with open(root / rel, "wb") as handle:
            handle.truncate(size)


def validate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(["validate", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_at_least_thirty_cases() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "conf"
    root.mkdir()
    (tmp_path / "outside.txt").write_text("secret")
    write_tree(root, case)
    code, out, err = validate(capsys, str(root))
    assert code == 1, out + err
    assert "Traceback" not in out + err
    where = f"{root / case.file if case.file else root}:{case.line}:"
    lines = [line for line in err.splitlines() if where in line and case.message in line]
    assert lines, f"expected {where} ... {case.message!r} in:\n{err}"
    if case.field:
        assert any(f": {case.field}: " in line for line in lines), err
    assert "errors.pydantic.dev" not in err


def test_bad_input_columns_are_one_based(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(replace(AB_SUBJECTS, "percent: 20", "percent: 0"))
    with pytest.raises(ConfigError) as caught:
        load_directory(tmp_path)
    (issue,) = caught.value.issues
    assert (issue.line, issue.column, issue.field_path) == (7, 12, "ab_test.percent")


def test_billion_laughs_fails_fast(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(BILLION_LAUGHS)
    with pytest.raises(ConfigError) as caught:
        load_directory(tmp_path)
    # Stopped by counting the values it built, not by running out of time or memory.
    (issue,) = caught.value.issues
    assert f"more than {MAX_NODES_PER_FILE} values after alias expansion" in issue.message


def test_all_errors_of_a_run_are_reported_sorted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "b.yaml").write_text(
        NORMAL + "subjet: x\n---\n" + replace(NORMAL, "Base", "B2") + "time_zone: 99\n"
    )
    (tmp_path / "a.yaml").write_text(replace(NORMAL, "type: normal", "type: weekly"))
    code, _, err = validate(capsys, str(tmp_path))
    assert code == 1
    issues = [line for line in err.splitlines() if line.startswith("error: ") and ".yaml:" in line]
    assert [line.split(": ")[1] for line in issues] == [
        f"{tmp_path}/a.yaml:2:16",
        f"{tmp_path}/b.yaml:7:1",
        f"{tmp_path}/b.yaml:15:12",
    ]
    assert err.rstrip().splitlines()[-2] == "error: 3 errors in the configuration"


def test_missing_directory_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = validate(capsys, str(tmp_path / "nope"))
    assert code == 1
    assert f"error: {tmp_path / 'nope'}: config directory does not exist\n" in err
    assert "Traceback" not in err


# --------------------------------------------------------------------------- valid inputs


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_examples_in_the_repository_are_valid() -> None:
    examples = Path(__file__).resolve().parent.parent / "campaigns.d"
    result = load_directory(examples)
    kinds = sorted(c.kind for c in result.campaigns)
    assert kinds.count("EmailCampaign") >= 4
    assert kinds.count("MessagingCampaign") >= 1
    assert result.warnings == ()
    by_name = {c.name: c.canonical() for c in result.campaigns}
    assert any("attachments" in c and "warm_up" in c for c in by_name.values())
    dimensions = {d for c in by_name.values() for d in c.get("ab_test", {})}
    assert {"subjects", "template_invoke_names"} <= dimensions
    journeys = [c for c in by_name.values() if c["kind"] == "MessagingCampaign"]
    assert any(len(c["touchpoints"]) == 3 for c in journeys)


def test_several_documents_per_file_and_recursive_walk(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "a.yaml": NORMAL + "---\n" + MESSAGING + "---\n",
            "deep/er/b.yml": replace(NORMAL, "Base", "Deep"),
            "notes/_draft.yaml": "not: [a campaign",
            ".hidden/c.yaml": "garbage: [",
        },
    )
    result = load_directory(tmp_path)
    assert sorted(c.key for c in result.campaigns) == [
        ("EmailCampaign", "Base"),
        ("EmailCampaign", "Deep"),
        ("MessagingCampaign", "Journey"),
    ]
    journey = next(c for c in result.campaigns if c.kind == "MessagingCampaign")
    assert (journey.source.file, journey.source.line) == (str(tmp_path / "a.yaml"), 8)


def test_defaults_merge_deep_nearer_wins_campaign_wins(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "_defaults.yaml": "time_zone: 2\nreply_to: top@example.com\n"
            "google_track: {campaign_source: top, campaign_medium: email}\n"
            "---\nkind: MessagingCampaign\nchannel_type: email\n",
            "team/_defaults.yaml": "reply_to: team@example.com\n"
            "google_track: {campaign_source: team}\n",
            "team/c.yaml": NORMAL
            + "google_track: {campaign_name: mine}\n"
            + "---\n"
            + replace(MESSAGING, "channel_type: whatsapp\n", ""),
            "other.yaml": replace(NORMAL, "Base", "Other") + "time_zone: 5\n",
        },
    )
    result = load_directory(tmp_path)
    by_name = {c.name: c.canonical() for c in result.campaigns}
    base = by_name["Base"]
    assert base["time_zone"] == 2
    assert base["reply_to"] == "team@example.com"
    assert base["google_track"] == {
        "campaign_name": "mine",
        "campaign_source": "team",
        "campaign_medium": "email",
    }
    assert by_name["Other"]["time_zone"] == 5
    assert by_name["Other"]["reply_to"] == "top@example.com"
    assert by_name["Journey"]["channel_type"] == "email"


def test_defaults_of_other_kind_do_not_apply(tmp_path: Path) -> None:
    write(tmp_path, {"_defaults.yaml": "reply_to: x@example.com\n", "m.yaml": MESSAGING})
    (campaign,) = load_directory(tmp_path).campaigns
    assert campaign.canonical()["channel_type"] == "whatsapp"


def test_attachment_resolved_relative_to_its_yaml(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "team/c.yaml": NORMAL
            + "attachments:\n  - {path: ../files/t.txt, filename: terms.txt}\n",
            "files/t.txt": "terms",
        },
    )
    (campaign,) = load_directory(tmp_path).campaigns
    (attachment,) = campaign.canonical()["attachments"]
    assert attachment["filename"] == "terms.txt"
    assert attachment["path"] == str((tmp_path / "files/t.txt").resolve())
    assert attachment["sha256"] == hashlib.sha256(b"terms").hexdigest()


def test_attachment_symlink_inside_is_fine(tmp_path: Path) -> None:
    write(tmp_path, {"c.yaml": NORMAL + "attachments: [{path: link.txt}]\n", "real.txt": "r"})
    os.symlink(tmp_path / "real.txt", tmp_path / "link.txt")
    (campaign,) = load_directory(tmp_path).campaigns
    assert campaign.canonical()["attachments"][0]["filename"] == "link.txt"


def test_yaml_merge_keys_and_anchors(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "c.yaml": "name: M\n<<: {campaign_type: normal, sender_id: 7}\n"
            "sender_id: 8\nto: {type: tag, value: [x]}\n"
            "template_invoke_name: t\n"
        },
    )
    (campaign,) = load_directory(tmp_path).campaigns
    assert campaign.canonical()["sender_id"] == "8"
    assert campaign.canonical()["campaign_type"] == "normal"


def test_unquoted_timestamp_and_variants_are_canonical(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "c.yaml": "name: V\ncampaign_type: 2\nto: [{type: tag, value: x}]\n"
            "sender_id: 0x10\ntemplate_invoke_name: t\ntime_zone: '+1'\n"
            "send_time: 2030-01-01T10:00:00+08:00\n"
        },
    )
    canonical = load_directory(tmp_path).campaigns[0].canonical()
    assert canonical["campaign_type"] == "normal"
    assert canonical["to"] == {"type": "tag", "value": ["x"]}
    assert canonical["sender_id"] == "16"
    assert canonical["time_zone"] == 1
    assert canonical["send_time"] == "2030-01-01 03:00:00"


def test_past_send_time_is_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, {"c.yaml": replace(NORMAL, "2030-01-01", "2020-01-01")})
    result = load_directory(tmp_path)
    (warning,) = result.warnings
    assert (warning.severity, warning.line, warning.field_path) == ("warning", 6, "send_time")
    code, out, err = validate(capsys, str(tmp_path))
    assert code == 0
    assert f"warning: {tmp_path}/c.yaml:6:12: send_time: 2020-01-01 10:00:00 is in the past" in err
    assert "1 campaign valid" in out


def test_allow_empty(tmp_path: Path) -> None:
    assert load_directory(tmp_path, allow_empty=True).campaigns == ()
    with pytest.raises(ConfigError, match="1 error"):
        load_directory(tmp_path)


def test_examples_are_created_on_the_sandbox(
    sandbox_env: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    examples = str(Path(__file__).resolve().parent.parent / "campaigns.d")
    state = str(tmp_path / "state.json")
    assert run(["--state", state, "apply", examples, "--auto-approve"]) == 0
    out = capsys.readouterr().out
    assert "Apply complete: 6 created, 0 updated, 0 deleted, 0 blocked, 0 failed." in out
    assert run(["--state", state, "plan", examples, "--detailed-exitcode"]) == 0


def test_pure_python_fallback_gives_the_same_result(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without ruamel.yaml.clib the pure-Python composer is used: same models, same positions."""
    from reconciler.loader import yaml_values

    examples = Path(__file__).resolve().parent.parent / "campaigns.d"
    fast = [c.canonical() for c in load_directory(examples).campaigns]
    (tmp_path / "bad.yaml").write_text(
        replace(AB_SUBJECTS, "after_time: 18", "after_time: 24") + "x: !!python/name:os.system\n"
    )
    with pytest.raises(ConfigError) as fast_error:
        load_directory(tmp_path)
    monkeypatch.setattr(yaml_values, "_CLoader", None)
    assert [c.canonical() for c in load_directory(examples).campaigns] == fast
    with pytest.raises(ConfigError) as slow_error:
        load_directory(tmp_path)
    assert [str(i) for i in slow_error.value.issues] == [str(i) for i in fast_error.value.issues]


FIELDS = [
    "kind", "name", "campaign_type", "to", "type", "value", "sender_id", "template_invoke_name",
    "subject", "reply_to", "send_time", "time_zone", "attachments", "path", "filename",
    "google_track", "campaign_name", "warm_up", "domain", "rate", "upgrade_value",
    "downgrade_value", "ab_test", "percent", "win_condition", "time_unit", "after_time",
    "compare", "subjects", "sender_ids", "send_times", "template_invoke_names", "lifecycle",
    "ignore_changes", "prevent_destroy", "channel_type", "touchpoints", "message", "text",
]  # fmt: skip
yaml_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["normal", "ab", "tag", "hour", "day", "2030-01-01 10:00:00", "+8", "x"])
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(FIELDS), inner),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(FIELDS), yaml_values, max_size=8))
def test_any_document_loads_or_fails_with_positions(document: dict[str, object]) -> None:
    """Whatever the document holds, loading gives models or ConfigError issues: nothing else."""
    import json

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.yaml"
        path.write_text(json.dumps(document))  # JSON is YAML
        try:
            load_directory(Path(tmp))
        except ConfigError as error:
            assert error.issues
            assert all(i.file == str(path) and i.line >= 1 and i.column >= 1 for i in error.issues)
