"""`campaignctl import` against the sandbox: files, state records, and an empty plan after."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import run_cli

from reconciler.importer import PLACEHOLDER
from reconciler.sandbox import Sandbox
from reconciler.state import StateStore

WIN = {"time_unit": "hour", "after_time": 18, "compare": "open_percent"}


cli = run_cli


def add_touchpoint(sandbox: Sandbox, campaign_id: str, name: str, kind: str) -> None:
    body: dict[str, Any] = {"name": name, "type": kind, "campaign_id": campaign_id}
    if kind == "message":
        body["message"] = {"text": f"text of {name}"}
    reply = requests.post(
        f"{sandbox.url}/channel-service/v1/touchpoints",
        json=body,
        headers={"x-api-key": sandbox.imbrace_api_key},
        timeout=10,
    )
    assert reply.status_code == 201, reply.text


def seed_mixed(sandbox: Sandbox) -> int:
    """250 campaigns: normal email in variants, A/B of each dimension, messaging journeys."""
    count = 0
    count += len(sandbox.seed_email_campaigns(60, name_prefix="Newsletter "))
    count += len(
        sandbox.seed_email_campaigns(
            40,
            name_prefix="Scheduled ",
            reply_to="support@example.com",
            send_time="2027-01-15T09:30:00+0800",
            time_zone="+8",
            google_track={"campaign_source": "newsletter", "campaign_medium": ""},
            warm_up=[
                {
                    "domain": "gmail.com",
                    "rate": 1,
                    "upgrade_value": "0.95",
                    "downgrade_value": "0.75",
                }
            ],
        )
    )
    count += len(
        sandbox.seed_email_campaigns(
            20, name_prefix="NYC ", time_zone=-5, send_time="2027-02-01 08:00:00", sender_id="77"
        )
    )
    ab = {"campaign_type": 1}
    count += len(
        sandbox.seed_email_campaigns(
            20,
            name_prefix="AB subjects ",
            **ab,
            ab_test={"percent": 20, "win_condition": WIN, "subjects": ["A", "B"]},
        )
    )
    count += len(
        sandbox.seed_email_campaigns(
            15,
            name_prefix="AB senders ",
            **ab,
            ab_test={"percent": 30, "win_condition": WIN, "sender_ids": ["1", "2"]},
        )
    )
    count += len(
        sandbox.seed_email_campaigns(
            15,
            name_prefix="AB templates ",
            **ab,
            subject="Real subject",
            ab_test={"percent": 10, "win_condition": WIN, "template_invoke_names": ["t_a", "t_b"]},
        )
    )
    journeys = sandbox.seed_touchpoint_campaigns(60, touchpoints=3, name_prefix="Journey ")
    for campaign_id in journeys[:10]:
        add_touchpoint(sandbox, campaign_id, "Tap the button", "action")
    count += len(journeys)
    count += len(
        sandbox.seed_touchpoint_campaigns(20, name_prefix="Empty journey ", channel_type="sms")
    )
    return count


def test_import_250_mixed_campaigns_then_plan_has_zero_changes(
    sandbox_env: Sandbox,
    tmp_path: Path,
    in_tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert seed_mixed(sandbox_env) == 250
    before = sandbox_env.request_count()
    code, out, err = cli(capsys, "import")
    assert code == 0, err
    # Paged lists only (email 2 pages, campaigns 1, touchpoints 2), never a request per
    # campaign, and no write: what keeps an import of hundreds fast, counted, not timed.
    assert sandbox_env.request_count() - before == sandbox_env.request_count("GET") == 5
    assert "Import complete: 250 imported, 0 already managed, 0 skipped, 0 failed." in out
    assert len(list((tmp_path / "campaigns.d").glob("*.yaml"))) == 250
    assert len(StateStore(tmp_path / "state" / "default.json").read().campaigns) == 250

    code, out, err = cli(capsys, "validate")
    assert code == 0, err
    code, out, err = cli(capsys, "plan", "--detailed-exitcode", "--format", "json")
    assert code == 0, out + err
    plan = json.loads(out)
    assert len(plan["actions"]) == 250
    assert {a["action"] for a in plan["actions"]} == {"no-op"}
    assert not any(a.get("reason") == "unmanaged" for a in plan["actions"])

    code, out, _ = cli(capsys, "drift")
    assert code == 0 and "No drift: 250 managed" in out


def test_second_import_changes_nothing(
    sandbox_env: Sandbox,
    tmp_path: Path,
    in_tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sandbox_env.seed_email_campaigns(3, name_prefix="Promo ")
    assert cli(capsys, "import")[0] == 0
    before = {p.name: p.read_text() for p in (tmp_path / "campaigns.d").iterdir()}
    serial = StateStore(tmp_path / "state" / "default.json").read().serial
    code, out, _ = cli(capsys, "import")
    assert code == 0
    assert "0 imported, 3 already managed" in out
    assert {p.name: p.read_text() for p in (tmp_path / "campaigns.d").iterdir()} == before
    assert StateStore(tmp_path / "state" / "default.json").read().serial == serial


def test_name_and_status_filters(
    sandbox_env: Sandbox,
    tmp_path: Path,
    in_tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ids = sandbox_env.seed_email_campaigns(3, name_prefix="Q3 promo ")
    sandbox_env.seed_email_campaigns(2, name_prefix="Q4 promo ")
    sandbox_env.set_email_status(ids[0], 2)
    code, out, _ = cli(capsys, "import", "--out", "only", "--name", "Q3*", "--status", "waiting")
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "only").iterdir()) == [
        "q3-promo-00002.yaml",
        "q3-promo-00003.yaml",
    ]
    assert "2 imported" in out


def test_existing_files_are_never_clobbered(
    sandbox_env: Sandbox,
    tmp_path: Path,
    in_tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sandbox_env.seed_email_campaigns(1, name_prefix="Promo ")
    config = tmp_path / "campaigns.d"
    config.mkdir()
    mine = (
        "name: Something else\ncampaign_type: normal\nto: {type: tag, value: [x]}\n"
        "sender_id: 1\ntemplate_invoke_name: t\n"
    )
    (config / "promo-00001.yaml").write_text(mine)
    code, out, err = cli(capsys, "import")
    assert code == 0, err
    assert (config / "promo-00001.yaml").read_text() == mine
    assert "-> campaigns.d/promo-00001-2.yaml" in out


def test_declared_campaign_is_left_to_adoption_unless_force(
    sandbox_env: Sandbox,
    tmp_path: Path,
    in_tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sandbox_env.seed_email_campaigns(1, name_prefix="Promo ")
    config = tmp_path / "campaigns.d"
    config.mkdir()
    handwritten = (
        "name: Promo 00001\ncampaign_type: normal\nto: {type: list, value: [all]}\n"
        "sender_id: 1\ntemplate_invoke_name: seed_template\n"
    )
    (config / "hand.yaml").write_text(handwritten)
    code, out, _ = cli(capsys, "import")
    assert code == 0
    assert "already declared in hand.yaml" in out
    assert (config / "hand.yaml").read_text() == handwritten
    assert not StateStore(tmp_path / "state" / "default.json").read().campaigns

    code, out, _ = cli(capsys, "import", "--force")
    assert code == 0
    assert "-> campaigns.d/hand.yaml" in out
    assert (config / "hand.yaml").read_text().startswith("# Imported by `campaignctl import`")
    assert set(StateStore(tmp_path / "state" / "default.json").read().campaigns) == {
        "EmailCampaign/Promo 00001"
    }


def test_two_live_campaigns_with_one_name_fail_the_import(
    sandbox_env: Sandbox,
    tmp_path: Path,
    in_tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ids = sandbox_env.seed_email_campaigns(2, name_prefix="Twin ")
    sandbox_env.edit_email_campaign(ids[1], name="Twin 00001")
    sandbox_env.seed_email_campaigns(1, name_prefix="Solo ")
    code, out, err = cli(capsys, "import")
    assert code == 1
    assert f"error: EmailCampaign/Twin 00001 [{ids[0]}] not imported" in err
    assert "rename all but one" in err
    assert "1 imported" in out


def test_without_the_imbrace_key_only_email_is_imported(
    sandbox_env: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("IMBRACE_API_KEY")
    sandbox_env.seed_email_campaigns(1, name_prefix="Promo ")
    sandbox_env.seed_touchpoint_campaigns(1, touchpoints=1)
    code, out, err = cli(capsys, "import")
    assert code == 0
    assert "1 imported" in out
    assert "IMBRACE_API_KEY not set: MessagingCampaigns were not imported" in err


def test_placeholders_are_warned_and_secrets_never_printed(
    sandbox_env: Sandbox,
    tmp_path: Path,
    in_tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sandbox_env.seed_touchpoint_campaigns(1, touchpoints=1, name_prefix="Journey ")
    code, out, err = cli(capsys, "import")
    assert code == 0
    assert "touchpoints[0].message is a PLACEHOLDER" in err
    text = (tmp_path / "campaigns.d" / "journey-00001.yaml").read_text()
    assert PLACEHOLDER in text and "message 1" not in text
    for secret in (sandbox_env.api_key, sandbox_env.imbrace_api_key):
        assert secret not in out + err + text
        assert secret not in (tmp_path / "state" / "default.json").read_text()


def test_no_state_and_bad_status_are_errors(
    sandbox_env: Sandbox,
    tmp_path: Path,
    in_tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = cli(capsys, "--no-state", "import")
    assert code == 1 and "drop --no-state" in err
    code, _, err = cli(capsys, "import", "--status", "sent")
    assert code == 1 and "unknown status 'sent'" in err


def test_invalid_output_directory_is_an_error_before_any_write(
    sandbox_env: Sandbox,
    tmp_path: Path,
    in_tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sandbox_env.seed_email_campaigns(1, name_prefix="Promo ")
    (tmp_path / "campaigns.d").mkdir()
    (tmp_path / "campaigns.d" / "broken.yaml").write_text("name: [unclosed\n")
    code, _, err = cli(capsys, "import")
    assert code == 1
    assert "broken.yaml" in err and "--out" in err
    assert sorted(p.name for p in (tmp_path / "campaigns.d").iterdir()) == ["broken.yaml"]


def test_campaign_declared_elsewhere_in_the_config_dir_is_not_duplicated(
    sandbox_env: Sandbox,
    tmp_path: Path,
    in_tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sandbox_env.seed_email_campaigns(2, name_prefix="Promo ")
    config = tmp_path / "campaigns.d"
    config.mkdir()
    (config / "hand.yaml").write_text(
        "name: Promo 00001\ncampaign_type: normal\nto: {type: list, value: [all]}\n"
        "sender_id: 1\ntemplate_invoke_name: seed_template\n"
    )
    code, out, _ = cli(capsys, "import", "--out", "campaigns.d/imported")
    assert code == 0
    assert "already declared in ../hand.yaml" in out
    assert [p.name for p in (config / "imported").iterdir()] == ["promo-00002.yaml"]
    assert cli(capsys, "validate")[0] == 0
