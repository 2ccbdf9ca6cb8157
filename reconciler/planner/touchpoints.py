"""reconciler.planner.touchpoints: the touchpoint actions of a campaign, in apply order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reconciler.canonical import content_hash, is_empty
from reconciler.live import LiveCampaign, LiveTouchpoint
from reconciler.plan import (
    ActionKind,
    FieldChange,
    Reason,
    TouchpointAction,
)
from reconciler.providers.vendors import TOUCHPOINT_WRITE_ONLY

if TYPE_CHECKING:
    pass
from reconciler.planner.diff import (
    field_changes,
)


def plan_touchpoints(
    desired: Sequence[Mapping[str, Any]],
    last_applied: Sequence[Mapping[str, Any]],
    touchpoint_ids: Mapping[str, str],
    obj: LiveCampaign,
    *,
    compare_write_only: bool = True,
) -> tuple[TouchpointAction, ...]:
    """The touchpoint actions that turn `obj`'s touchpoints into `desired`, in apply order.

    Identity is the name within the campaign (the state's id map first, then the live name).
    Deletes come first; the rest follow desired order. Order is compared after removing the
    deleted ones, and every touchpoint from the first position that differs is recreated
    (`move`), because creation order is the only order the API has. Without
    `compare_write_only` (no state), messages are not compared.
    """
    wanted = {str(tp["name"]) for tp in desired}
    name_of = {remote_id: name for name, remote_id in touchpoint_ids.items()}
    kept: dict[str, LiveTouchpoint] = {}
    out: list[TouchpointAction] = []
    for live_tp in obj.touchpoints:
        name = name_of.get(live_tp.remote_id, live_tp.name)
        if name in kept or name not in wanted:
            out.append(_touchpoint_delete(live_tp, name))
        else:
            kept[name] = live_tp
    first_moved = _first_difference(list(kept), [str(tp["name"]) for tp in desired])
    last_by_name = {str(tp.get("name")): tp for tp in last_applied}
    for position, tp in enumerate(desired):
        name = str(tp["name"])
        current = kept.get(name)
        if current is None:
            out.append(_touchpoint_create(tp))
            continue
        changes = field_changes(
            tp,
            _hash_message(tp),
            last_by_name.get(name),
            {"name": current.name, "type": current.type},
            ignore=() if compare_write_only else TOUCHPOINT_WRITE_ONLY,
            write_only=TOUCHPOINT_WRITE_ONLY,
        )
        if position >= first_moved:
            action, reason = ActionKind.MOVE, Reason.REORDER_RECREATES
        elif changes:
            action, reason = ActionKind.UPDATE, Reason.TOUCHPOINT_FIELDS_DIFFER
        else:
            action, reason = ActionKind.NO_OP, Reason.UP_TO_DATE
        out.append(TouchpointAction(action, name, current.remote_id, reason, changes, dict(tp)))
    return tuple(out)


def _first_difference(kept: Sequence[str], desired: Sequence[str]) -> int:
    """The first position where kept live order and desired order disagree."""
    for position, name in enumerate(kept):
        if position >= len(desired) or desired[position] != name:
            return position
    return len(kept)


def _hash_message(tp: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(tp)
    if not is_empty(out.get("message")):
        out["message"] = content_hash(out["message"])
    return out


def _touchpoint_create(tp: Mapping[str, Any]) -> TouchpointAction:
    changes = tuple(
        FieldChange((key,), None, value)
        for key, value in tp.items()
        if key != "name" and not is_empty(value)
    )
    return TouchpointAction(
        ActionKind.CREATE, str(tp["name"]), None, Reason.TOUCHPOINT_NEW, changes, dict(tp)
    )


def _touchpoint_delete(live_tp: LiveTouchpoint, name: str | None = None) -> TouchpointAction:
    return TouchpointAction(
        ActionKind.DELETE, name or live_tp.name, live_tp.remote_id, Reason.TOUCHPOINT_REMOVED
    )


def _touchpoints_text(pending: Sequence[TouchpointAction]) -> str:
    counts: dict[str, int] = {}
    for tp in pending:
        counts[str(tp.action)] = counts.get(str(tp.action), 0) + 1
    order = ("create", "update", "move", "delete")
    return ", ".join(f"{counts[a]} to {a}" for a in order if a in counts)
