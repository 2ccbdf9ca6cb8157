"""`campaignctl apply` end to end against the sandbox: confirmation, exit codes, saved plans."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import pytest
from builders import email_yaml
from conftest import Workspace

from reconciler.cli import cmd_apply, run
from reconciler.sandbox import Sandbox
from reconciler.state import StateStore

EMAIL_CAMPAIGNS = "/v1/marketing/campaigns"


class Env:
    def __init__(self, sandbox: Sandbox, workspace: Workspace, capsys: pytest.CaptureFixture[str]):
        self.sandbox = sandbox
        self.config = workspace.config
        self.state = workspace.state
        self.capsys = capsys

    def write(self, name: str, subject: str = "Hello") -> None:
        (self.config / f"{name}.yaml").write_text(
            email_yaml(name, subject=subject), encoding="utf-8"
        )

    def run(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = run(["--state", str(self.state), *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def apply(self, *args: str) -> tuple[int, str, str]:
        return self.run("apply", str(self.config), *args)

    def names(self) -> Counter[str]:
        return Counter(c["name"] for c in self.sandbox.email_campaigns())

    def remote_id(self, name: str) -> int:
        return int(StateStore(self.state).read().campaigns[f"EmailCampaign/{name}"].remote_id)


@pytest.fixture
def env(sandbox_env: Sandbox, workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> Env:
    return Env(sandbox_env, workspace, capsys)


class _Answer(io.StringIO):
    """A stdin whose answer is read at the prompt, after the plan: `at_prompt` runs then."""

    def __init__(self, answer: str, at_prompt: object = None) -> None:
        super().__init__(answer + "\n")
        self.at_prompt = at_prompt

    def readline(self, size: int | None = -1) -> str:
        if callable(self.at_prompt):
            self.at_prompt()
        return super().readline()


def on_a_terminal(monkeypatch: pytest.MonkeyPatch, stdin: io.StringIO) -> None:
    monkeypatch.setattr(cmd_apply, "stdin_is_tty", lambda: True)
    monkeypatch.setattr("sys.stdin", stdin)


# --------------------------------------------------------------------------- basics


def test_auto_approve_applies_and_the_next_run_is_a_no_op(env: Env) -> None:
    env.write("Alpha")
    env.write("Beta")

    code, out, err = env.apply("--auto-approve")

    assert code == 0, err
    assert 'EmailCampaign "Alpha" will be created' in out
    assert out.rstrip().endswith(
        "Apply complete: 2 created, 0 updated, 0 deleted, 0 blocked, 0 failed."
    )
    assert "Applying:" not in err  # no progress line off a terminal
    assert env.names() == Counter({"Alpha": 1, "Beta": 1})
    code, out, _ = env.apply("--auto-approve")
    assert code == 0 and "Apply complete: 0 created" in out
    assert env.run("plan", str(env.config), "--detailed-exitcode")[0] == 0


def test_without_a_terminal_and_without_auto_approve_it_refuses(env: Env) -> None:
    env.write("Alpha")

    code, out, err = env.apply()

    assert code == 1
    assert "will be created" in out  # the plan is shown first
    assert "stdin is not a terminal" in err and "--auto-approve" in err
    assert env.names() == Counter()
    assert not env.state.with_name("state.json.lock").exists()


def test_yes_at_the_prompt_applies(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env.write("Alpha")
    on_a_terminal(monkeypatch, _Answer("yes"))

    code, _, err = env.apply()

    assert code == 0
    assert cmd_apply.CONFIRM_PROMPT in err
    assert env.names() == Counter({"Alpha": 1})


@pytest.mark.parametrize("answer", ["y", "no", ""])
def test_anything_but_yes_cancels(env: Env, monkeypatch: pytest.MonkeyPatch, answer: str) -> None:
    env.write("Alpha")
    on_a_terminal(monkeypatch, _Answer(answer))

    code, _, err = env.apply()

    assert code == 1 and "Apply cancelled." in err
    assert env.names() == Counter()


def test_json_format_prints_only_the_result_on_stdout(env: Env) -> None:
    env.write("Alpha")

    code, out, err = env.apply("--auto-approve", "--format", "json")

    assert code == 0
    data = json.loads(out)
    assert data["summary"]["created"] == 1
    assert data["steps"][0]["name"] == "Alpha" and data["steps"][0]["outcome"] == "applied"
    assert "will be created" in err


def test_progress_line_on_a_terminal_for_long_runs(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(12):
        env.write(f"C{i:02d}")
    monkeypatch.setattr(cmd_apply, "stderr_is_tty", lambda: True)

    code, _, err = env.apply("--auto-approve")

    assert code == 0
    assert "\rApplying: 12/12 done, 0 failed, 0 blocked" in err


def test_no_state_applies_by_name_and_writes_no_state_file(env: Env) -> None:
    env.write("Alpha")
    code, out, _ = env.run("--no-state", "apply", str(env.config), "--auto-approve")
    assert code == 0 and "1 created" in out
    code, out, _ = env.run("--no-state", "apply", str(env.config), "--auto-approve")
    assert code == 0 and "0 created" in out
    assert env.names() == Counter({"Alpha": 1})
    assert not env.state.exists()


def test_sandbox_flag_applies_the_example_config_to_an_embedded_sandbox(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # the repo's campaigns.d
    code, out, err = env.run("apply", "--sandbox", "--auto-approve")
    assert code == 0, err
    assert "0 failed." in out and " 0 created" not in out
    assert env.names() == Counter()  # not the test's sandbox: an embedded one


# --------------------------------------------------------------------------- exit codes


def test_status_flip_at_the_prompt_is_blocked_and_exits_3(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.write("Alpha")
    env.write("Beta")
    assert env.apply("--auto-approve")[0] == 0
    env.write("Alpha", subject="Changed")
    env.write("Beta", subject="Changed")
    beta = env.remote_id("Beta")
    on_a_terminal(monkeypatch, _Answer("yes", lambda: env.sandbox.set_email_status(beta, 1)))

    code, out, err = env.apply()

    assert code == 3
    assert "blocked: EmailCampaign/Beta" in err
    assert "Apply complete: 0 created, 1 updated, 0 deleted, 1 blocked, 0 failed." in out
    assert env.sandbox.email_campaign(env.remote_id("Alpha"))["subject"] == "Changed"


def test_a_failed_step_exits_1_and_the_others_still_apply(env: Env) -> None:
    env.write("Alpha")
    env.write("Beta")
    env.sandbox.faults.add("POST", EMAIL_CAMPAIGNS, "drop_before", count=2)

    code, out, err = env.apply("--auto-approve", "--parallelism", "1")

    assert code == 1
    assert "failed: EmailCampaign/Alpha" in err
    assert "1 created, 0 updated, 0 deleted, 0 blocked, 1 failed." in out
    assert env.names() == Counter({"Beta": 1})


def test_the_safety_rule_refuses_deleting_everything_unless_forced(env: Env) -> None:
    env.write("Alpha")
    env.write("Beta")
    assert env.apply("--auto-approve")[0] == 0
    for path in env.config.iterdir():
        path.unlink()

    code, _, err = env.apply("--auto-approve")
    assert code == 1 and "every managed campaign" in err
    assert len(env.names()) == 2

    code, out, _ = env.apply("--auto-approve", "--force")
    assert code == 0 and "2 deleted" in out
    assert env.names() == Counter()


def test_a_held_lock_fails_fast_naming_the_holder(env: Env) -> None:
    env.write("Alpha")
    store = StateStore(env.state)
    with store.lock("another apply") as lock:
        code, _, err = env.apply("--auto-approve")
    assert code == 1
    assert "locked by pid" in err and lock.id in err
    assert env.names() == Counter()


def test_bad_parallelism_is_a_usage_error_exit_1(env: Env) -> None:
    code, _, err = env.apply("--parallelism", "0")
    assert code == 1 and "parallelism" in err


# --------------------------------------------------------------------------- saved plans


def test_a_current_saved_plan_applies(env: Env, tmp_path: Path) -> None:
    env.write("Alpha")
    plan_file = tmp_path / "plan.json"
    assert env.run("plan", str(env.config), "--out", str(plan_file))[0] == 0

    code, out, err = env.run("apply", str(plan_file), "--auto-approve")

    assert code == 0, err
    assert "1 created" in out
    assert env.names() == Counter({"Alpha": 1})


def test_a_stale_saved_plan_applies_nothing(env: Env, tmp_path: Path) -> None:
    env.write("Alpha")
    env.write("Beta")
    assert env.apply("--auto-approve")[0] == 0
    env.write("Alpha", subject="Changed")
    env.write("Beta", subject="Changed")
    plan_file = tmp_path / "plan.json"
    assert env.run("plan", str(env.config), "--out", str(plan_file))[0] == 0
    env.sandbox.edit_email_campaign(env.remote_id("Beta"), reply_to="ui@example.com")
    puts = env.sandbox.request_count("PUT")

    code, _, err = env.run("apply", str(plan_file), "--auto-approve")

    assert code == 1
    assert "stale: EmailCampaign 'Beta'" in err
    assert "nothing was applied" in err
    assert env.sandbox.request_count("PUT") == puts  # not even Alpha


def test_a_saved_plan_is_stale_once_the_state_moved(env: Env, tmp_path: Path) -> None:
    env.write("Alpha")
    plan_file = tmp_path / "plan.json"
    assert env.run("plan", str(env.config), "--out", str(plan_file))[0] == 0
    assert env.apply("--auto-approve")[0] == 0

    code, _, err = env.run("apply", str(plan_file), "--auto-approve")

    assert code == 1 and "stale" in err
    assert env.names() == Counter({"Alpha": 1})


def test_a_saved_plan_takes_no_planning_options(env: Env, tmp_path: Path) -> None:
    env.write("Alpha")
    plan_file = tmp_path / "plan.json"
    assert env.run("plan", str(env.config), "--out", str(plan_file))[0] == 0
    code, _, err = env.run("apply", str(plan_file), "--prune")
    assert code == 1 and "saved plan" in err


def test_a_broken_saved_plan_is_a_clear_error(env: Env, tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    plan_file.write_text('{"format_version": 1, "actions": [{"action": "explode"}]}')
    code, _, err = env.run("apply", str(plan_file), "--auto-approve")
    assert code == 1
    assert err.startswith("error: saved plan is malformed") and str(plan_file) in err
    assert "Traceback" not in err
