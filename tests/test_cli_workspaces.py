"""`--workspace`, `state workspaces|pull|push`, `--lock-timeout` on the file backend (CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

from reconciler.sandbox import Sandbox


def write_email(name: str) -> None:
    config = Path("campaigns.d")
    config.mkdir(exist_ok=True)
    (config / f"{name}.yaml").write_text(
        f"kind: EmailCampaign\nname: {name}\ncampaign_type: normal\n"
        "to: {type: tag, value: [t]}\nsender_id: 53\ntemplate_invoke_name: tpl\n"
        f"subject: {name}\n"
    )


def test_workspace_selects_its_own_state_file_and_is_listed(
    sandbox_env: Sandbox, in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_email("Spring")
    assert run_cli(capsys, "--workspace", "eu", "apply", "--auto-approve")[0] == 0
    assert sorted(p.name for p in (in_tmp_path / "state").iterdir()) == ["eu.json"]
    assert run_cli(capsys, "apply", "--auto-approve")[0] == 0  # default: adopts by name
    code, out, _ = run_cli(capsys, "--workspace", "eu", "state", "workspaces")
    assert code == 0 and out.splitlines() == ["  default", "* eu"]
    custom = in_tmp_path / "prod.json"
    assert (
        run_cli(capsys, "--state", str(custom), "--workspace", "us", "apply", "--auto-approve")[0]
        == 0
    )
    assert (in_tmp_path / "prod.us.json").exists() and not custom.exists()
    code, out, _ = run_cli(capsys, "--state", str(custom), "state", "workspaces")
    assert out.splitlines() == ["  us"]


def test_pull_prints_the_file_and_push_needs_a_newer_serial(
    sandbox_env: Sandbox, in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_email("Spring")
    assert run_cli(capsys, "apply", "--auto-approve")[0] == 0
    state_file = in_tmp_path / "state" / "default.json"
    code, out, _ = run_cli(capsys, "state", "pull")
    assert code == 0 and out == state_file.read_text()
    backup = in_tmp_path / "backup.json"
    backup.write_text(out)
    code, _, err = run_cli(capsys, "state", "push", str(backup))
    assert code == 1 and "not newer than the stored 1" in err and "--force" in err
    document = json.loads(out)
    document["serial"] = 7
    backup.write_text(json.dumps(document))
    code, out, err = run_cli(capsys, "state", "push", str(backup))
    assert code == 0, err
    assert json.loads(state_file.read_text())["serial"] == 7
    document["lineage"] = "another-state"
    backup.write_text(json.dumps(document))
    assert "lineage" in run_cli(capsys, "state", "push", str(backup))[2]
    assert run_cli(capsys, "state", "push", "--force", str(backup))[0] == 0
    assert json.loads(state_file.read_text())["lineage"] == "another-state"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("apply", "--lock-timeout", "soon"), "--lock-timeout takes a duration such as 90s"),
        (("--workspace", "../etc", "plan"), "invalid workspace name '../etc'"),
        (("--state", "ftp://host/state.json", "plan"), "got a ftp:// URL"),
        (("--state", "s3://bucket/key?acl=public", "plan"), "unknown s3:// option acl"),
        (("--state", "s3://bucket", "plan"), "needs s3://BUCKET/KEY"),
    ],
)
def test_bad_state_options_are_one_line_errors(
    in_tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    code, _, err = run_cli(capsys, *args)
    assert code == 1 and message in err, err
    assert "Traceback" not in err and "internal" not in err
