"""The unmanaged hint names the command that deletes: `apply --prune` (plan never deletes)."""

from __future__ import annotations

from builders import state_of

from reconciler.drift import DriftKind, compute_drift
from reconciler.live import EMAIL_KIND, LiveCampaign
from reconciler.plan import Action, ActionKind, Plan, Reason
from reconciler.render import render_markdown, render_text

UNMANAGED = Action(ActionKind.NO_OP, EMAIL_KIND, "Made in the UI", "9", Reason.UNMANAGED, "m")


def test_plan_text_hint_says_apply_prune() -> None:
    text = render_text(Plan(actions=(UNMANAGED,)), color=False)
    hint = next(line for line in text.splitlines() if line.startswith("Unmanaged"))
    assert "`apply --prune` deletes them" in hint


def test_plan_markdown_hint_says_apply_prune() -> None:
    text = render_markdown(Plan(actions=(UNMANAGED,)))
    assert "`campaignctl apply --prune` deletes them" in text


def test_drift_hint_says_apply_prune_never_plan_prune() -> None:
    live = LiveCampaign(EMAIL_KIND, "9", "Made in the UI", 0, {"name": "Made in the UI"})
    (item,) = compute_drift(state_of(), [live]).items
    assert item.drift == DriftKind.unmanaged
    assert "apply --prune" in item.message
    assert "plan --prune" not in item.message
