"""The plan as a PR comment (issue 15, item 7): summary first, details collapsed, a link back
to the run; the recipe keeps ONE comment per pull request, updated on every push.

The recipe's comment script (examples/github-actions/plan-on-pr.yml) runs for real in node,
as actions/github-script runs it (an async function of require, github, context), against
an in-memory stand-in for GitHub's REST API: GitHub itself is the one part that cannot run
here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from builders import email_yaml
from conftest import run_cli

from reconciler.plan import Action, ActionKind, Plan, PolicyViolation, Reason
from reconciler.render import github_run_url, render_markdown
from reconciler.sandbox import Sandbox
from tests.test_ci_recipes import WORKFLOWS, load_yaml
from tests.test_render import sample_plan

RUN = {
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "acme/campaigns",
    "GITHUB_RUN_ID": "4242",
}
RUN_URL = "https://github.com/acme/campaigns/actions/runs/4242"

# --------------------------------------------------------------------------- the Markdown


def test_the_summary_comes_first_counts_then_what_needs_attention() -> None:
    plan = sample_plan()
    plan = Plan(actions=plan.actions, warnings=("a warning",), state_lineage=plan.state_lineage)
    text = render_markdown(plan, run_url=RUN_URL)
    lines = text.splitlines()
    assert lines[:6] == [
        "### campaignctl plan",
        "",
        "**Plan: 2 to create, 2 to update, 2 to delete, 1 blocked.**",
        "",
        "- ⛔ **1 blocked** (already ran; the ways on are below): `Sent newsletter`",
        "- 🔴 **2 live campaign(s) deleted or replaced**: `Old promo`, `Onboarding`",
    ]
    assert text.index(RUN_URL) < text.index("> **Warning:** a warning") < text.index("| action")
    # The details stay collapsed: one <details> per changed campaign.
    assert text.count("<details><summary>") == 6


def test_policy_errors_are_counted_in_the_summary_overridden_ones_not() -> None:
    def violation(rule: str, level: str, overridden: bool = False) -> PolicyViolation:
        return PolicyViolation(rule, level, "EmailCampaign", "A", "c.yaml", 1, "no", overridden)

    create = Action(ActionKind.CREATE, "EmailCampaign", "A", None, Reason.NOT_IN_LIVE, "m")
    plan = Plan(
        actions=(create,),
        policy=(violation("no-friday", "hard"), violation("x", "soft", overridden=True)),
    )
    text = render_markdown(plan)
    assert "- ⛔ **1 policy error(s)** stop apply: `no-friday`\n" in text
    assert text.index("policy error(s)") < text.index("#### Policy")


def test_a_plan_without_trouble_has_no_attention_lines() -> None:
    create = Action(ActionKind.CREATE, "EmailCampaign", "A", None, Reason.NOT_IN_LIVE, "m")
    text = render_markdown(Plan(actions=(create,)))
    assert "⛔" not in text and "deleted or replaced" not in text


def test_github_run_url_from_the_runner_environment() -> None:
    assert github_run_url(RUN) == RUN_URL
    assert github_run_url({**RUN, "GITHUB_RUN_ATTEMPT": "2"}) == f"{RUN_URL}/attempts/2"
    assert github_run_url({}) is None
    # Each part must have its form: nothing from the environment becomes markup.
    assert github_run_url({**RUN, "GITHUB_REPOSITORY": "a/b) [x](http://evil"}) is None
    assert github_run_url({**RUN, "GITHUB_SERVER_URL": "javascript:alert(1)"}) is None
    assert github_run_url({**RUN, "GITHUB_RUN_ID": "12a"}) is None


def test_plan_format_markdown_links_back_to_the_run(
    sandbox_env: Sandbox,
    in_tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (in_tmp_path / "campaigns.d").mkdir()
    (in_tmp_path / "campaigns.d" / "a.yaml").write_text(email_yaml("Promo"))
    code, out, _ = run_cli(capsys, "plan", "--format", "markdown")
    assert code == 0 and "actions/runs" not in out  # outside GitHub Actions: no link
    for name, value in RUN.items():
        monkeypatch.setenv(name, value)
    code, out, _ = run_cli(capsys, "plan", "--format", "markdown")
    assert code == 0
    assert f"[The workflow run]({RUN_URL}) made this plan." in out
    assert out.index("**Plan: 1 to create") < out.index(RUN_URL) < out.index("| action")


# --------------------------------------------------------------------------- the recipe

_HARNESS = r"""
const fs = require('fs');
const [scriptFile, worldFile] = process.argv.slice(2);
const world = JSON.parse(fs.readFileSync(worldFile, 'utf8'));
let nextId = 1000 + world.comments.length;
const github = {
  paginate: async (method, params) => (await method(params)).data,
  rest: { issues: {
    listComments: async ({ issue_number }) =>
      ({ data: world.comments.filter((c) => c.issue_number === issue_number) }),
    updateComment: async ({ comment_id, body }) => {
      world.comments.find((c) => c.id === comment_id).body = body;
      world.calls.push('update');
    },
    createComment: async ({ issue_number, body }) => {
      world.comments.push({ id: nextId++, issue_number, body, user: { type: 'Bot' } });
      world.calls.push('create');
    },
  } },
};
const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor;
const script = fs.readFileSync(scriptFile, 'utf8');
new AsyncFunction('require', 'github', 'context', script)(require, github, world.context)
  .then(() => fs.writeFileSync(worldFile, JSON.stringify(world)))
  .catch((e) => { console.error(e); process.exit(1); });
