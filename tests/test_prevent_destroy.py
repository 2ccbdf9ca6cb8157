"""`lifecycle.prevent_destroy` protects a campaign even after its YAML is gone.

The YAML block leaves with the file, so the state records the flag at apply time; setting or
dropping it on an unchanged campaign is recorded too (nothing is sent for it).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import email_yaml
from conftest import Workspace as Files

from reconciler.cli import run
from reconciler.sandbox import Sandbox
from reconciler.state import StateStore

PROTECTED = "lifecycle: {prevent_destroy: true}\n"


class Workspace:
    def __init__(self, files: Files, capsys: pytest.CaptureFixture[str]) -> None:
        self.files = files
        self.config = files.config
        self.state = files.state
        self.capsys = capsys

    def write(self, name: str, extra: str = "") -> Path:
        return self.files.write(f"{name}.yaml", email_yaml(name, subject=None, extra=extra))

    def run(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = run(["--state", str(self.state), *args, str(self.config)])
        out, err = self.capsys.readouterr()
        return code, out, err

    def recorded_lifecycle(self, name: str) -> object:
        record = StateStore(self.state).read().get("EmailCampaign", name)
        assert record is not None
        return record.last_applied.get("lifecycle")


@pytest.fixture
def ws(sandbox_env: Sandbox, workspace: Files, capsys: pytest.CaptureFixture[str]) -> Workspace:
    return Workspace(workspace, capsys)


def test_a_protected_campaign_removed_from_yaml_cannot_be_deleted(
    ws: Workspace, sandbox_env: Sandbox
) -> None:
    ws.write("Keep me", PROTECTED)
    ws.write("Other")
    assert ws.run("apply", "--auto-approve")[0] == 0
    assert ws.recorded_lifecycle("Keep me") == {"prevent_destroy": True}

    (ws.config / "Keep me.yaml").unlink()
    code, _, err = ws.run("plan")
    assert code == 1
    assert "prevent_destroy" in err and "Keep me" in err
    code, _, err = ws.run("apply", "--auto-approve")
    assert code == 1
    assert "Keep me" in {c["name"] for c in sandbox_env.email_campaigns()}


def test_setting_the_flag_on_an_unchanged_campaign_is_recorded_by_apply(ws: Workspace) -> None:
    ws.write("Later protected")
    assert ws.run("apply", "--auto-approve")[0] == 0
    assert ws.recorded_lifecycle("Later protected") is None

    ws.write("Later protected", PROTECTED)
    code, out, _ = ws.run("plan", "--detailed-exitcode")
    assert code == 0, out  # nothing to send: the flag is campaignctl's own policy
    assert ws.run("apply", "--auto-approve")[0] == 0
    assert ws.recorded_lifecycle("Later protected") == {"prevent_destroy": True}


def test_dropping_the_flag_lets_a_later_delete_through(ws: Workspace) -> None:
    ws.write("Was protected", PROTECTED)
    ws.write("Another")  # so that the later delete is not "every managed campaign"
    assert ws.run("apply", "--auto-approve")[0] == 0
    ws.write("Was protected")
    assert ws.run("apply", "--auto-approve")[0] == 0
    assert ws.recorded_lifecycle("Was protected") is None

    (ws.config / "Was protected.yaml").unlink()
    code, out, err = ws.run("apply", "--auto-approve")
    assert code == 0, err
    assert "1 deleted" in out


def test_drift_ignores_the_recorded_flag(ws: Workspace) -> None:
    ws.write("Quiet", PROTECTED)
    assert ws.run("apply", "--auto-approve")[0] == 0
    code, out, _ = ws.run("drift")
    assert code == 0, out
