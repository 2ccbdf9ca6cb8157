"""reconciler.planner.safety: the destroy-too-much rule and the stale-plan check."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from reconciler.errors import UnsafePlan
from reconciler.live import LiveCampaign
from reconciler.plan import (
    ActionKind,
    Plan,
    Reason,
)

if TYPE_CHECKING:
    pass
from reconciler.planner.identity import (
    StateLike,
    _LiveIndex,
    _records_by_key,
)

#: semantics.md "Safety": deletes + replaces may reach 30% of the managed campaigns...
SAFE_DESTROY_RATIO = 0.3


#: ...a rule that applies from this many managed campaigns up.
MIN_MANAGED_FOR_RATIO = 10


def check_safety(plan: Plan, state: StateLike | None, *, force: bool) -> None:
    """Raise UnsafePlan when the plan destroys too much (semantics.md "Safety"), unless `force`.

    Too much: deletes + replaces above 30% of the managed campaigns when at least 10 are
    managed, or every managed campaign deleted (an empty or wrong config directory).
    """
    if force:
        return
    managed = plan.managed
    if managed is None:
        managed = len(state.campaigns) if state is not None else 0
    destroyed = sum(1 for a in plan.actions if a.action in (ActionKind.DELETE, ActionKind.REPLACE))
    removed = sum(
        1
        for a in plan.actions
        if a.action == ActionKind.DELETE and a.reason == Reason.DELETE_BECAUSE_NO_CONFIG
    )
    hint = "check the config directory; rerun with --force if this is intended"
    if managed >= 1 and removed >= managed:
        raise UnsafePlan(
            f"the plan deletes every managed campaign ({removed} of {managed})", hint=hint
        )
    if managed >= MIN_MANAGED_FOR_RATIO and destroyed > SAFE_DESTROY_RATIO * managed:
        share = 100 * destroyed / managed
        raise UnsafePlan(
            f"the plan deletes or replaces {destroyed} of {managed} managed campaigns "
            f"({share:.0f}%, more than the {SAFE_DESTROY_RATIO:.0%} allowed from "
            f"{MIN_MANAGED_FOR_RATIO} managed campaigns up)",
            hint=hint,
        )


def find_stale(plan: Plan, state: StateLike | None, live: Sequence[LiveCampaign]) -> list[str]:
    """What changed since a saved plan was made: one sentence per stale action or state.

    An action is stale when its live object changed (fingerprint), disappeared, or, for a
    create, when a campaign of that name appeared that the state does not know. No-op and
    blocked actions send nothing, so they are never stale.
    """
    out: list[str] = []
    state_note = _state_mismatch(plan, state)
    if state_note:
        out.append(state_note)
    index = _LiveIndex(live)
    known_ids = {(r.kind, r.remote_id) for r in _records_by_key(state).values()}
    for action in plan.actions:
        # Apply sends nothing for these; a blocked campaign's status only moves forward.
        if action.action in (ActionKind.NO_OP, ActionKind.BLOCKED):
            continue
        label = f"{action.kind} {action.name!r}"
        if action.remote_id is None:
            appeared = [
                obj.remote_id
                for obj in index.by_name.get((action.kind, action.name), ())
                if (obj.kind, obj.remote_id) not in known_ids
            ]
            if appeared:
                out.append(
                    f"{label}: a live campaign of that name appeared ({', '.join(appeared)})"
                )
            continue
        obj = index.by_id.get((action.kind, action.remote_id))
        if action.reason == Reason.FORGET_DELETED:
            if obj is not None:
                out.append(f"{label}: live campaign {action.remote_id} is back")
            continue
        if obj is None:
            out.append(f"{label}: live campaign {action.remote_id} is gone")
        elif obj.fingerprint != action.live_fingerprint:
            out.append(f"{label}: live campaign {action.remote_id} changed since the plan")
    return out


def _state_mismatch(plan: Plan, state: StateLike | None) -> str | None:
    """Why the state is not the one the plan was made against, or None."""
    lineage = state.lineage if state is not None else None
    serial = state.serial if state is not None else None
    if plan.state_lineage is None and lineage is not None:
        return "the plan was made without a state file, and this run has one"
    if lineage is None and plan.state_lineage is not None:
        return f"the plan was made against state {plan.state_lineage}; this run has no state"
    if lineage != plan.state_lineage:
        return f"the state is another one (lineage {lineage}; the plan's is {plan.state_lineage})"
    if serial != plan.state_serial:
        return f"the state changed since the plan (serial {plan.state_serial} -> {serial})"
    return None
