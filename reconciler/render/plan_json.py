"""reconciler.render.plan_json: a Plan as the documented JSON (docs/plan-format.md)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from reconciler.jsoncodec import dumps_indented
from reconciler.plan import ActionKind, Plan
from reconciler.render.escape import json_safe
from reconciler.render.remedies import remedies_for
from reconciler.render.values import is_recorded_hash

__all__ = ["render_json"]


def render_json(plan: Plan) -> str:
    """The documented JSON form (docs/plan-format.md), keys sorted, two-space indent.

    Each blocked action also carries `remedies` (see Remedy), and each change whose value is
    a write-only field's recorded hash carries `write_only: true` (a digest, not a value):
    both derived from the action, so not part of a saved plan.
    """
    data = plan.to_json()
    stateful = plan.state_lineage is not None
    for action, out in zip(plan.actions, data["actions"], strict=True):
        if action.action == ActionKind.BLOCKED:
            out["remedies"] = [r.to_json() for r in remedies_for(action, stateful=stateful)]
        _mark_write_only(out["changes"])
        for tp in out.get("touchpoints") or ():
            _mark_write_only(tp.get("changes") or ())
    return json_safe(dumps_indented(data))


def _mark_write_only(changes: Iterable[dict[str, Any]]) -> None:
    for change in changes:
        path = change["path"]
        if is_recorded_hash(path, change["before"]) or is_recorded_hash(path, change["after"]):
            change["write_only"] = True
