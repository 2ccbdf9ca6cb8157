"""A blocked plan says how to go on, and each way it names really unblocks the plan.

A campaign that already ran cannot change: every plan and apply stays blocked (exit 2 / 3)
until the YAML or the state changes. The plan (text, JSON `remedies`, Markdown) and apply
(text, JSON) name the real campaign and fields; each remedy, followed, gives a clean plan.
"""

from __future__ import annotations

import io
import json
from typing import Any

import builders
import pytest
from conftest import Workspace

from reconciler import render
from reconciler.cli import cmd_apply, run
from reconciler.live import LiveCampaign, LiveTouchpoint
from reconciler.loader import LoadedCampaign
from reconciler.model import (
    EMAIL_DIFFABLE_FIELDS,
    MESSAGING_DIFFABLE_FIELDS,
    Source,
    campaign_adapter,
)
from reconciler.plan import ActionKind, Reason
from reconciler.planner import compute_plan
from reconciler.render import remedies, render_markdown, render_text
from reconciler.sandbox import Sandbox
from reconciler.state import ManagedRecord, State, StateStore

NAME = "Spring newsletter"


def email_yaml(subject: str = "Hello", lifecycle: str = "") -> str:
    return builders.email_yaml(NAME, subject=subject, extra=lifecycle)


