"""The CI recipes in examples/github-actions/ and .pre-commit-hooks.yaml, run for real.

Each workflow is parsed; the steps whose script runs `campaignctl`, and the steps of the
repository's action (action.yml) where a workflow uses it, are executed in order with bash
as GitHub runs them (`bash -eo pipefail`), in a copy of the repository's layout, with the
workflow's `env` (secrets and variables replaced by the sandbox's values), the action's
inputs, and the GitHub files ($GITHUB_OUTPUT, $GITHUB_STEP_SUMMARY) in place. Other steps
(checkout, setup-python, the git push) need GitHub itself and are checked for shape; the
PR comment script runs in tests/test_pr_comment.py, the action's install in
tests/test_action.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from reconciler.sandbox import Sandbox

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / "examples" / "github-actions"
BIN = Path(sys.executable).parent
STEP_TIMEOUT_S = 60

_EXPRESSION = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")
_INVOKES = re.compile(r"^\s*campaignctl\s", re.MULTILINE)


def load_yaml(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


def triggers(workflow: Mapping[str, Any]) -> Mapping[str, Any]:
    # YAML 1.1 readers turn `on` into True; ruamel (1.2) keeps the string.
    return workflow.get("on") or workflow.get(True) or {}


@dataclass
class StepRun:
    name: str
    script: str
    code: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str


def expand(text: str, context: Mapping[str, str]) -> str:
    """Replace `${{ secrets.X }}`, `${{ vars.X }}` and `${{ env.X }}`; anything else fails."""

    def one(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression not in context:
            raise AssertionError(f"the test cannot evaluate ${{{{ {expression} }}}}")
        return context[expression]

    return _EXPRESSION.sub(one, text)


def campaignctl_steps(workflow: Mapping[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(job, step) for every step that runs campaignctl (a script or the action), in order."""
    out = []
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            if _INVOKES.search(step.get("run", "")) or uses_the_action(step):
                out.append((job, step))
    return out


# --------------------------------------------------------------------------- the action

ACTION = REPO / "action.yml"
_CONDITION = re.compile(r"inputs\.([\w-]+) (==|!=) '([^']*)'")


def uses_the_action(step: Mapping[str, Any]) -> bool:
    """True for `uses: OWNER/campaignctl@TAG` (or `./`, the repository's own action.yml)."""
    target = str(step.get("uses", "")).split("@")[0]
    return target.endswith("/campaignctl") or target in (".", "./")


def action_inputs(given: Mapping[str, Any]) -> dict[str, str]:
    """Every input of action.yml: the `with:` value given, else its default."""
    declared = load_yaml(ACTION)["inputs"]
    unknown = set(given) - set(declared)
    assert not unknown, f"action.yml has no input {sorted(unknown)}"
    return {name: str(given.get(name, spec.get("default", ""))) for name, spec in declared.items()}


def condition_holds(condition: str | None, inputs: Mapping[str, str]) -> bool:
    """The `if:` forms action.yml uses: `inputs.X == 'v'` and `inputs.X != 'v'`."""
    if condition is None:
        return True
    match = _CONDITION.fullmatch(condition.strip())
    assert match, f"the test cannot evaluate if: {condition}"
    name, operator, value = match.groups()
    return (inputs[name] == value) == (operator == "==")


