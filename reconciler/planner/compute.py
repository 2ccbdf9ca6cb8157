"""reconciler.planner.compute: (desired, state, live) -> Plan, every campaign's action assembled."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reconciler.live import LiveCampaign
from reconciler.plan import (
    Action,
    ActionKind,
    Plan,
    Reason,
)

if TYPE_CHECKING:
    from reconciler.loader import LoadedCampaign
from reconciler.planner.campaign import (
    _plan_delete,
    _plan_desired,
    _plan_forget,
    _unmanaged,
)
from reconciler.planner.identity import (
    StateLike,
    _Context,
    _LiveIndex,
    _match_live,
    _records_by_key,
    _TargetFilter,
    targeting_note,
)


def compute_plan(
    desired: Sequence[LoadedCampaign],
    state: StateLike | None,
    live: Sequence[LiveCampaign],
    *,
    prune: bool = False,
    targets: Collection[str] = (),
    excludes: Collection[str] = (),
    allow_delete_executed: bool = False,
    config_dir: str = "",
) -> Plan:
    """Return the plan that makes live match desired; PlanError when it cannot be decided.

    `state` None is `--no-state`: identity by exact name only, nothing counts as managed.
    `targets` (names, `Kind/Name`, or fnmatch globs of either) restricts the plan to those
    campaigns, `excludes` (the same forms) leaves campaigns out; the plan then counts the
    changes it does not show (`outside_target`) and says so in a warning.
    """
    index = _LiveIndex(live)
    records = _records_by_key(state)
    known_ids = {(r.kind, r.remote_id) for r in records.values()}
    wanted = _TargetFilter(tuple(targets), tuple(excludes))
    ctx = _Context(allow_delete_executed=allow_delete_executed, stateless=state is None)
    # Campaigns outside the target are planned too, aside, only to count their changes:
    # a targeted plan never says "No changes" while changes are pending elsewhere.
    outside = _Context(allow_delete_executed=allow_delete_executed, stateless=state is None)
    claimed: set[tuple[str, str]] = set()
    desired_keys: set[tuple[str, str]] = set()

    for campaign in desired:
        if campaign.key in desired_keys:
            ctx.errors.append(f"{campaign.kind}/{campaign.name} is declared twice")
            continue
        desired_keys.add(campaign.key)
        sink = ctx if wanted(campaign.kind, campaign.name) else outside
        record = records.get(campaign.key)
        found = _match_live(campaign, record, index, known_ids, sink)
        if found is not None:
            claimed.add((found[0].kind, found[0].remote_id))
        sink.actions.append(_plan_desired(campaign, record, found, sink))

    for key, record in records.items():
        if key in desired_keys:
            continue
        sink = ctx if wanted(record.kind, record.name) else outside
        obj = index.by_id.get((record.kind, record.remote_id))
        if obj is None:
            sink.actions.append(_plan_forget(record))
            continue
        claimed.add((obj.kind, obj.remote_id))
        sink.actions.append(_plan_delete(obj, Reason.DELETE_BECAUSE_NO_CONFIG, record, sink))

    for obj in live:
        identity = (obj.kind, obj.remote_id)
        if identity in claimed or identity in known_ids:
            continue
        sink = ctx if wanted(obj.kind, obj.name) else outside
        if prune:
            sink.actions.append(_plan_delete(obj, Reason.PRUNE_UNMANAGED, None, sink))
        else:
            sink.actions.append(_unmanaged(obj))

    ctx.warnings.extend(wanted.unmatched(desired, records.values(), live))
    outside_changes = sum(1 for a in outside.actions if a.is_change) if wanted.active else None
    if outside_changes is not None:
        ctx.warnings.append(targeting_note(outside_changes))
    ctx.errors.extend(_placeholders_sent(ctx.actions, desired))
    ctx.raise_errors()
    return Plan(
        actions=tuple(ctx.actions),
        state_lineage=state.lineage if state is not None else None,
        state_serial=state.serial if state is not None else None,
        config_dir=config_dir,
        warnings=tuple(ctx.warnings),
        managed=sum(1 for r in records.values() if (r.kind, r.remote_id) in index.by_id),
        outside_target=outside_changes,
    )


#: What `campaignctl import` writes where the API never returns a required write-only value
#: (a message touchpoint's text, an A/B template test's subject). Never sent: a plan that
#: would send it is an error until the YAML holds the real text.
IMPORT_PLACEHOLDER = "PLACEHOLDER: not returned by the API; replace with the real text"


_SENDING_TOUCHPOINT = frozenset({ActionKind.CREATE, ActionKind.UPDATE, ActionKind.MOVE})


def _has_placeholder(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(_has_placeholder(v) for v in value.values())
    return isinstance(value, str) and IMPORT_PLACEHOLDER in value


def _placeholders_sent(actions: Iterable[Action], desired: Sequence[LoadedCampaign]) -> list[str]:
    """One error per campaign whose apply would send the import placeholder text, at the
    `file:line:column` of its YAML."""
    errors = []
    sources: dict[tuple[str, str], str] | None = None  # made once there is an error
    for action in actions:
        if action.action == ActionKind.STATE_ONLY:
            continue  # sends nothing
        if action.action == ActionKind.NO_OP and not action.changes and not action.touchpoints:
            continue  # sends nothing either (most of a converged plan)
        where: list[str] = []
        creating = action.action in (ActionKind.CREATE, ActionKind.REPLACE)
        subject = (action.desired or {}).get("subject")
        subject_sent = creating or any(c.path == ("subject",) for c in action.changes)
        if subject_sent and _has_placeholder(subject):
            where.append("subject")
        for tp in action.touchpoints:
            message = (tp.desired or {}).get("message")
            if tp.action in _SENDING_TOUCHPOINT and _has_placeholder(message):
                where.append(f"touchpoint {tp.name!r}")
        if where:
            if sources is None:
                sources = {c.key: str(c.source) for c in desired}
            at = sources.get((action.kind, action.name))
            errors.append(
                (f"{at}: " if at else "")
                + f"{action.kind} {action.name!r} would send the import placeholder as "
                f"{', '.join(where)}: replace PLACEHOLDER with the real text in its YAML"
            )
    return errors
