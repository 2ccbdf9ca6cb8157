"""Issue 15 "In a pipeline": a saved plan is the approval, progress a CI log can show,
`show PLANFILE`, targeting that never misleads, stale-plan reasons that are true."""

from __future__ import annotations

import json
import os
import re
import sys
from collections import Counter
from pathlib import Path

import pytest
from builders import journey_yaml
from conftest import Workspace, run_cli

from reconciler.applier import run as applier_run
from reconciler.cli import cmd_apply, progress
from reconciler.sandbox import Sandbox
from tests.test_cli_apply import Env as ApplyEnv


class Env(ApplyEnv):
    """The CLI against the test's sandbox, with the workspace's state file and a plan path."""

    def __init__(self, sandbox: Sandbox, workspace: Workspace, capsys: pytest.CaptureFixture[str]):
        super().__init__(sandbox, workspace, capsys)
        self.plan_file = workspace.root / "plan.json"

    def save_plan(self, *args: str) -> None:
        code, _, err = self.run("plan", str(self.config), "--out", str(self.plan_file), *args)
        assert code == 0, err

    def names(self) -> Counter[str]:
        return Counter(c["name"] for c in self.sandbox.email_campaigns())


EMAIL_CAMPAIGNS = "/v1/marketing/campaigns"


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


# --------------------------------------------------------------------------- 3. show PLANFILE


