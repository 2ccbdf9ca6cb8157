"""reconciler.policy.bindings: what a rule's expression sees, as plain JSON-like data.

A campaign rule sees `campaign` (its canonical form) and `sends` (its timed sends, each
with the nearest overlapping send of another campaign); a plan rule sees `plan` (actions
and summary). docs/policies.md lists every field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from reconciler.calendar import Calendar, Send, nearest_overlaps
from reconciler.loader import LoadedCampaign
from reconciler.plan import Plan
from reconciler.providers.vendors import is_pristine

__all__ = ["campaign_bindings", "plan_binding"]


def campaign_bindings(
    campaigns: Sequence[LoadedCampaign], calendar: Calendar | None, plan: Plan | None = None
) -> list[dict[str, Any]]:
    """What a campaign rule sees, per campaign: `campaign` and `sends`.

    The canonical forms come from the plan's actions when there is one (computed already).
    """
    desired = {(a.kind, a.name): a.desired for a in plan.actions} if plan is not None else {}
    by_campaign: dict[tuple[str, str], list[Send]] = {}
    nearest: dict[int, tuple[Send, timedelta]] = {}
    if calendar is not None:
        timed = [s for s in calendar.sends if s.at is not None and s.goes_out]
        for send in timed:
            by_campaign.setdefault((send.kind, send.name), []).append(send)
        nearest = nearest_overlaps(timed)
    out = []
    for campaign in campaigns:
        # Canonical forms are plain JSON-like data already (model.canonical()).
        canonical = desired.get(campaign.key) or campaign.canonical()
        sends = [_send_binding(s, nearest.get(id(s))) for s in by_campaign.get(campaign.key, [])]
        out.append({"campaign": canonical, "sends": sends})
    return out


def _send_binding(send: Send, nearest: tuple[Send, timedelta] | None) -> dict[str, Any]:
    local = send.local()
    assert local is not None
    return {
        "at": send.at,
        "local": local.strftime("%Y-%m-%d %H:%M:%S"),
        "local_hour": local.hour,
        "weekday": (local.weekday() + 1) % 7,  # 0 = Sunday, as CEL's getDayOfWeek()
        "time_zone": send.time_zone,
        "effect": str(send.effect),
        "audience": (
            {"type": send.audience.type, "values": list(send.audience.values)}
            if send.audience
            else None
        ),
        "nearest_overlap": (
            None
            if nearest is None
            else {
                "kind": nearest[0].kind,
                "name": nearest[0].name,
                "at": nearest[0].at,
                "gap": nearest[1],
            }
        ),
    }


def plan_binding(plan: Plan) -> dict[str, Any]:
    """What a plan rule sees: `plan` with its actions and summary."""
    actions = [
        {
            "kind": a.kind,
            "name": a.name,
            "action": str(a.action),
            "reason": str(a.reason),
            "remote_id": a.remote_id,
            "live_status": a.live_status,
            "sent": a.live_status is not None and not is_pristine(a.kind, a.live_status),
            "changes": [
                {"path": [str(p) for p in c.path], "before": c.before, "after": c.after}
                for c in a.changes
            ],
        }
        for a in plan.actions
        if not a.is_unmanaged
    ]
    return {"plan": _plain({"actions": actions, "summary": plan.summary()})}


def _plain(value: Any) -> Any:
    """JSON-like data only (the CEL bindings convert dicts, lists, str, int, float, bool)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
