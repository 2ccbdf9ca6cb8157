"""`campaignctl drift` against the sandbox: each kind of drift, exit codes, formats."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import run_cli

from reconciler.sandbox import Sandbox

REPO = Path(__file__).resolve().parents[1]


cli = run_cli


def drift_json(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code, out, err = cli(capsys, "drift", "--format", "json")
    assert code in (0, 2), err
    return code, json.loads(out)


@pytest.fixture
def managed(
    sandbox_env: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> dict[str, Any]:
    """Three email campaigns and one journey, imported: state and YAML match live."""
    monkeypatch.chdir(tmp_path)
    email_ids = sandbox_env.seed_email_campaigns(3, name_prefix="Promo ", reply_to="a@example.com")
    journey_ids = sandbox_env.seed_touchpoint_campaigns(1, touchpoints=2, name_prefix="Journey ")
    code, _, err = cli(capsys, "import")
    assert code == 0, err
    return {"email": email_ids, "journey": journey_ids}


def test_no_drift_right_after_import(
    managed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "drift")
    assert code == 0
    assert "No drift: 4 managed campaigns match the last apply." in out


def test_field_edited_in_the_vendor_ui(
    sandbox_env: Sandbox, managed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox_env.edit_email_campaign(managed["email"][0], reply_to="ui@example.com", time_zone="-5")
    code, report = drift_json(capsys)
    assert code == 2
    assert report["summary"] == {
        "fields_changed": 1,
        "deleted_remotely": 0,
        "status_changed": 0,
        "unmanaged": 0,
    }
    (item,) = report["drift"]
    assert (item["drift"], item["name"], item["remote_id"]) == (
        "fields_changed",
        "Promo 00001",
        str(managed["email"][0]),
    )
    assert {"path": ["reply_to"], "before": "a@example.com", "after": "ui@example.com"} in item[
        "changes"
    ]
    assert {"path": ["time_zone"], "before": 8, "after": -5} in item["changes"]


def test_campaign_deleted_through_the_api(
    sandbox_env: Sandbox, managed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    victim = managed["email"][1]
    reply = requests.delete(
        f"{sandbox_env.url}/v1/marketing/campaigns/{victim}",
        auth=(sandbox_env.api_user, sandbox_env.api_key),
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    code, report = drift_json(capsys)
    assert code == 2
    assert [(i["drift"], i["remote_id"]) for i in report["drift"]] == [
        ("deleted_remotely", str(victim))
    ]


def test_status_changed_since_the_last_apply(
    sandbox_env: Sandbox, managed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox_env.set_email_status(managed["email"][2], 2)
    sandbox_env.set_touchpoint_campaign_status(managed["journey"][0], "active")
    code, out, _ = cli(capsys, "drift")
    assert code == 2
    assert "status changed from 0 (waiting) to 2 (completed)" in out
    assert "status changed from draft to active" in out
    assert "Drift: 0 changed, 0 deleted remotely, 2 status changed, 0 unmanaged." in out


def test_unmanaged_campaign_created_directly(
    sandbox_env: Sandbox, managed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    body = {
        "name": "Made in the UI",
        "campaign_type": 2,
        "to": [{"type": "list", "value": ["all"]}],
        "sender_id": "1",
        "template_invoke_name": "t",
    }
    reply = requests.post(
        f"{sandbox_env.url}/v1/marketing/campaigns",
        json=body,
        auth=(sandbox_env.api_user, sandbox_env.api_key),
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    code, report = drift_json(capsys)
    assert code == 2
    assert [(i["drift"], i["name"]) for i in report["drift"]] == [("unmanaged", "Made in the UI")]


def test_touchpoint_removed_remotely(
    sandbox_env: Sandbox, managed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    first = sandbox_env.touchpoints(managed["journey"][0])[0]
    reply = requests.delete(
        f"{sandbox_env.url}/channel-service/v1/touchpoints/{first['_id']}",
        headers={"x-api-key": sandbox_env.imbrace_api_key},
        timeout=10,
    )
    assert reply.status_code == 200
    code, report = drift_json(capsys)
    assert code == 2
    (item,) = report["drift"]
    assert item["kind"] == "MessagingCampaign" and item["drift"] == "fields_changed"
    assert item["changes"][0]["path"][0] == "touchpoints"


def test_markdown_format(
    sandbox_env: Sandbox, managed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox_env.edit_email_campaign(managed["email"][0], reply_to="ui@example.com")
    code, out, _ = cli(capsys, "drift", "--format", "markdown")
    assert code == 2
    assert out.startswith("### campaignctl drift")
    assert "| fields_changed | EmailCampaign | Promo 00001 |" in out
    assert '+ reply_to: "ui@example.com"' in out


def test_lifecycle_ignore_changes_in_the_config_is_not_drift(
    sandbox_env: Sandbox,
    managed: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "campaigns.d" / "promo-00001.yaml"
    path.write_text(path.read_text() + "lifecycle:\n  ignore_changes: [reply_to]\n")
    sandbox_env.edit_email_campaign(managed["email"][0], reply_to="ui@example.com")
    assert cli(capsys, "drift")[0] == 0
    assert cli(capsys, "drift", str(tmp_path / "nowhere"))[0] == 1  # an explicit DIR must exist


def test_drift_needs_a_state_file(
    sandbox_env: Sandbox,
    tmp_path: Path,
    in_tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = cli(capsys, "drift")
    assert code == 1
    assert "no state file at state/default.json" in err
    code, _, err = cli(capsys, "--no-state", "drift")
    assert code == 1 and "--no-state" in err


def test_api_error_is_exit_1(
    sandbox_env: Sandbox,
    managed: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ENGAGELAB_API_KEY", "wrong-key")
    code, out, err = cli(capsys, "drift")
    assert code == 1
    assert err.startswith("error: ") and "Traceback" not in err
    assert "wrong-key" not in out + err


def test_usage_error_is_exit_1_not_2(
    managed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "drift", "--format", "yaml")[0] == 1


def test_drift_after_apply_of_the_example_config(
    sandbox_env: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shutil.copytree(REPO / "campaigns.d", tmp_path / "campaigns.d")
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, "apply", "--auto-approve")
    assert code == 0, out + err
    assert cli(capsys, "drift")[0] == 0
    by_name = {c["name"]: c["campaign_id"] for c in sandbox_env.email_campaigns()}
    sandbox_env.edit_email_campaign(by_name["Q3 Re-engagement"], reply_to="changed@example.com")
    # newsletter-template-test.yaml ignores reply_to (lifecycle): an edit there is no drift
    sandbox_env.edit_email_campaign(by_name["Newsletter layout test"], reply_to="ui@example.com")
    code, report = drift_json(capsys)
    assert code == 2, report
    assert [(i["drift"], i["name"]) for i in report["drift"]] == [
        ("fields_changed", "Q3 Re-engagement")
    ]


def test_refresh_reports_a_status_change_once(
    sandbox_env: Sandbox, managed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox_env.set_email_status(managed["email"][0], 2)
    sandbox_env.edit_email_campaign(managed["email"][1], reply_to="ui@example.com")
    code, out, err = cli(capsys, "drift", "--refresh")
    assert code == 2
    assert "status changed" in out
    assert "Recorded the live status of 1 campaign(s)" in err
    code, report = drift_json(capsys)
    assert code == 2  # the field edit is still drift: --refresh never accepts fields
    assert [i["drift"] for i in report["drift"]] == ["fields_changed"]


def test_drift_without_a_config_directory_warns_that_ignore_changes_are_unknown(
    sandbox_env: Sandbox,
    tmp_path: Path,
    in_tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "default.json").write_text(
        '{"campaigns": {}, "format_version": 1, "lineage": "l", "serial": 1}\n'
    )
    code, _, err = cli(capsys, "drift")
    assert code == 0
    assert "no config directory at campaigns.d" in err
