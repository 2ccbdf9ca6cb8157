"""Issue 15 "In a pipeline": a saved plan is the approval, progress a CI log can show,
`show PLANFILE`, targeting that never misleads, stale-plan reasons that are true."""

from __future__ import annotations

from collections import Counter

import pytest
from builders import email_yaml
from conftest import Workspace

from reconciler.cli import run
from reconciler.sandbox import Sandbox


class Env:
    """The CLI against the test's sandbox, with the workspace's state file."""

    def __init__(self, sandbox: Sandbox, workspace: Workspace, capsys: pytest.CaptureFixture[str]):
        self.sandbox = sandbox
        self.config = workspace.config
        self.state = workspace.state
        self.plan_file = workspace.root / "plan.json"
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

    def save_plan(self, *args: str) -> None:
        code, _, err = self.run("plan", str(self.config), "--out", str(self.plan_file), *args)
        assert code == 0, err

    def names(self) -> Counter[str]:
        return Counter(c["name"] for c in self.sandbox.email_campaigns())


@pytest.fixture
def env(sandbox_env: Sandbox, workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> Env:
    return Env(sandbox_env, workspace, capsys)


# --------------------------------------------------------------------------- 1. approval


def test_a_saved_plan_applies_without_a_terminal_and_without_auto_approve(env: Env) -> None:
    env.write("Alpha")
    env.save_plan()

    code, out, err = env.run("apply", str(env.plan_file))

    assert code == 0, err
    assert "Apply complete: 1 created" in out
    assert "not a terminal" not in err
    assert env.names() == Counter({"Alpha": 1})


def test_a_fresh_plan_without_a_terminal_still_needs_auto_approve(env: Env) -> None:
    env.write("Alpha")

    code, _, err = env.run("apply", str(env.config))

    assert code == 1 and "stdin is not a terminal" in err
    assert env.names() == Counter()


# --------------------------------------------------------------------------- 5. stale reasons


def test_reapplying_a_plan_made_before_the_first_apply_says_it_was_applied(env: Env) -> None:
    env.write("Alpha")
    env.save_plan()  # no state file yet
    assert env.run("apply", str(env.plan_file))[0] == 0

    code, _, err = env.run("apply", str(env.plan_file))

    assert code == 1
    assert "the plan was already applied" in err
    assert "another one" not in err and "lineage" not in err
    assert env.names() == Counter({"Alpha": 1})


def test_reapplying_an_applied_plan_says_it_was_applied(env: Env) -> None:
    env.write("Alpha")
    assert env.run("apply", str(env.config), "--auto-approve")[0] == 0
    env.write("Alpha", subject="Changed")
    env.write("Beta")
    env.save_plan()
    assert env.run("apply", str(env.plan_file))[0] == 0

    code, _, err = env.run("apply", str(env.plan_file))

    assert code == 1
    assert "the plan was already applied" in err
    assert env.names() == Counter({"Alpha": 1, "Beta": 1})


def test_a_plan_overtaken_by_another_apply_is_not_called_applied(env: Env) -> None:
    env.write("Alpha")
    env.save_plan()
    env.write("Beta")
    (env.config / "Alpha.yaml").unlink()
    assert env.run("apply", str(env.config), "--auto-approve")[0] == 0

    code, _, err = env.run("apply", str(env.plan_file))

    assert code == 1
    assert "already applied" not in err and "another one" not in err
    assert "the state was created by another apply since the plan was made" in err


def test_reapplying_a_no_state_plan_says_it_was_applied(env: Env) -> None:
    env.write("Alpha")
    code, _, err = env.run("--no-state", "plan", str(env.config), "--out", str(env.plan_file))
    assert code == 0, err
    assert env.run("--no-state", "apply", str(env.plan_file))[0] == 0

    code, _, err = env.run("--no-state", "apply", str(env.plan_file))

    assert code == 1
    assert "the plan was already applied" in err
    assert env.names() == Counter({"Alpha": 1})