class Env:
    def __init__(self, sandbox: Sandbox, workspace: Workspace, capsys: pytest.CaptureFixture[str]):
        self.sandbox = sandbox
        self.config = workspace.config
        self.file = self.config / "spring.yaml"
        self.state = workspace.state
        self.capsys = capsys

    def run(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = run(["--state", str(self.state), *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def plan(self, *args: str) -> tuple[int, str, str]:
        return self.run("plan", str(self.config), "--detailed-exitcode", *args)

    def sent_then_changed(self) -> None:
        """Apply, the campaign is sent (status 2), then its subject changes in the YAML."""
        self.file.write_text(email_yaml(), encoding="utf-8")
        assert self.run("apply", str(self.config), "--auto-approve")[0] == 0
        remote_id = StateStore(self.state).read().campaigns[f"EmailCampaign/{NAME}"].remote_id
        self.sandbox.set_email_status(int(remote_id), 2)
        self.file.write_text(email_yaml(subject="Changed"), encoding="utf-8")


@pytest.fixture
def env(sandbox_env: Sandbox, workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> Env:
    return Env(sandbox_env, workspace, capsys)


STATE_RM = f"campaignctl state rm '{NAME}'"
IGNORE = "lifecycle: {ignore_changes: [subject]}"


# --------------------------------------------------------------------------- the outputs


def test_blocked_plan_text_names_the_campaign_the_field_and_three_ways_on(env: Env) -> None:
    env.sent_then_changed()
    code, out, _ = env.plan()
    assert code == 2
    assert "To go on, do one of these:" in out
    assert f'- revert the YAML change to subject of "{NAME}"' in out
    assert IGNORE in out
    assert STATE_RM in out


def test_blocked_plan_json_carries_machine_readable_remedies(env: Env) -> None:
    env.sent_then_changed()
    code, out, _ = env.plan("--format", "json")
    assert code == 2
    (action,) = json.loads(out)["actions"]
    assert action["action"] == "blocked"
    remedies = {r["code"]: r for r in action["remedies"]}
    assert list(remedies) == ["revert_yaml", "ignore_changes", "stop_managing"]
    assert remedies["revert_yaml"]["fields"] == ["subject"]
    assert remedies["ignore_changes"]["yaml"] == IGNORE
    assert remedies["stop_managing"]["command"] == STATE_RM
    assert all(NAME in r["text"] for r in remedies.values())


def test_blocked_plan_markdown_lists_the_remedies(env: Env) -> None:
    env.sent_then_changed()
    code, out, _ = env.plan("--format", "markdown")
    assert code == 2
    assert "#### Blocked: these campaigns already ran" in out
    assert f"`{IGNORE}`" in out
    assert f"`{STATE_RM}`" in out


def test_blocked_apply_exits_3_and_says_how_to_go_on(env: Env) -> None:
    env.sent_then_changed()
    code, out, err = env.run("apply", str(env.config), "--auto-approve")
    assert code == 3
    assert "To go on, do one of these:" in out + err
    assert STATE_RM in out + err


def test_blocked_apply_json_steps_carry_remedies(env: Env) -> None:
    env.sent_then_changed()
    code, out, _ = env.run("apply", str(env.config), "--auto-approve", "--format", "json")
    assert code == 3
    (step,) = json.loads(out)["steps"]
    assert step["outcome"] == "blocked"
    assert [r["code"] for r in step["remedies"]] == [
        "revert_yaml",
        "ignore_changes",
        "stop_managing",
    ]


class _AnswerAfter(io.StringIO):
    """A terminal's answer; `at_prompt` runs when it is read (after the plan was shown)."""

    def __init__(self, at_prompt: Any) -> None:
        super().__init__("yes\n")
        self.at_prompt = at_prompt

    def readline(self, size: int | None = -1) -> str:
        self.at_prompt()
        return super().readline()


def test_blocked_only_at_apply_time_still_says_how_to_go_on(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The campaign starts sending between the plan and the answer: the plan showed an
    update, so apply's own report names the way forward."""
    env.file.write_text(email_yaml(), encoding="utf-8")
    assert env.run("apply", str(env.config), "--auto-approve")[0] == 0
    remote_id = int(StateStore(env.state).read().campaigns[f"EmailCampaign/{NAME}"].remote_id)
    env.file.write_text(email_yaml(subject="Changed"), encoding="utf-8")
    monkeypatch.setattr(cmd_apply, "stdin_is_tty", lambda: True)
    monkeypatch.setattr(
        "sys.stdin", _AnswerAfter(lambda: env.sandbox.set_email_status(remote_id, 1))
    )
    code, _, err = env.run("apply", str(env.config))
    assert code == 3
    assert f"blocked: EmailCampaign/{NAME}" in err
    assert IGNORE in err and STATE_RM in err


# --------------------------------------------------------------------------- each remedy works


def test_remedy_revert_the_yaml_unblocks(env: Env) -> None:
    env.sent_then_changed()
    env.file.write_text(email_yaml(), encoding="utf-8")
    assert env.plan()[0] == 0


def test_remedy_ignore_changes_unblocks(env: Env) -> None:
    env.sent_then_changed()
    env.file.write_text(email_yaml("Changed", f"{IGNORE}\n"), encoding="utf-8")
    assert env.plan()[0] == 0


def test_remedy_stop_managing_unblocks(env: Env) -> None:
    env.sent_then_changed()
    env.file.unlink()
    assert env.run("state", "rm", NAME)[0] == 0  # the command the plan printed
    code, out, _ = env.plan()
    assert code == 0, out
    assert env.sandbox.email_campaigns()[0]["name"] == NAME  # left live, untouched


def test_blocked_delete_of_a_sent_campaign_says_state_rm_or_allow(env: Env) -> None:
    env.sent_then_changed()
    env.file.unlink()
    code, out, _ = env.plan("--format", "json")
    assert code == 2
    (action,) = json.loads(out)["actions"]
    assert action["reason"] == "executed_cannot_delete"
    remedies = {r["code"]: r for r in action["remedies"]}
    assert set(remedies) == {"restore_yaml", "stop_managing", "allow_delete_executed"}
    assert remedies["stop_managing"]["command"] == STATE_RM
    assert env.run("state", "rm", NAME)[0] == 0
    assert env.plan()[0] == 0


# --------------------------------------------------------------------------- planner level


def _loaded(data: dict[str, Any]) -> LoadedCampaign:
    model = campaign_adapter.validate_python(data)
    return LoadedCampaign(model=model, source=Source("campaigns.d/c.yaml", 1, 1))


def test_completed_touchpoint_campaign_suggests_ignoring_touchpoints() -> None:
    def journey(text: str) -> LoadedCampaign:
        return _loaded(
            {
                "kind": "MessagingCampaign",
                "name": "Welcome journey",
                "channel_type": "whatsapp",
                "touchpoints": [{"name": "Hi", "type": "message", "message": text}],
            }
        )

    old, new = journey("Hi!"), journey("Hello!")
    live = LiveCampaign(
        "MessagingCampaign",
        "cmp_1",
        "Welcome journey",
        "completed",
        {"name": "Welcome journey", "channel_type": "whatsapp"},
        (LiveTouchpoint("tp_1", "Hi", "message"),),
    )
    state = State()
    state.put(
        ManagedRecord(
            "MessagingCampaign",
            "Welcome journey",
            "cmp_1",
            {**old.canonical(), "touchpoints": [{"name": "Hi", "type": "message", "message": "x"}]},
            touchpoint_ids={"Hi": "tp_1"},
        )
    )
    plan = compute_plan([new], state, [live])
    (action,) = [a for a in plan.actions if a.action == ActionKind.BLOCKED]
    assert action.reason == Reason.CAMPAIGN_COMPLETED
    remedies = {r.code: r for r in render.remedies_for(action)}
    assert remedies["ignore_changes"].yaml == "lifecycle: {ignore_changes: [touchpoints]}"
    assert remedies["stop_managing"].command == "campaignctl state rm 'Welcome journey'"
    assert "ignore_changes: [touchpoints]" in render_text(plan)
    assert "ignore_changes: [touchpoints]" in render_markdown(plan)


def test_without_state_stop_managing_is_only_removing_the_yaml() -> None:
    new = _loaded(
        {
            "kind": "EmailCampaign",
            "name": NAME,
            "campaign_type": "normal",
            "to": {"type": "tag", "value": ["a"]},
            "sender_id": 53,
            "template_invoke_name": "tpl",
            "reply_to": "new@example.com",
        }
    )
    fields = {**new.canonical(), "reply_to": "old@example.com"}
    live = LiveCampaign("EmailCampaign", "7", NAME, 2, fields, ())
    plan = compute_plan([new], None, [live])
    (action,) = plan.actions
    assert action.action == ActionKind.BLOCKED
    stop = next(r for r in render.remedies_for(action, stateful=False) if r.code == "stop_managing")
    assert stop.command is None and "state rm" not in render_text(plan)


def test_ignorable_fields_match_what_the_loader_accepts() -> None:
    """render reads them from the vendor declarations: the remedy offers what the loader takes."""
    assert set(remedies._ignorable("EmailCampaign")) == set(EMAIL_DIFFABLE_FIELDS) - {
        "campaign_type"
    }
    assert set(remedies._ignorable("MessagingCampaign")) == set(MESSAGING_DIFFABLE_FIELDS)
    assert remedies._ignorable("NoSuchKind") == ()
