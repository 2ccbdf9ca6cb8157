"""`campaignctl apply` at its edges, in-process: Ctrl-C mid-apply (a real SIGINT to this
process, sent when the sandbox receives the first write), saved plans under other names or
broken, and the JSON report of a run with nothing to do.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from test_kill9 import MUTATING
from test_state_remote_cli import write_emails

from reconciler.sandbox import Sandbox
from reconciler.state import StateStore

NAMES = ("Alpha", "Beta", "Gamma", "Delta", "Epsilon")


@pytest.fixture
def cli_env(sandbox_env: Sandbox, in_tmp_path: Path) -> Sandbox:
    return sandbox_env


def interrupt_on_first_write(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """SIGINT this process once, when the sandbox logs its first write (before answering it)."""
    sent = threading.Event()
    original = sandbox.log.record

    def record(entry: Any) -> None:
        if entry.method in MUTATING and not sent.is_set():
            sent.set()
            os.kill(os.getpid(), signal.SIGINT)
        original(entry)

    monkeypatch.setattr(sandbox.log, "record", record)
    return sent


def test_ctrl_c_mid_apply_finishes_the_step_in_flight_saves_state_and_exits_130(
    cli_env: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_emails(NAMES)
    sent = interrupt_on_first_write(cli_env, monkeypatch)
    code, out, err = run_cli(
        capsys, "--state", "state.json", "apply", "--auto-approve", "--parallelism", "1"
    )
    assert sent.is_set()
    assert code == 130, out + err
    assert "Interrupt received: finishing the steps in flight, then saving state" in err
    match = re.search(r"Interrupted: (\d+) steps? not started; state saved", err)
    assert match is not None, err
    skipped = int(match.group(1))
    created = sorted(c["name"] for c in cli_env.email_campaigns())
    assert 1 <= len(created) < len(NAMES) and skipped == len(NAMES) - len(created)
    recorded = StateStore(Path("state.json")).read().campaigns
    assert sorted(key.split("/", 1)[1] for key in recorded) == created
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, "handler restored"
    code, out, err = run_cli(capsys, "--state", "state.json", "apply", "--auto-approve")
    assert code == 0, out + err  # the rerun continues where it stopped
    assert sorted(c["name"] for c in cli_env.email_campaigns()) == sorted(NAMES)


def test_a_saved_plan_under_any_name_is_recognised_by_its_content(
    cli_env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    write_emails(NAMES[:1])
    code, out, err = run_cli(capsys, "--state", "state.json", "plan", "--out", "reviewed.plan")
    assert code in (0, 2), out + err
    assert Path("reviewed.plan").read_text().lstrip().startswith("{")
    code, out, err = run_cli(capsys, "--state", "state.json", "apply", "reviewed.plan",
                             "--auto-approve")  # fmt: skip
    assert code == 0, out + err
    assert [c["name"] for c in cli_env.email_campaigns()] == ["Alpha"]
    # a saved plan already carries its shape: options that would change it are refused
    code, out, err = run_cli(capsys, "--state", "state.json", "apply", "reviewed.plan", "--prune")
    assert code == 1 and "a saved plan already has them" in err


def test_a_file_that_is_not_a_plan_is_not_read_as_one(
    cli_env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("notes.txt").write_text("just some notes\n")
    code, out, err = run_cli(capsys, "--state", "state.json", "apply", "notes.txt",
                             "--auto-approve")  # fmt: skip
    assert code == 1, out + err
    assert "saved plan" not in err and "notes.txt" in err
    assert cli_env.request_count() == 0


def test_a_saved_plan_that_is_not_json_is_a_clear_error(
    cli_env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("plan.json").write_text('{"format_version": 1, "actions": [')
    code, out, err = run_cli(capsys, "apply", "plan.json", "--auto-approve")
    assert code == 1, out + err
    assert "saved plan is not valid JSON" in err and "plan.json" in err
    assert "Traceback" not in err


def test_a_saved_plan_nested_past_the_cap_but_parseable_is_refused(
    cli_env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    nested = "[" * 150 + "]" * 150  # Python parses it; the cap is 100 levels
    Path("plan.json").write_text('{"format_version": 1, "actions": ' + nested + "}")
    code, out, err = run_cli(capsys, "apply", "plan.json", "--auto-approve")
    assert code == 1, out + err
    assert "the saved plan nests more than 100 levels" in err


def test_nothing_to_apply_in_json_is_an_empty_result_on_stdout(
    cli_env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    write_emails(NAMES[:1])
    args = ("--state", "state.json", "apply", "--auto-approve")
    assert run_cli(capsys, *args)[0] == 0
    code, out, err = run_cli(capsys, *args, "--format", "json")
    assert code == 0, out + err
    result = json.loads(out)  # stdout is the result alone; the plan went to stderr
    assert result["steps"] == []
    assert "Alpha" not in out
