"""The shared plan pipeline: which APIs a run needs, and build_plan closing what it opens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from builders import email_yaml
from conftest import Workspace, run_cli, sandbox_settings

from reconciler.cli import run
from reconciler.sandbox import Sandbox
from reconciler.workflow import build_plan

JOURNEY = (
    "kind: MessagingCampaign\nname: Journey\nchannel_type: whatsapp\n"
    "touchpoints:\n  - {name: Hi, type: message, message: Hello}\n"
)


def test_a_messaging_only_config_needs_no_email_credentials(
    sandbox: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "journey.yaml").write_text(JOURNEY, encoding="utf-8")
    monkeypatch.setenv("CAMPAIGNCTL_API_URL", sandbox.url)
    monkeypatch.setenv("CAMPAIGNCTL_TOUCHPOINT_API_URL", sandbox.url)
    monkeypatch.setenv("IMBRACE_API_KEY", sandbox.imbrace_api_key)
    state = str(tmp_path / "state.json")
    assert run(["--state", state, "apply", str(tmp_path), "--auto-approve"]) == 0
    assert run(["--state", state, "plan", str(tmp_path), "--detailed-exitcode"]) == 0
    assert sandbox.request_count(path_prefix="/v1/marketing") == 0
    capsys.readouterr()


def test_an_email_config_without_credentials_names_the_variables(
    sandbox: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "c.yaml").write_text(
        "name: A\ncampaign_type: normal\nto: {type: tag, value: [x]}\n"
        "sender_id: 1\ntemplate_invoke_name: t\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("CAMPAIGNCTL_API_URL", sandbox.url)
    monkeypatch.setenv("CAMPAIGNCTL_TOUCHPOINT_API_URL", sandbox.url)
    assert run(["--no-state", "plan", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "ENGAGELAB_API_USER and ENGAGELAB_API_KEY not set" in err
    assert "Traceback" not in err


AB_TEST = (
    "ab_test:\n  percent: 10\n"
    "  win_condition: {time_unit: hour, after_time: 2, compare: open_percent}\n"
    "  subjects: [A, B]\n"
)


@pytest.mark.parametrize("ignored", [[], ["ab_test"]])
def test_a_campaign_type_switch_applies_and_converges(
    sandbox_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], ignored: list[str]
) -> None:
    config = tmp_path / "campaigns.d"
    config.mkdir()
    base = "name: Switch\nto: {type: tag, value: [x]}\nsender_id: 1\ntemplate_invoke_name: t\n"
    lifecycle = f"lifecycle: {{ignore_changes: {ignored}}}\n" if ignored else ""
    state = str(tmp_path / "state.json")
    for document in (
        base + "campaign_type: ab\n" + AB_TEST,
        base + "campaign_type: normal\n" + lifecycle,
        base + "campaign_type: ab\n" + AB_TEST + lifecycle,
    ):
        (config / "switch.yaml").write_text(document, encoding="utf-8")
        assert run(["--state", state, "apply", str(config), "--auto-approve"]) == 0, (
            capsys.readouterr()
        )
        assert run(["--state", state, "plan", str(config), "--detailed-exitcode"]) == 0
    capsys.readouterr()


def test_import_with_only_the_imbrace_key(
    sandbox: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "journey.yaml").write_text(JOURNEY, encoding="utf-8")
    monkeypatch.setenv("CAMPAIGNCTL_API_URL", sandbox.url)
    monkeypatch.setenv("CAMPAIGNCTL_TOUCHPOINT_API_URL", sandbox.url)
    monkeypatch.setenv("IMBRACE_API_KEY", sandbox.imbrace_api_key)
    first_state = str(tmp_path / "first.json")
    assert run(["--state", first_state, "apply", str(tmp_path), "--auto-approve"]) == 0
    monkeypatch.chdir(tmp_path)
    out_dir = tmp_path / "imported"
    code = run(["--state", "fresh.json", "import", "--out", str(out_dir)])
    assert code == 0, capsys.readouterr().err
    assert [p.name for p in out_dir.iterdir()] == ["journey.yaml"]
    assert sandbox.request_count(path_prefix="/v1/marketing") == 0


def test_the_import_placeholder_is_never_sent(
    sandbox_env: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A reorder recreated an imported touchpoint with the placeholder as its text, silently.
    monkeypatch.chdir(tmp_path)
    made = tmp_path / "made"
    made.mkdir()
    (made / "journey.yaml").write_text(JOURNEY, encoding="utf-8")
    assert run(["--state", "made.json", "apply", str(made), "--auto-approve"]) == 0
    assert run(["import"]) == 0
    imported = tmp_path / "campaigns.d" / "journey.yaml"
    text = imported.read_text(encoding="utf-8")
    assert "PLACEHOLDER" in text
    assert run(["plan", "--detailed-exitcode"]) == 0  # import itself sends nothing
    reordered = text.replace("touchpoints:\n", "touchpoints:\n  - name: First\n    type: action\n")
    imported.write_text(reordered, encoding="utf-8")
    capsys.readouterr()
    assert run(["plan"]) == 1
    err = capsys.readouterr().err
    assert "would send the import placeholder as touchpoint 'Hi'" in err
    # at the file and line of the campaign (line 1 is the import comment)
    assert "error: campaigns.d/journey.yaml:2:1: MessagingCampaign " in err
    assert run(["apply", "--auto-approve"]) == 1
    assert [t["message"] for t in sandbox_env.touchpoints()] == [{"text": "Hello"}]

    imported.write_text(
        reordered.replace(
            "PLACEHOLDER: not returned by the API; replace with the real text", "Hello again"
        ),
        encoding="utf-8",
    )
    assert run(["apply", "--auto-approve"]) == 0
    capsys.readouterr()


def test_an_ignored_field_is_recorded_as_sent_not_as_written(
    sandbox_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The state recorded the YAML's new reply_to although it was never sent: drift without
    # the config then reported a change nobody made.
    from reconciler.state import StateStore

    config = tmp_path / "campaigns.d"
    config.mkdir()
    state = tmp_path / "state.json"
    base = (
        "name: Owned by marketing\ncampaign_type: normal\nto: {type: tag, value: [x]}\n"
        "sender_id: 1\nlifecycle: {ignore_changes: [reply_to]}\n"
    )
    path = config / "c.yaml"
    path.write_text(base + "template_invoke_name: t1\nreply_to: a@example.com\n")
    assert run(["--state", str(state), "apply", str(config), "--auto-approve"]) == 0
    (live,) = sandbox_env.email_campaigns()
    sandbox_env.edit_email_campaign(live["campaign_id"], reply_to="b@example.com")
    path.write_text(base + "template_invoke_name: t2\nreply_to: d@example.com\n")
    assert run(["--state", str(state), "apply", str(config), "--auto-approve"]) == 0
    (live,) = sandbox_env.email_campaigns()
    assert (live["template_invoke_name"], live["reply_to"]) == ("t2", "b@example.com")
    record = StateStore(state).read().get("EmailCampaign", "Owned by marketing")
    assert record is not None
    assert record.last_applied["reply_to"] == "a@example.com"
    assert record.last_applied["template_invoke_name"] == "t2"
    assert run(["--state", str(state), "plan", str(config), "--detailed-exitcode"]) == 0
    capsys.readouterr()


def test_with_the_imbrace_key_set_unmanaged_messaging_campaigns_are_reported(
    sandbox_env: Sandbox, in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty config still lists what iMBrace holds, as it does for email (issue 11)."""
    sandbox_env.seed_touchpoint_campaigns(1, name_prefix="Loose journey ")
    (in_tmp_path / "campaigns.d").mkdir()
    code, out, _ = run_cli(capsys, "plan", "--format", "json")
    assert code == 0
    unmanaged = [a for a in json.loads(out)["actions"] if a["reason"] == "unmanaged"]
    assert [(a["kind"], a["name"]) for a in unmanaged] == [
        ("MessagingCampaign", "Loose journey 00001")
    ]


