"""Issue 12, "a plain rerun converges, always": each class of run that did not converge.

- state that never catches up with a campaign that live and the YAML agree on (a UI change
  copied into the YAML; a run killed after its call and before its record): apply brings the
  record up to date in a state-only step, and drift is then clean;
- records of campaigns gone live and from the YAML (a run killed during its deletes): the
  rerun forgets them in a state-only step instead of warning forever;
- a field the vendor fills with a default, recorded and then left out of the YAML: no change;
- a send_time whose conversion leaves years 1..9999: a validation error with file, line and
  field, never an OverflowError;
- `import --out DIR` outside the config directory: never followed by a delete.

Everything runs against the real sandbox on loopback through the real CLI (in process).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import run_cli
from pydantic import SecretStr

from reconciler.canonical import canonical_send_time, hash_write_only
from reconciler.errors import InvalidResponse
from reconciler.live import EMAIL_KIND, MESSAGING_KIND, LiveCampaign, LiveTouchpoint
from reconciler.loader import load_directory
from reconciler.plan import ActionKind, Reason
from reconciler.planner import compute_plan
from reconciler.providers.engagelab.client import EmailProvider, decode_campaign
from reconciler.providers.vendors import VENDOR_DEFAULTS
from reconciler.sandbox import Sandbox
from reconciler.state import ManagedRecord, State, StateStore

CONFIG = Path("campaigns.d")
STATE = Path("state/default.json")

EMAIL_YAML = """\
kind: EmailCampaign
name: {name}
campaign_type: normal
to: {{type: list, value: [all]}}
sender_id: 53
template_invoke_name: tpl
reply_to: {reply_to}
"""

MESSAGING_YAML = """\
kind: MessagingCampaign
name: {name}
channel_type: {channel}
touchpoints:
  - name: hello
    type: message
    message: Hi there
  - name: act
    type: action
