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
    from reconciler.plan import Action
from reconciler.planner.identity import (
    ManagedRecordLike,
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
    if lineage != plan.state_lineage and plan.state_serial == 0 and serial:
        # Made before the first apply; the state file was created since (see already_applied
        # for the case where this very plan created it).
        return f"the state was created by another apply since the plan was made (serial {serial})"
    if lineage != plan.state_lineage:
        return f"the state is another one (lineage {lineage}; the plan's is {plan.state_lineage})"
    if serial != plan.state_serial:
        return f"the state changed since the plan (serial {plan.state_serial} -> {serial})"
    return None


_SENDS = (ActionKind.CREATE, ActionKind.UPDATE, ActionKind.REPLACE, ActionKind.DELETE)


def already_applied(
    plan: Plan, state: StateLike | None, live: Sequence[LiveCampaign]
) -> str | None:
    """Why a stale saved plan is in fact one that was applied already, or None.

    True when the state moved on from the plan's (the same lineage, or the plan was made
    before the first apply) and every change the plan sends shows: its creates are live
    (and managed), its updates' readable fields hold the planned values, its deletes are
    gone. Then "the state is another one" would be true but misleading: re-applying is the
    mistake, and a new plan shows what is left.
    """
    sends = [a for a in plan.actions if a.action in _SENDS]
    if not sends:
        return None
    records = _records_by_key(state)
    if state is not None:
        moved = plan.state_serial is not None and state.serial > plan.state_serial
        same = state.lineage == plan.state_lineage or plan.state_serial == 0
        if not (moved and same):
            return None
        since = f" (the state moved from serial {plan.state_serial} to {state.serial})"
    elif plan.state_lineage is not None:
        return None
    else:
        since = " (the live campaigns show its changes)"
    index = _LiveIndex(live)
    if not all(_shows(action, records, index) for action in sends):
        return None
    return f"the plan was already applied{since}"


def _matches(obj: LiveCampaign, action: Action) -> bool:
    """The live object holds the action's desired readable values (write-only ones are not
    readable, and so not compared)."""
    desired = action.desired or {}
    return all(obj.fields[k] == v for k, v in desired.items() if k in obj.fields)


def _shows(
    action: Action, records: dict[tuple[str, str], ManagedRecordLike], index: _LiveIndex
) -> bool:
    """Whether the live campaigns (and the state, when there is one) show the action done."""
    key = (action.kind, action.name)
    record = records.get(key)
    if action.action == ActionKind.DELETE:
        gone = (action.kind, action.remote_id or "") not in index.by_id
        return gone and (record is None or record.remote_id != action.remote_id)
    if action.action == ActionKind.UPDATE:
        obj = index.by_id.get((action.kind, action.remote_id or ""))
        return obj is not None and _matches(obj, action)
    made = [
        obj
        for obj in index.by_name.get(key, ())
        if obj.remote_id != action.remote_id and _matches(obj, action)
    ]
    if not records:
        return bool(made)
    return record is not None and any(obj.remote_id == record.remote_id for obj in made)