def action_steps(given: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The action's `run:` steps that its inputs select, `${{ inputs.X }}` substituted.

    `uses:` steps (actions/setup-python) need GitHub's runner; each is checked for shape.
    """
    inputs = action_inputs(given)
    context = {f"inputs.{k}": v for k, v in inputs.items()}
    action = load_yaml(ACTION)
    assert action["runs"]["using"] == "composite"
    out = []
    for step in action["runs"]["steps"]:
        if not condition_holds(step.get("if"), inputs):
            continue
        if "uses" in step:
            assert step["uses"] == "actions/setup-python@v5", step
            continue
        assert step["shell"] == "bash", "a composite step names its shell"
        out.append(
            {
                **step,
                "name": expand(step.get("name", ""), context),
                "run": expand(step["run"], context),
                "env": {k: expand(str(v), context) for k, v in (step.get("env") or {}).items()},
            }
        )
    return out


def expand_action(step: Mapping[str, Any], overrides: Mapping[str, str]) -> list[dict[str, Any]]:
    """A workflow step as the steps to run: the action's, with its inputs, or itself."""
    if not uses_the_action(step):
        return [dict(step)]
    return action_steps({**(step.get("with") or {}), **overrides})


def run_workflow(
    name: str,
    workspace: Path,
    context: Mapping[str, str],
    *,
    overrides: Mapping[str, str] | None = None,
) -> list[StepRun]:
    """Run the campaignctl steps of one workflow in order; stop at the first failing step.

    A step using the action runs the action's own steps (see run_steps). `overrides` are
    inputs given to the action on top of the workflow's `with:`: the recipes run with
    `install: none` (the campaignctl under test is on PATH; test_action.py installs it).
    """
    workflow = load_yaml(WORKFLOWS / name)
    runs: list[StepRun] = []
    for job, step in campaignctl_steps(workflow):
        steps = expand_action(step, overrides or {"install": "none"})
        runs += run_steps(steps, workspace, context, scopes=[workflow, job, step])
        if runs and runs[-1].code != 0:
            break
    return runs


def run_steps(
    steps: list[dict[str, Any]],
    workspace: Path,
    context: Mapping[str, str],
    *,
    scopes: list[Mapping[str, Any]],
    path: Path = BIN,
    action_path: Path = REPO,
) -> list[StepRun]:
    """Run `run:` steps in order with bash as GitHub runs them; stop at the first failure.

    Each gets the `env` of its scopes (workflow, job, step) and its own, and the files and
    variables a runner provides ($GITHUB_OUTPUT, $GITHUB_STEP_SUMMARY, $RUNNER_TEMP, and
    $GITHUB_ACTION_PATH: this repository, where the action lives). `path` leads PATH.
    """
    runs: list[StepRun] = []
    runner_temp = workspace / ".runner_temp"
    runner_temp.mkdir(exist_ok=True)
    for step in steps:
        env = {
            "PATH": f"{path}{os.pathsep}/usr/bin{os.pathsep}/bin",
            "HOME": str(workspace),
            "LANG": "C.UTF-8",
            "GITHUB_SHA": "0123456789abcdef",
            "GITHUB_ACTION_PATH": str(action_path),
            "RUNNER_TEMP": str(runner_temp),
        }
        for scope in [*scopes, step]:
            for key, value in (scope.get("env") or {}).items():
                env[key] = expand(
                    str(value), {**context, **{f"env.{k}": v for k, v in env.items()}}
                )
        output_file = workspace / ".github_output"
        summary_file = workspace / ".github_step_summary"
        output_file.write_text("")
        summary_file.write_text("")
        env["GITHUB_OUTPUT"], env["GITHUB_STEP_SUMMARY"] = str(output_file), str(summary_file)
        script = expand(step["run"], context)
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            cwd=workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT_S,
            check=False,
        )
        outputs = dict(
            line.split("=", 1) for line in output_file.read_text().splitlines() if "=" in line
        )
        runs.append(
            StepRun(
                step.get("name") or step["run"].strip(),
                script,
                done.returncode,
                done.stdout,
                done.stderr,
                outputs,
                summary_file.read_text(),
            )
        )
        if done.returncode != 0:
            break
    return runs


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A campaigns repository as a user would have it: campaigns.d/ and an empty state/."""
    shutil.copytree(REPO / "campaigns.d", tmp_path / "campaigns.d")
    (tmp_path / "state").mkdir()
    return tmp_path


def by_name(runs: list[StepRun]) -> dict[str, StepRun]:
    return {r.name: r for r in runs}


# --------------------------------------------------------------------------- shape


def test_every_workflow_runs_campaignctl_with_secrets_from_the_environment() -> None:
    names = sorted(p.name for p in WORKFLOWS.glob("*.yml"))
    assert names == ["apply-on-merge.yml", "drift-schedule.yml", "plan-on-pr.yml"]
    for name in names:
        workflow = load_yaml(WORKFLOWS / name)
        assert campaignctl_steps(workflow), name
        env = workflow["env"]
        assert env["ENGAGELAB_API_KEY"] == "${{ secrets.ENGAGELAB_API_KEY }}"
        for _, step in campaignctl_steps(workflow):
            assert "secrets." not in str(step), "secrets go through env, never into scripts"
        assert sum(uses_the_action(s) for j in workflow["jobs"].values() for s in j["steps"]) == 1


def test_every_recipe_uses_the_action_at_a_tag_and_says_why() -> None:
    for name in ("apply-on-merge.yml", "drift-schedule.yml", "plan-on-pr.yml"):
        text = (WORKFLOWS / name).read_text()
        assert "uses: OWNER/campaignctl@v0.1.0" in text
        assert "not on PyPI yet, so the action installs itself: that tag" in text
        assert "pip install" not in text  # the action installs it


def test_plan_on_pr_updates_one_comment_found_by_a_hidden_marker() -> None:
    workflow = load_yaml(WORKFLOWS / "plan-on-pr.yml")
    assert "pull_request" in triggers(workflow)
    assert workflow["permissions"]["pull-requests"] == "write"
    steps = workflow["jobs"]["plan"]["steps"]
    (plan,) = [s for s in steps if uses_the_action(s)]
    assert plan["with"] == {"command": "plan", "format": "markdown"}
    assert action_inputs(plan["with"])["validate"] == "true"
    (comment,) = [s for s in steps if str(s.get("uses", "")).startswith("actions/github-script")]
    script = comment["with"]["script"]
    assert "<!-- campaignctl-plan -->" in script
    assert "updateComment" in script and "createComment" in script
    assert script.index("updateComment") < script.index("createComment")


def test_apply_on_merge_never_overlaps_and_keeps_the_state() -> None:
    workflow = load_yaml(WORKFLOWS / "apply-on-merge.yml")
    assert triggers(workflow)["push"]["branches"] == ["main"]
    assert workflow["concurrency"] == {"group": "campaignctl-apply", "cancel-in-progress": False}
    steps = workflow["jobs"]["apply"]["steps"]
    (apply_step,) = [s for s in steps if uses_the_action(s)]
    assert apply_step["with"]["command"] == "apply"
    assert "apply --auto-approve" in load_yaml(ACTION)["runs"]["steps"][-1]["run"]
    keep = [s for s in steps if "git push" in s.get("run", "")]
    assert keep and keep[0]["if"] == "always()"
    assert steps.index(keep[0]) > steps.index(apply_step)


def test_drift_runs_on_a_schedule_in_its_own_concurrency_group() -> None:
    workflow = load_yaml(WORKFLOWS / "drift-schedule.yml")
    assert triggers(workflow)["schedule"][0]["cron"]
    assert workflow["concurrency"]["group"] != "campaignctl-apply"


def test_pre_commit_hook_definition() -> None:
    (hook,) = load_yaml(REPO / ".pre-commit-hooks.yaml")
    assert hook["id"] == "campaignctl-validate"
    assert hook["entry"] == "campaignctl validate"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False
    assert re.search(hook["files"], "campaigns.d/promo.yml")
    assert re.search(hook["files"], "campaigns.d/promo.yaml")
    assert not re.search(hook["files"], "README.md")


def test_pre_commit_hook_entry_passes_valid_and_fails_invalid_config(workspace: Path) -> None:
    (hook,) = load_yaml(REPO / ".pre-commit-hooks.yaml")
    command = [str(BIN / hook["entry"].split()[0]), *hook["entry"].split()[1:]]
    env = {"PATH": f"{BIN}{os.pathsep}/usr/bin", "HOME": str(workspace)}
    ok = subprocess.run(command, cwd=workspace, env=env, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    (workspace / "campaigns.d" / "broken.yaml").write_text(
        "name: Broken\ncampaign_type: sometimes\n"
    )
    bad = subprocess.run(
        command, cwd=workspace, env=env, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 1
    assert "broken.yaml" in bad.stdout + bad.stderr


# --------------------------------------------------------------------------- end to end


def test_the_recipes_run_in_order_against_the_sandbox(
    sandbox: Sandbox, workspace: Path, context: dict[str, str]
) -> None:
    # 1. A pull request adds the example campaigns: valid, and the plan shows changes.
    runs = by_name(run_workflow("plan-on-pr.yml", workspace, context))
    assert [r.code for r in runs.values()] == [0, 0, 0]
    plan = runs["Run campaignctl plan"]
    assert plan.outputs["exitcode"] == "2"
    markdown = Path(plan.outputs["output-file"]).read_text()
    assert "Q3 Re-engagement" in markdown and len(markdown) < 65_536
    assert "Q3 Re-engagement" in plan.summary
    assert Path(plan.outputs["plan-file"]).is_file()  # the saved plan, for `apply PLANFILE`

    # 2. Merged: apply creates them and writes the state the bot commits.
    runs = by_name(run_workflow("apply-on-merge.yml", workspace, context))
    assert [r.code for r in runs.values()] == [0, 0, 0, 0], runs
    assert "Apply complete: 6 created" in runs["Run campaignctl apply"].stdout
    assert (workspace / "state" / "production.json").is_file()
    assert len(sandbox.email_campaigns()) == 5 and len(sandbox.touchpoint_campaigns()) == 1

    # 3. The next pull request without campaign changes plans nothing.
    plan = by_name(run_workflow("plan-on-pr.yml", workspace, context))["Run campaignctl plan"]
    assert plan.code == 0 and plan.outputs["exitcode"] == "0"

    # 4. The scheduled drift check passes, until someone edits a campaign in the vendor's UI.
    _, drift = run_workflow("drift-schedule.yml", workspace, context)
    assert drift.code == 0, drift.stderr
    assert "No drift" in drift.summary
    target = next(c for c in sandbox.email_campaigns() if c["name"] == "Q3 Re-engagement")
    sandbox.edit_email_campaign(target["campaign_id"], template_invoke_name="edited_in_ui")
    _, drift = run_workflow("drift-schedule.yml", workspace, context)
    assert drift.code == 2 and drift.outputs["exitcode"] == "2"
    assert "| fields_changed | EmailCampaign | Q3 Re-engagement |" in drift.summary
    assert "::error title=campaignctl drift::" in drift.stdout

    # 5. A merge reverts the edit; the vendor sends a campaign, reported once: the next
    # apply run records the new status as the baseline.
    sent = next(c for c in sandbox.email_campaigns() if c["name"] == "Partner offer with terms")
    sandbox.set_email_status(sent["campaign_id"], 2)
    _, drift = run_workflow("drift-schedule.yml", workspace, context)
    assert drift.code == 2 and "status_changed" in drift.summary
    runs = by_name(run_workflow("apply-on-merge.yml", workspace, context))
    assert [r.code for r in runs.values()] == [0, 0, 0, 0], runs
    assert "1 updated" in runs["Run campaignctl apply"].stdout
    _, drift = run_workflow("drift-schedule.yml", workspace, context)
    assert drift.code == 0, drift.summary


def test_plan_on_pr_turns_invalid_yaml_into_annotations_and_fails(
    sandbox: Sandbox, workspace: Path, context: dict[str, str]
) -> None:
    (workspace / "campaigns.d" / "broken.yaml").write_text(
        "name: Broken\ncampaign_type: normal\nto: {type: tag, value: [x]}\nsendr_id: 53\n"
    )
    _, validate = run_workflow("plan-on-pr.yml", workspace, context)
    assert validate.name == "Validate" and validate.code == 1
    assert re.search(
        r"^::error file=campaigns\.d/broken\.yaml,line=4", validate.stdout, re.MULTILINE
    )
    assert sandbox.request_count() == 0  # validation is offline; the plan step never ran


def test_plan_step_fails_on_an_error_but_not_on_changes(
    sandbox: Sandbox, workspace: Path, context: dict[str, str]
) -> None:
    wrong = {**context, "secrets.ENGAGELAB_API_KEY": "not-the-key"}
    plan = by_name(run_workflow("plan-on-pr.yml", workspace, wrong))["Run campaignctl plan"]
    assert plan.code == 1
    assert plan.outputs["exitcode"] == "1"
    assert "not-the-key" not in plan.stdout + plan.stderr