"""


def write(name: str, text: str) -> Path:
    CONFIG.mkdir(exist_ok=True)
    path = CONFIG / f"{name}.yaml"
    path.write_text(text)
    return path


def email_yaml(name: str, reply_to: str = "a@example.com", extra: str = "") -> str:
    return EMAIL_YAML.format(name=name, reply_to=reply_to) + extra


def email_id(sandbox: Sandbox, name: str) -> int:
    return next(int(c["campaign_id"]) for c in sandbox.email_campaigns() if c["name"] == name)


def delete_email_live(sandbox: Sandbox, campaign_id: int) -> None:
    """Delete out of band, as a killed run's delete (or the vendor's UI) would."""
    reply = requests.delete(
        f"{sandbox.url}/v1/marketing/campaigns/{campaign_id}",
        auth=(sandbox.api_user, sandbox.api_key),
        timeout=10,
    )
    assert reply.status_code == 200, reply.text


def plan_json(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code, out, err = run_cli(capsys, "plan", "--format", "json")
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def assert_converged(capsys: pytest.CaptureFixture[str]) -> None:
    """Plan empty (exit 0 with --detailed-exitcode) and drift clean (exit 0)."""
    code, out, err = run_cli(capsys, "plan", "--detailed-exitcode")
    assert code == 0, out + err
    code, out, err = run_cli(capsys, "drift", "--refresh")
    assert code == 0, out + err
    code, out, err = run_cli(capsys, "drift")
    assert code == 0, out + err


def apply(capsys: pytest.CaptureFixture[str]) -> str:
    code, out, err = run_cli(capsys, "apply", "--auto-approve")
    assert code == 0, out + err
    return out


# --------------------------------------------------------------------------- item 2


def test_a_ui_change_copied_into_the_yaml_is_recorded_by_apply_and_drift_is_then_clean(
    sandbox_env: Sandbox, in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write("news", email_yaml("News", "a@example.com"))
    apply(capsys)
    # A marketer changes reply_to in the vendor's UI; the team copies it into the YAML.
    sandbox_env.edit_email_campaign(email_id(sandbox_env, "News"), reply_to="b@example.com")
    write("news", email_yaml("News", "b@example.com"))

    code, out, _ = run_cli(capsys, "plan", "--detailed-exitcode")
    assert code == 2  # something for apply to do, though nothing is sent
    assert '= EmailCampaign "News"' in out
    assert "changed in the state only (nothing is sent) (record_outdated)" in out
    assert '~ reply_to: "a@example.com" -> "b@example.com"' in out
    assert "1 to change in the state only" in out

    writes = sandbox_env.request_count("PUT") + sandbox_env.request_count("POST")
    out = apply(capsys)
    assert "1 changed in the state only" in out
    assert sandbox_env.request_count("PUT") + sandbox_env.request_count("POST") == writes
    record = StateStore(STATE).read().get(EMAIL_KIND, "News")
    assert record is not None and record.last_applied["reply_to"] == "b@example.com"
    assert_converged(capsys)


def test_a_messaging_record_older_than_live_and_yaml_is_brought_up_to_date(
    sandbox_env: Sandbox, in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write("journey", MESSAGING_YAML.format(name="Journey", channel="whatsapp"))
    apply(capsys)
    (campaign,) = sandbox_env.touchpoint_campaigns()
    sandbox_env.edit_touchpoint_campaign(campaign["_id"], channel_type="email")
    write("journey", MESSAGING_YAML.format(name="Journey", channel="email"))

    action = next(a for a in plan_json(capsys)["actions"] if a["name"] == "Journey")
    assert (action["action"], action["reason"]) == ("state-only", "record_outdated")
    apply(capsys)
    record = StateStore(STATE).read().get(MESSAGING_KIND, "Journey")
    assert record is not None and record.last_applied["channel_type"] == "email"
    assert record.remote_id == campaign["_id"]  # not replaced: nothing was sent
    assert len(sandbox_env.touchpoints()) == 2
    assert_converged(capsys)


def test_a_record_with_a_stale_touchpoint_entry_catches_up_with_live() -> None:
    """A touchpoint gone live and from the YAML but still in the record: drift said so forever."""
    desired = _loaded_messaging(["hello"])
    live = LiveCampaign(
        kind=MESSAGING_KIND,
        remote_id="c1",
        name="J",
        status="draft",
        fields={"kind": MESSAGING_KIND, "name": "J", "channel_type": "whatsapp"},
        touchpoints=(LiveTouchpoint("t1", "hello", "message"),),
    )
    last = hash_write_only(desired[0].canonical())
    last["touchpoints"] = [*last["touchpoints"], {"name": "old", "type": "action"}]
    state = State(lineage="l", serial=1)
    state.put(
        ManagedRecord(
            kind=MESSAGING_KIND,
            name="J",
            remote_id="c1",
            last_applied=last,
            live_fingerprint=None,
            status="draft",
            touchpoint_ids={"hello": "t1", "old": "t2"},
        )
    )
    (action,) = compute_plan(desired, state, [live]).actions
    assert (action.action, action.reason) == (ActionKind.STATE_ONLY, Reason.RECORD_OUTDATED)
    paths = {c.path for c in action.changes}
    assert ("touchpoints",) in paths and ("touchpoint_ids", "old") in paths


def _loaded_messaging(names: list[str]) -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        tps = "".join(f"  - name: {n}\n    type: message\n    message: hi {n}\n" for n in names)
        text = f"kind: MessagingCampaign\nname: J\nchannel_type: whatsapp\ntouchpoints:\n{tps}"
        (Path(tmp) / "j.yaml").write_text(text)
        return load_directory(Path(tmp)).campaigns


# --------------------------------------------------------------------------- item 3


def test_a_record_of_a_campaign_gone_live_and_from_the_yaml_is_forgotten_by_the_rerun(
    sandbox_env: Sandbox, in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write("keep", email_yaml("Keep"))
    gone = write("gone", email_yaml("Gone"))
    apply(capsys)
    # What a run killed between its DELETE and its record leaves: gone live, in the state.
    gone.unlink()
    delete_email_live(sandbox_env, email_id(sandbox_env, "Gone"))

    code, out, err = run_cli(capsys, "plan", "--detailed-exitcode")
    assert code == 2
    assert '= EmailCampaign "Gone"' in out and "(forget_deleted)" in out
    assert "state rm" not in out + err
    deletes = sandbox_env.request_count("DELETE")
    out = apply(capsys)
    assert "1 changed in the state only" in out
    assert sandbox_env.request_count("DELETE") == deletes
    state = StateStore(STATE).read()
    assert state.get(EMAIL_KIND, "Gone") is None
    assert state.get(EMAIL_KIND, "Keep") is not None
    assert_converged(capsys)


# --------------------------------------------------------------------------- item 4


def test_a_vendor_default_left_out_of_the_yaml_after_an_apply_is_no_change(
    sandbox_env: Sandbox, in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write("news", email_yaml("News", extra="time_zone: 8\n"))
    apply(capsys)
    write("news", email_yaml("News"))  # time_zone left out: the vendor's +8 stays
    code, out, _ = run_cli(capsys, "plan", "--detailed-exitcode")
    assert "cleared" not in out
    assert code == 0, out
    code, out, _ = run_cli(capsys, "drift")
    assert code == 0, out


def test_an_imported_default_left_out_of_the_yaml_is_no_change(
    sandbox_env: Sandbox, in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox_env.seed_email_campaigns(1, name_prefix="Seeded ")
    code, out, err = run_cli(capsys, "import")
    assert code == 0, out + err
    (path,) = CONFIG.glob("*.yaml")
    text = path.read_text()
    assert "time_zone: 8\n" in text
    path.write_text(text.replace("time_zone: 8\n", ""))
    code, out, _ = run_cli(capsys, "plan", "--detailed-exitcode")
    assert "cleared" not in out
    assert code == 0, out


def test_explicit_default_against_a_live_campaign_without_it_is_no_change() -> None:
    (campaign,) = _loaded_email("time_zone: 8\n")
    fields = {k: v for k, v in campaign.canonical().items() if k != "time_zone"}
    live = LiveCampaign(EMAIL_KIND, "1", "News", 0, fields)
    (action,) = compute_plan([campaign], None, [live]).actions
    assert action.action == ActionKind.NO_OP


def _loaded_email(extra: str) -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "n.yaml").write_text(email_yaml("News", extra=extra))
        return load_directory(Path(tmp)).campaigns


def _fills(sent: Mapping[str, Any], live: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in live.items() if k not in sent}


def test_vendor_defaults_table_names_every_field_the_apis_fill_in(
    sandbox_env: Sandbox, in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Minimal campaigns of every type: whatever live holds that was not sent is in the table."""
    ab = (
        "kind: EmailCampaign\nname: AB\ncampaign_type: ab\nto: {type: tag, value: [x]}\n"
        "sender_id: 5\ntemplate_invoke_name: t\nab_test:\n  percent: 10\n"
        "  win_condition: {time_unit: hour, after_time: 1, compare: open_percent}\n"
        "  subjects: [a, b]\n"
    )
    normal = (
        "kind: EmailCampaign\nname: N\ncampaign_type: normal\nto: {type: tag, value: [x]}\n"
        "sender_id: 5\ntemplate_invoke_name: t\n"
    )
    write("ab", ab)
    write("n", normal)
    write("j", MESSAGING_YAML.format(name="J", channel="sms"))
    apply(capsys)
    desired = {c.key: c.canonical() for c in load_directory(CONFIG).campaigns}
    email = EmailProvider(sandbox_env.url, sandbox_env.api_user, SecretStr(sandbox_env.api_key))
    try:
        live = {c.key: c for c in email.list_campaigns()}
    finally:
        email.close()
    for key in ((EMAIL_KIND, "AB"), (EMAIL_KIND, "N")):
        filled = _fills(desired[key], live[key].fields)
        assert filled == dict(VENDOR_DEFAULTS[EMAIL_KIND]), key
    # Touchpoint campaigns: the API fills in nothing that a plan diffs.
    assert dict(VENDOR_DEFAULTS[MESSAGING_KIND]) == {}
    (journey,) = sandbox_env.touchpoint_campaigns()
    assert journey["channel_type"] == "sms"
    assert [(t["name"], t["type"]) for t in sandbox_env.touchpoints()] == [
        ("hello", "message"),
        ("act", "action"),
    ]


