"""The repository's GitHub Action, action.yml (issue 15, item 8), its steps run for real.

tests/test_ci_recipes.py holds the machinery: parse action.yml, give it inputs, run each
`run:` step in bash against the sandbox. Here: its install step installs this version into
a fresh venv (offline, tests/dist_support.py), and each input reaches campaignctl.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from builders import email_yaml

from reconciler.sandbox import Sandbox
from tests.dist_support import fresh_venv, source_copy
from tests.test_ci_recipes import (
    ACTION,
    REPO,
    StepRun,
    action_steps,
    by_name,
    load_yaml,
    run_steps,
)

#: The job environment the recipes give campaignctl (credentials: the sandbox's).
JOB_ENV = {
    "CAMPAIGNCTL_API_URL": "${{ vars.CAMPAIGNCTL_API_URL }}",
    "CAMPAIGNCTL_TOUCHPOINT_API_URL": "${{ vars.CAMPAIGNCTL_TOUCHPOINT_API_URL }}",
    "ENGAGELAB_API_USER": "${{ secrets.ENGAGELAB_API_USER }}",
    "ENGAGELAB_API_KEY": "${{ secrets.ENGAGELAB_API_KEY }}",
    "IMBRACE_API_KEY": "${{ secrets.IMBRACE_API_KEY }}",
}


def run_action(root: Path, context: dict[str, str], **inputs: str) -> dict[str, StepRun]:
    """The action's steps run in `root` with `inputs` (install: none unless given)."""
    steps = action_steps({"install": "none", **inputs})
    return by_name(run_steps(steps, root, context, scopes=[{"env": JOB_ENV}]))


def test_the_action_is_composite_with_the_inputs_and_outputs_of_the_brief() -> None:
    action = load_yaml(ACTION)
    assert action["runs"]["using"] == "composite"
    assert {"command", "config-dir", "state", "workspace", "format", "args"} <= set(
        action["inputs"]
    )
    assert {"exitcode", "plan-file", "output-file"} <= set(action["outputs"])
    for output in action["outputs"].values():
        assert output["value"].startswith("${{ steps.campaignctl.outputs.")
    assert "not on PyPI yet" in ACTION.read_text()


@pytest.mark.slow
def test_the_install_step_installs_this_version_of_campaignctl_and_plans(
    sandbox: Sandbox, tmp_path: Path, context: dict[str, str]
) -> None:
    # The default install is the action's own checkout: the tag named in `uses:`.
    bin_dir = fresh_venv(tmp_path / "venv")
    source = source_copy(tmp_path / "action")
    workspace = tmp_path / "repo"
    shutil.copytree(REPO / "campaigns.d", workspace / "campaigns.d")
    # Offline: no index, and the build uses the venv's setuptools (pip reads
    # PIP_NO_BUILD_ISOLATION=0 as --no-build-isolation); a fetch would fail the step.
    offline = {"env": {"PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0"}}
    runs = by_name(
        run_steps(
            action_steps({"command": "plan"}),
            workspace,
            context,
            scopes=[{"env": JOB_ENV}, offline],
            path=bin_dir,
            action_path=source,
        )
    )
    install = runs["Install campaignctl"]
    assert install.code == 0, install.stderr
    assert install.stdout.endswith("campaignctl, version 0.1.0\n")
    assert (bin_dir / "campaignctl").is_file()  # installed into the fresh venv, not ours
    plan = runs["Run campaignctl plan"]
    assert plan.code == 0 and plan.outputs["exitcode"] == "2", plan.stderr
    assert "**Plan: 6 to create" in plan.summary


def test_config_dir_state_workspace_and_args_reach_campaignctl(
    sandbox: Sandbox, tmp_path: Path, context: dict[str, str]
) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "a.yaml").write_text(email_yaml("Alpha"))
    (tmp_path / "mine" / "b.yaml").write_text(email_yaml("Beta"))
    (tmp_path / "states").mkdir()
    runs = run_action(
        tmp_path,
        context,
        command="apply",
        format="json",
        **{
            "config-dir": "mine",
            "state": "states/team.json",
            "workspace": "staging",
            "args": "--target 'Alpha' --parallelism 1",
        },
    )
    assert runs["Validate"].code == 0
    apply = runs["Run campaignctl apply"]
    assert apply.code == 0, apply.stdout + apply.stderr
    assert apply.outputs["exitcode"] == "0"
    assert [c["name"] for c in sandbox.email_campaigns()] == ["Alpha"]  # --target
    state_files = sorted(p.name for p in (tmp_path / "states").iterdir())
    assert any("staging" in name for name in state_files), state_files
    json.loads(Path(apply.outputs["output-file"]).read_text())  # --format json
    assert apply.summary == ""  # apply's output is in the log, not the job summary


def test_the_plan_file_output_is_what_apply_then_applies(
    sandbox: Sandbox, tmp_path: Path, context: dict[str, str]
) -> None:
    (tmp_path / "campaigns.d").mkdir()
    (tmp_path / "campaigns.d" / "a.yaml").write_text(email_yaml("Alpha"))
    plan = run_action(tmp_path, context, command="plan", format="text")["Run campaignctl plan"]
    assert plan.code == 0 and plan.outputs["exitcode"] == "2"
    assert plan.summary == ""  # only Markdown goes to the job summary
    saved = plan.outputs["plan-file"]
    (tmp_path / "campaigns.d" / "b.yaml").write_text(email_yaml("Beta"))  # not in the plan
    runs = run_action(tmp_path, context, command="apply", validate="false",
                      **{"plan-file": saved})  # fmt: skip
    assert "Validate" not in runs
    assert runs["Run campaignctl apply"].code == 0, runs["Run campaignctl apply"].stderr
    assert [c["name"] for c in sandbox.email_campaigns()] == ["Alpha"]


def test_bad_args_quoting_and_an_unknown_command_fail_before_any_request(
    sandbox: Sandbox, tmp_path: Path, context: dict[str, str]
) -> None:
    (tmp_path / "campaigns.d").mkdir()
    (tmp_path / "campaigns.d" / "a.yaml").write_text(email_yaml("Alpha"))
    bad = run_action(tmp_path, context, command="plan", args="--target 'unclosed")
    assert bad["Run campaignctl plan"].code == 1
    assert "No closing quotation" in bad["Run campaignctl plan"].stderr
    unknown = run_action(tmp_path, context, command="destroy", validate="false")
    step = unknown["Run campaignctl destroy"]
    assert step.code == 1
    assert "::error title=campaignctl::command must be plan, apply or drift" in step.stdout
    assert sandbox.request_count() == 0