# --------------------------------------------------------------------------- build_plan


def _open_connections_to(port: int) -> int:
    """ESTABLISHED IPv4 TCP connections of this machine whose remote port is `port`.

    The sandbox runs in this process: a client socket to it is ESTABLISHED until the
    client closes it (then FIN_WAIT/TIME_WAIT), whatever the server side does.
    """
    count = 0
    for line in Path("/proc/net/tcp").read_text(encoding="ascii").splitlines()[1:]:
        fields = line.split()
        remote_port = int(fields[2].split(":")[1], 16)
        if remote_port == port and fields[3] == "01":  # 01: TCP_ESTABLISHED
            count += 1
    return count


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's socket table")
def test_build_plan_closes_its_providers_when_the_block_raises(
    sandbox: Sandbox, workspace: Workspace
) -> None:
    workspace.write("c.yaml", email_yaml("Promo"))
    port = int(sandbox.url.rsplit(":", 1)[1])
    before = _open_connections_to(port)
    with (
        pytest.raises(RuntimeError, match="rendering failed"),
        build_plan(sandbox_settings(sandbox, workspace.config, imbrace=True)) as context,
    ):
        assert [a.name for a in context.plan.actions] == ["Promo"]
        # Live was read over kept-alive connections, still open inside the block.
        assert _open_connections_to(port) > before
        raise RuntimeError("rendering failed")
    assert _open_connections_to(port) <= before


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's socket table")
def test_build_plan_closes_its_providers_when_the_block_ends(
    sandbox: Sandbox, workspace: Workspace
) -> None:
    port = int(sandbox.url.rsplit(":", 1)[1])
    before = _open_connections_to(port)
    with build_plan(sandbox_settings(sandbox, workspace.config, imbrace=True)) as context:
        assert context.plan.actions == ()
        assert _open_connections_to(port) > before
    assert _open_connections_to(port) <= before