def _a_plan_with_every_change(env: Env) -> None:
    """A create, an update, a delete and an unmanaged campaign: every part of a rendering."""
    env.write("Alpha")
    env.write("Beta")
    env.write("Gamma")
    assert env.run("apply", str(env.config), "--auto-approve")[0] == 0
    env.write("Alpha", subject="Changed")
    (env.config / "Beta.yaml").unlink()
    env.write("Delta")
    env.sandbox.seed_email_campaigns(1, name_prefix="ui-")
    journey = journey_yaml("Journey", [("welcome", "Hi"), ("nudge", "Still there?")])
    (env.config / "Journey.yaml").write_text(journey, encoding="utf-8")


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_show_renders_a_saved_plan_as_plan_printed_it(
    env: Env, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _a_plan_with_every_change(env)
    code, planned, _ = env.run(
        "plan", str(env.config), "--format", fmt, "--out", str(env.plan_file)
    )
    assert code == 0
    for name in list(os.environ):  # no credentials, and an API that is not there
        if name.startswith(("ENGAGELAB_", "IMBRACE_", "CAMPAIGNCTL_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CAMPAIGNCTL_API_URL", "http://127.0.0.1:9")
    requests = env.sandbox.request_count()

    code, shown, err = env.run("show", str(env.plan_file), "--format", fmt)

    assert code == 0, err
    assert shown == planned  # byte for byte, key order included
    assert env.sandbox.request_count() == requests


def test_show_json_keeps_the_desired_fields_in_their_order(env: Env) -> None:
    env.write("Alpha")
    env.save_plan()
    planned = json.loads(env.run("plan", str(env.config), "--format", "json")[1])

    shown = json.loads(env.run("show", str(env.plan_file), "--format", "json")[1])

    assert list(shown["actions"][0]["desired"]) == list(planned["actions"][0]["desired"])
    # What legitimately differs between two plans: before the first apply there is no state
    # file, and each plan makes up a new lineage for the state it will create.
    assert shown["state"]["serial"] == planned["state"]["serial"] == 0
    assert shown["state"]["lineage"] != planned["state"]["lineage"]
    shown["state"]["lineage"] = planned["state"]["lineage"]
    assert shown == planned


def test_show_of_a_file_that_is_not_a_plan_is_a_one_line_error(env: Env) -> None:
    env.plan_file.write_text("not json", encoding="utf-8")

    code, out, err = env.run("show", str(env.plan_file))

    assert code == 1 and out == ""
    assert err.startswith("error: saved plan is not valid JSON") and "Traceback" not in err


# --------------------------------------------------------------------------- 4. targeting


def test_an_unknown_target_never_says_no_changes_while_creates_are_pending(env: Env) -> None:
    env.write("Spring sale")
    env.write("Autumn sale")

    code, out, err = env.run("plan", str(env.config), "--target", "Nope")

    assert code == 0, err
    assert "No changes. The live campaigns match the configuration." not in out
    assert "warning: --target 'Nope' matches no campaign" in out
    assert "warning: targeting is in effect: 2 changes outside the target are not shown" in out
    assert "No changes in the target" in out
    code, markdown, _ = env.run("plan", str(env.config), "--format", "markdown", "--target", "Nope")
    assert code == 0 and "No changes. The live campaigns" not in markdown
    assert "targeting is in effect: 2 changes outside the target are not shown" in markdown
    code, out, _ = env.run("plan", str(env.config), "--format", "json", "--target", "Nope")
    assert code == 0 and json.loads(out)["outside_target"] == 2


def test_each_unknown_target_is_warned_about_with_a_suggestion(env: Env) -> None:
    env.write("Spring sale")

    code, out, _ = env.run("plan", str(env.config), "--target", "Sprng sale", "--target", "Zzz")

    assert code == 0
    assert "--target 'Sprng sale' matches no campaign; did you mean 'Spring sale'?" in out
    assert "--target 'Zzz' matches no campaign" in out


@pytest.mark.parametrize(
    "pattern", ["Spring sale", "EmailCampaign/Spring sale", "Spring*", "EmailCampaign/Spr?ng*"]
)
def test_target_takes_names_kind_slash_name_and_globs(env: Env, pattern: str) -> None:
    env.write("Spring sale")
    env.write("Autumn sale")

    code, out, _ = env.run("plan", str(env.config), "--format", "json", "--target", pattern)

    data = json.loads(out)
    assert code == 0
    assert [a["name"] for a in data["actions"]] == ["Spring sale"]
    assert data["outside_target"] == 1
    assert "targeting is in effect: 1 change outside the target is not shown" in data["warnings"]


def test_exclude_leaves_campaigns_out_of_plan_and_apply(env: Env) -> None:
    env.write("Spring sale")
    env.write("Autumn sale")
    env.write("Winter sale")

    code, out, err = env.run(
        "apply", str(env.config), "--auto-approve", "--exclude", "Autumn*", "--exclude", "W*"
    )

    assert code == 0, err
    assert "targeting is in effect: 2 changes outside the target are not shown" in out
    assert env.names() == Counter({"Spring sale": 1})
    code, out, _ = env.run(
        "plan", str(env.config), "--format", "markdown", "--exclude", "Autumn*", "--exclude", "Nope"
    )
    assert "targeting is in effect: 1 change outside the target is not shown" in out
    assert "--exclude 'Nope' matches no campaign" in out


def test_a_targeted_plan_saved_and_shown_keeps_its_note(env: Env) -> None:
    env.write("Spring sale")
    env.write("Autumn sale")
    env.save_plan("--target", "Spring sale")

    code, out, _ = env.run("show", str(env.plan_file))

    assert code == 0
    assert "targeting is in effect: 1 change outside the target is not shown" in out


def test_calendar_takes_exclude(env: Env) -> None:
    env.write("Spring sale")
    env.write("Autumn sale")

    code, out, err = env.run("calendar", str(env.config), "--format", "json", "--exclude", "A*")

    assert code == 0, err
    assert "Autumn sale" not in out and "Spring sale" in out


# --------------------------------------------------------------------------- 2. progress

_START = 'EmailCampaign "Spring sale": creating...'
_CREATED = re.compile(r'EmailCampaign "Spring sale": created in \d+\.\d s \[id=(\d+)\]')


def test_without_a_terminal_each_step_is_a_line_as_it_starts_and_ends(env: Env) -> None:
    env.write("Spring sale")
    env.write("Autumn sale")

    code, _, err = env.run("apply", str(env.config), "--auto-approve")

    assert code == 0, err
    ended = _CREATED.search(err)
    assert ended is not None and err.index(_START) < ended.start()
    ids = {c["name"]: str(c["campaign_id"]) for c in env.sandbox.email_campaigns()}
    assert ended.group(1) == ids["Spring sale"]
    assert 'EmailCampaign "Autumn sale": creating...' in err
    env.write("Spring sale", subject="Changed")
    (env.config / "Autumn sale.yaml").unlink()
    code, _, err = env.run("apply", str(env.config), "--auto-approve")
    assert code == 0, err
    assert 'EmailCampaign "Spring sale": updating...' in err
    assert re.search(r'EmailCampaign "Spring sale": updated in \d+\.\d s \[id=\d+\]', err)
    assert 'EmailCampaign "Autumn sale": deleting...' in err
    assert re.search(r'EmailCampaign "Autumn sale": deleted in \d+\.\d s\n', err)


def test_a_slow_step_is_announced_while_it_runs(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    # The interval is made small and the sandbox slow: the "still" line comes from the
    # sandbox holding the request, not from a sleep in the test.
    monkeypatch.setattr(progress, "STILL_RUNNING_EVERY_S", 0.0)
    monkeypatch.setattr(applier_run, "_POLL_SECONDS", 0.01)
    env.write("Spring sale")
    env.save_plan()
    env.sandbox.set_latency(500)

    code, _, err = env.run("apply", str(env.plan_file))

    assert code == 0, err
    still = re.search(r'EmailCampaign "Spring sale": still creating \(\d+ s elapsed\)', err)
    ended = _CREATED.search(err)
    assert still is not None and ended is not None
    assert err.index(_START) < still.start() < ended.start()


def test_retries_are_announced_without_a_terminal_and_show_no_secret(env: Env) -> None:
    env.write("Spring sale")
    env.sandbox.faults.add("GET", EMAIL_CAMPAIGNS, "503", count=2)

    code, _, err = env.run("apply", str(env.config), "--auto-approve")

    assert code == 0, err
    assert f"retrying GET {EMAIL_CAMPAIGNS} after HTTP 503 (retry 1 of" in err
    assert "(retry 2 of" in err
    for secret in (env.sandbox.api_key, env.sandbox.imbrace_api_key):
        assert secret not in err


def test_on_a_terminal_the_counter_stays_and_no_step_lines_are_printed(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(12):
        env.write(f"C{i:02d}")
    monkeypatch.setattr(cmd_apply, "stderr_is_tty", lambda: True)

    code, _, err = env.run("apply", str(env.config), "--auto-approve")

    assert code == 0
    assert "\rApplying: 12/12 done, 0 failed, 0 blocked" in err
    assert "creating..." not in err


@pytest.mark.parametrize(
    ("options", "env_vars", "colored"),
    [((), {}, True), (("--no-color",), {}, False), ((), {"NO_COLOR": "1"}, False)],
)
def test_no_color_option_and_variable_turn_colour_off(
    env: Env,
    monkeypatch: pytest.MonkeyPatch,
    options: tuple[str, ...],
    env_vars: dict[str, str],
    colored: bool,
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    for name, value in env_vars.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)  # stdout "is" a terminal
    env.write("Spring sale")

    code, out, _ = env.run(*options, "plan", str(env.config))

    assert code == 0
    assert ("\x1b[" in out) is colored


def test_show_of_a_missing_file_names_it(env: Env) -> None:
    code, out, err = env.run("show", str(env.plan_file))

    assert code == 1 and out == ""
    assert err.startswith("error: cannot read the saved plan") and str(env.plan_file) in err


def test_without_a_terminal_a_failed_step_ends_with_its_failure(env: Env) -> None:
    env.write("Alpha")
    env.sandbox.faults.add("POST", EMAIL_CAMPAIGNS, "drop_before", count=2)

    code, _, err = env.run("apply", str(env.config), "--auto-approve")

    assert code == 1
    assert 'EmailCampaign "Alpha": creating...' in err
    assert re.search(r'EmailCampaign "Alpha": failed after \d+\.\d s\n', err)
    assert "created in" not in err


def test_no_color_with_any_value_is_not_a_usage_error(
    sandbox_env: Sandbox,
    in_tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """no-color.org: NO_COLOR set to anything turns colour off; click must not parse it."""
    (in_tmp_path / "campaigns.d").mkdir()
    monkeypatch.setenv("NO_COLOR", "please")
    code, _out, err = run_cli(capsys, "plan")
    assert code == 0, err