# --------------------------------------------------------------------------- item 11


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('send_time: "9999-12-31T23:00:00-1200"\ntime_zone: 14\n', "send_time"),
        ("send_time: 9999-12-31 23:00:00-12:00\ntime_zone: 14\n", "send_time"),
        ('send_time: "0001-01-01T00:00:00+1400"\ntime_zone: -12\n', "send_time"),
    ],
)
def test_a_send_time_out_of_range_once_converted_is_a_validation_error(
    line: str, field: str, in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write("far", email_yaml("Far", extra=line))
    code, _, err = run_cli(capsys, "validate", str(CONFIG))
    assert code == 1
    assert "internal" not in err and "Overflow" not in err and "Traceback" not in err
    assert f"{CONFIG / 'far.yaml'}:8:12: {field}: " in err
    assert "out of range" in err


def test_an_ab_send_time_out_of_range_names_its_list_item(
    in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        "ab",
        "kind: EmailCampaign\nname: AB\ncampaign_type: ab\nto: {type: tag, value: [x]}\n"
        "time_zone: 14\nab_test:\n  percent: 10\n"
        "  win_condition: {time_unit: hour, after_time: 1, compare: open_percent}\n"
        '  send_times: ["2027-01-01 10:00:00", "9999-12-31T23:00:00-1200"]\n',
    )
    code, _, err = run_cli(capsys, "validate", str(CONFIG))
    assert code == 1
    assert f"{CONFIG / 'ab.yaml'}:9:" in err
    assert "ab_test.send_times[1]: " in err and "out of range" in err
    assert "internal" not in err


def test_a_converted_send_time_keeps_a_four_digit_year() -> None:
    # Converted by the difference of the offsets: no detour through an unrepresentable UTC.
    assert canonical_send_time("0001-01-01T01:00:00+1400", 14) == "0001-01-01 01:00:00"
    assert canonical_send_time("0001-01-02T00:00:00+0000", 8) == "0001-01-02 08:00:00"


def test_a_live_run_time_out_of_range_is_an_invalid_response_naming_the_field() -> None:
    raw = {
        "campaign_id": 7,
        "campaign_type": 2,
        "name": "Far",
        "to": [{"type": "list", "value": ["all"]}],
        "status": 0,
        "time_zone": "+14",
        "run_time": "9999-12-31T23:00:00-1200",
    }
    with pytest.raises(InvalidResponse, match="campaign 7: field send_time"):
        decode_campaign(raw)


# --------------------------------------------------------------------------- item 1


def test_import_out_of_the_config_dir_is_never_followed_by_a_delete(
    sandbox_env: Sandbox, in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox_env.seed_email_campaigns(2, name_prefix="Live ")
    write("mine", email_yaml("Mine"))
    apply(capsys)  # a team that already manages a campaign (so the safety rule is quiet)

    code, out, err = run_cli(capsys, "import", "--out", "imported")
    assert code == 0, out + err
    assert len(list(Path("imported").glob("*.yaml"))) == 2
    assert "not recorded in the state" in err and "Move the files into campaigns.d" in err
    assert "State:" not in out
    assert {r.name for r in StateStore(STATE).read().records()} == {"Mine"}

    deletes = sandbox_env.request_count("DELETE")
    code, out, err = run_cli(capsys, "apply", "--auto-approve")
    assert code == 0, out + err
    assert sandbox_env.request_count("DELETE") == deletes
    assert {c["name"] for c in sandbox_env.email_campaigns()} == {
        "Live 00001",
        "Live 00002",
        "Mine",
    }

    # Moved into the config directory, they are adopted by name: managed, nothing sent.
    for path in Path("imported").glob("*.yaml"):
        path.rename(CONFIG / path.name)
    writes = sum(sandbox_env.request_count(m) for m in ("POST", "PUT", "DELETE"))
    apply(capsys)
    assert sum(sandbox_env.request_count(m) for m in ("POST", "PUT", "DELETE")) == writes
    names = {r.name for r in StateStore(STATE).read().records()}
    assert names == {"Live 00001", "Live 00002", "Mine"}
    assert_converged(capsys)


def test_import_into_the_config_dir_still_records_the_campaigns(
    sandbox_env: Sandbox, in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox_env.seed_email_campaigns(1, name_prefix="Live ")
    code, out, err = run_cli(capsys, "import", "--out", "campaigns.d/imported")
    assert code == 0, out + err
    assert "State: state/default.json" in out and "not recorded" not in err
    assert [r.name for r in StateStore(STATE).read().records()] == ["Live 00001"]
    assert_converged(capsys)


def test_a_saved_plan_with_state_only_steps_applies_and_is_not_stale(
    sandbox_env: Sandbox, in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write("keep", email_yaml("Keep"))
    gone = write("gone", email_yaml("Gone"))
    apply(capsys)
    gone.unlink()
    delete_email_live(sandbox_env, email_id(sandbox_env, "Gone"))
    sandbox_env.edit_email_campaign(email_id(sandbox_env, "Keep"), reply_to="b@example.com")
    write("keep", email_yaml("Keep", "b@example.com"))
    code, out, err = run_cli(capsys, "plan", "--out", "plan.json")
    assert code == 0, out + err
    code, out, err = run_cli(capsys, "apply", "plan.json", "--auto-approve")
    assert code == 0, out + err
    assert "2 changed in the state only" in out
    assert_converged(capsys)