"""


def _comment_step() -> dict[str, Any]:
    steps = load_yaml(WORKFLOWS / "plan-on-pr.yml")["jobs"]["plan"]["steps"]
    (step,) = [s for s in steps if str(s.get("uses", "")).startswith("actions/github-script")]
    return step


def _post(tmp_path: Path, world: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """Run the recipe's script once, as actions/github-script would, over `world`."""
    node = shutil.which("node")
    assert node, "node runs the recipe's github-script step"
    (tmp_path / "script.js").write_text(_comment_step()["with"]["script"])
    (tmp_path / "harness.js").write_text(_HARNESS)
    world_file = tmp_path / "world.json"
    world_file.write_text(json.dumps(world))
    done = subprocess.run(
        [node, "harness.js", "script.js", str(world_file)],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(world_file.read_text())
    return result


def test_the_recipe_keeps_one_sticky_comment_updated_on_every_push(tmp_path: Path) -> None:
    step = _comment_step()
    assert step["env"]["PLAN_FILE"] == "${{ steps.plan.outputs.output-file }}"
    context = {
        "repo": {"owner": "acme", "repo": "campaigns"},
        "issue": {"number": 7},
        "sha": "m" * 40,
        "serverUrl": "https://github.com",
        "runId": 4242,
        "payload": {"pull_request": {"head": {"sha": "abcdef1234"}}},
    }
    human = {"id": 1, "issue_number": 7, "body": "quoting <!-- campaignctl-plan -->",
             "user": {"type": "User"}}  # fmt: skip
    world = {"comments": [human], "calls": [], "context": context}
    (tmp_path / "plan.md").write_text(render_markdown(sample_plan(), run_url=RUN_URL))
    env = {"PLAN_EXITCODE": "2", "PLAN_FILE": str(tmp_path / "plan.md")}
    world = _post(tmp_path, world, env)
    (tmp_path / "plan.md").write_text("### campaignctl plan\n\nNo changes.\n")
    world["context"]["payload"]["pull_request"]["head"]["sha"] = "fedcba9876"
    world = _post(tmp_path, world, env)
    assert world["calls"] == ["create", "update"]  # one comment, updated by the second push
    human_after, mine = world["comments"]
    assert human_after == human  # a person's comment quoting the marker is never touched
    assert mine["body"].startswith("<!-- campaignctl-plan -->\n### campaignctl plan\n\nNo changes.")
    assert mine["body"].endswith("<sub>for fedcba9</sub>")
    # A failed plan says so and links to the run's log.
    world = _post(tmp_path, world, {**env, "PLAN_EXITCODE": "1"})
    assert world["calls"] == ["create", "update", "update"]
    assert "### campaignctl plan failed" in world["comments"][1]["body"]
    assert f"[the run's log]({RUN_URL})" in world["comments"][1]["body"]
