"""`campaignctl plan` end to end: the quick start, formats, exit codes, safety and secrets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from builders import email_yaml
from conftest import Workspace

from reconciler.cli import run
from reconciler.sandbox import Sandbox

REPO = Path(__file__).resolve().parents[1]


class Cli:
    def __init__(self, workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
        self.config = workspace.config
        self.state = workspace.state
        self.capsys = capsys

    def write(self, *names: str) -> None:
        for name in names:
            (self.config / f"{name}.yaml").write_text(email_yaml(name), encoding="utf-8")

    def remove(self, *names: str) -> None:
        for name in names:
            (self.config / f"{name}.yaml").unlink()

    def run(self, *args: str, state: bool = True) -> tuple[int, str, str]:
        self.capsys.readouterr()
        options = ["--state", str(self.state)] if state else []
        code = run([*options, *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def plan(self, *args: str) -> tuple[int, str, str]:
        return self.run("plan", str(self.config), *args)

    def apply(self) -> None:
        code, _, err = self.run("apply", str(self.config), "--auto-approve")
        assert code == 0, err


@pytest.fixture
def cli(sandbox_env: Sandbox, workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(workspace, capsys)


# --------------------------------------------------------------------------- quick start


def test_plan_sandbox_plans_the_examples_with_no_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(REPO / "campaigns.d", tmp_path / "campaigns.d")
    monkeypatch.chdir(tmp_path)
    assert run(["plan", "--sandbox", "--detailed-exitcode"]) == 2
    out, err = capsys.readouterr()
    assert "Plan: 6 to create, 0 to update, 0 to delete, 0 blocked." in out
    assert 'MessagingCampaign "Welcome journey" will be created' in out
    # The examples hold one clash (the VIP preview, 13.5 h before the `list: all` send).
    assert out.startswith("warning: send clash: EmailCampaign 'Spring sale VIP preview'")
    assert err == ""
    assert not (tmp_path / "state").exists(), "--sandbox must not write a state file"


# --------------------------------------------------------------------------- exit codes


def test_detailed_exitcode_is_2_for_changes_and_0_once_applied(cli: Cli) -> None:
    cli.write("One", "Two")
    assert cli.plan("--detailed-exitcode")[0] == 2
    assert cli.plan()[0] == 0
    cli.apply()
    code, out, _ = cli.plan("--detailed-exitcode")
    assert code == 0
    assert "No changes." in out


def test_unmanaged_campaigns_alone_are_not_changes(cli: Cli, sandbox_env: Sandbox) -> None:
    sandbox_env.seed_email_campaigns(2, name_prefix="Legacy ")
    code, out, _ = cli.plan("--detailed-exitcode")
    assert code == 0
    assert "Legacy 00001" in out and "Unmanaged" in out


@pytest.mark.parametrize(
    "args",
    [("plan", "--format", "xml"), ("plan", "--bogus"), ("plan", "--target")],
    ids=["bad-choice", "unknown-option", "missing-value"],
)
def test_usage_errors_exit_1_never_2(cli: Cli, args: tuple[str, ...]) -> None:
    code, out, err = cli.run(*args)
    assert code == 1
    assert "Error:" in err and "Traceback" not in err + out


def test_plain_http_to_a_remote_host_is_refused_before_any_request(cli: Cli) -> None:
    cli.write("One")
    code, _, err = cli.run("--api-url", "http://email.example.com", "plan", str(cli.config))
    assert code == 1
    assert "plain http:// is refused for email.example.com" in err


# --------------------------------------------------------------------------- formats


def test_json_format_has_the_documented_schema(cli: Cli) -> None:
    cli.write("One")
    code, out, _ = cli.plan("--format", "json")
    assert code == 0
    document = json.loads(out)
    assert document["format_version"] == 1
    assert document["summary"]["create"] == 1
    (action,) = document["actions"]
    assert {"action", "kind", "name", "remote_id", "changes", "reason", "message"} <= set(action)
    assert action["reason"] == "not_in_live"
    assert ["subject"] in [change["path"] for change in action["changes"]]


def test_markdown_format_is_a_pr_comment(cli: Cli) -> None:
    cli.write("One")
    code, out, _ = cli.plan("--format", "markdown")
    assert code == 0
    assert "| action | kind | name | reason |" in out
    assert "<details>" in out and "Plan: 1 to create" in out


def test_out_saves_a_plan_that_apply_can_read(cli: Cli, sandbox_env: Sandbox) -> None:
    cli.write("One")
    saved = cli.config.parent / "plans" / "plan.json"
    saved.parent.mkdir()  # --out creates no directory (tests/test_hostile_state.py)
    code, _, err = cli.plan("--out", str(saved))
    assert code == 0
    assert f"campaignctl apply {saved}" in err
    document = json.loads(saved.read_text(encoding="utf-8"))
    assert document["format_version"] == 1 and document["actions"][0]["desired"]["name"] == "One"
    code, out, _ = cli.run("apply", str(saved), "--auto-approve")
    assert code == 0, out
    assert [c["name"] for c in sandbox_env.email_campaigns()] == ["One"]


# --------------------------------------------------------------------------- safety, scope


def test_deleting_4_of_10_managed_needs_force_and_the_plan_is_still_shown(cli: Cli) -> None:
    names = [f"C{i}" for i in range(10)]
    cli.write(*names)
    cli.apply()
    cli.remove(*names[:4])
    code, out, err = cli.plan()
    assert code == 1
    assert "Plan: 0 to create, 0 to update, 4 to delete, 0 blocked." in out
    assert "error:" in err and "--force" in err
    assert cli.plan("--force")[0] == 0


def test_prune_and_target(cli: Cli, sandbox_env: Sandbox) -> None:
    sandbox_env.seed_email_campaigns(1, name_prefix="Legacy ")
    cli.write("One", "Two")
    code, out, _ = cli.plan("--target", "One", "--format", "json")
    assert code == 0
    assert [a["name"] for a in json.loads(out)["actions"]] == ["One"]
    code, out, _ = cli.plan("--prune", "--format", "json")
    actions = {a["name"]: (a["action"], a["reason"]) for a in json.loads(out)["actions"]}
    assert actions["Legacy 00001"] == ("delete", "prune_unmanaged")


# --------------------------------------------------------------------------- secrets


def test_the_api_key_never_reaches_output_or_saved_plans(
    cli: Cli, sandbox_env: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGAGELAB_API_KEY", "s3cr3t-k3y-do-not-print")
    monkeypatch.setattr(sandbox_env, "api_key", "s3cr3t-k3y-do-not-print")
    cli.write("One")
    saved = cli.config.parent / "plan.json"
    code, out, err = cli.run("-vv", "plan", str(cli.config), "--out", str(saved))
    assert code == 0, err
    assert "--> GET" in err, "-v shows the HTTP exchange"
    for text in (out, err, saved.read_text(encoding="utf-8")):
        assert "s3cr3t-k3y-do-not-print" not in text


# --------------------------------------------------------------------------- found by a new user


def test_credentials_in_the_url_are_refused_and_never_printed(cli: Cli) -> None:
    code, out, err = cli.run("--api-url", "http://u:s3cretpw@127.0.0.1:9", "plan")
    assert code == 1
    assert "must not carry credentials" in err
    assert "s3cretpw" not in out + err


def test_a_global_option_after_the_subcommand_gets_a_hint(cli: Cli) -> None:
    code, _, err = cli.run("plan", "--state", "x.json", state=False)
    assert code == 1
    assert "--state is a global option: put it before the subcommand" in err


def test_a_sandbox_plan_cannot_be_saved(cli: Cli) -> None:
    code, _, err = cli.run("plan", "--sandbox", "--out", "p.json", state=False)
    assert code == 1
    assert "--out cannot be used with --sandbox" in err
    assert not Path("p.json").exists()


def test_a_plan_refused_by_the_safety_rule_is_not_saved(cli: Cli) -> None:
    names = [f"C{i}" for i in range(10)]
    cli.write(*names)
    cli.apply()
    cli.remove(*names[:4])
    saved = cli.config.parent / "refused.json"
    code, _, err = cli.plan("--out", str(saved))
    assert code == 1 and "--force" in err
    assert not saved.exists()
    assert "Saved the plan" not in err


def test_config_warnings_travel_with_the_plan(cli: Cli) -> None:
    (cli.config / "old.yaml").write_text(
        email_yaml("Old").replace("2027-03-01", "2020-03-01"), encoding="utf-8"
    )
    code, out, _ = cli.plan("--format", "json")
    assert code == 0
    (warning,) = json.loads(out)["warnings"]
    assert "old.yaml:" in warning and "past" in warning
    code, out, _ = cli.plan("--format", "markdown")
    assert "**Warning:**" in out and "past" in out


def test_ctrl_c_exits_130_for_every_command(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    cli.write("One")
    cli.apply()
    monkeypatch.setattr("reconciler.workflow.read_live", interrupted)
    assert cli.run("drift", str(cli.config))[0] == 130
    assert cli.plan()[0] == 130
