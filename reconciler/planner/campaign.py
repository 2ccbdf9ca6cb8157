"""reconciler.planner.campaign: one campaign's action: create, update, replace, delete, blocked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reconciler.canonical import hash_write_only
from reconciler.live import MESSAGING_KIND, LiveCampaign
from reconciler.plan import (
    Action,
    ActionKind,
    ChangePath,
    FieldChange,
    Reason,
    TouchpointAction,
    format_path,
)
from reconciler.providers.vendors import same_value, vendor_for

if TYPE_CHECKING:
    from reconciler.loader import LoadedCampaign
from reconciler.diff import unset as _unset
from reconciler.planner.diff import (
    creation_changes,
    field_changes,
)
from reconciler.planner.identity import (
    ManagedRecordLike,
    _Context,
)
from reconciler.planner.records import (
    record_for_update,
    touchpoint_ids_after,
)
from reconciler.planner.touchpoints import (
    _touchpoint_create,
    _touchpoint_delete,
    _touchpoints_text,
    plan_touchpoints,
)


@dataclass(frozen=True)
class _Matched:
    """A desired campaign and the live object it was matched to, with what to diff against."""

    campaign: LoadedCampaign
    desired: dict[str, Any]
    obj: LiveCampaign
    adopted: bool
    #: The last apply's record of this object: None when adopted (the record, if any,
    #: describes another object) or never applied.
    last: Mapping[str, Any] | None
    touchpoint_ids: Mapping[str, str]
    ignore: frozenset[str]

    def action(
        self,
        action: ActionKind,
        reason: Reason,
        message: str,
        changes: Sequence[FieldChange] = (),
        touchpoints: Sequence[TouchpointAction] = (),
    ) -> Action:
        return Action(
            action=action,
            kind=self.campaign.kind,
            name=self.campaign.name,
            remote_id=self.obj.remote_id,
            reason=reason,
            message=message,
            changes=tuple(changes),
            touchpoints=tuple(touchpoints),
            desired=self.desired,
            live_fingerprint=self.obj.fingerprint,
            live_status=self.obj.status,
        )

    def unchanged(self, touchpoints: Sequence[TouchpointAction] = ()) -> Action:
        if self.adopted:
            text = _adopted_text(self.obj)
            return self.action(ActionKind.NO_OP, Reason.ADOPTED_BY_NAME, text, (), touchpoints)
        return self.action(ActionKind.NO_OP, Reason.UP_TO_DATE, "up to date", (), touchpoints)


def _with_lifecycle(campaign: LoadedCampaign) -> dict[str, Any]:
    """The canonical desired form, plus the `lifecycle` settings that are set.

    The state records them from there: `prevent_destroy` so that a campaign whose YAML is
    gone (which took its lifecycle block with it) is still protected, `ignore_changes` so
    that apply records what it sent for those fields, not the YAML's new value. Providers
    never send `lifecycle`, and it is never diffed against live.
    """
    desired = campaign.canonical()
    lifecycle: dict[str, Any] = {}
    if campaign.lifecycle.prevent_destroy:
        lifecycle["prevent_destroy"] = True
    if campaign.lifecycle.ignore_changes:
        lifecycle["ignore_changes"] = sorted(campaign.lifecycle.ignore_changes)
    if lifecycle:
        desired["lifecycle"] = lifecycle
    return desired


def _plan_desired(
    campaign: LoadedCampaign,
    record: ManagedRecordLike | None,
    found: tuple[LiveCampaign, bool] | None,
    ctx: _Context,
) -> Action:
    desired = _with_lifecycle(campaign)
    if found is None:
        return _plan_create(campaign, desired, record)
    obj, adopted = found
    applied = None if adopted else record
    ignore = frozenset(campaign.lifecycle.ignore_changes)
    if ctx.stateless:
        ignore |= vendor_for(campaign.kind).write_only
    matched = _Matched(
        campaign=campaign,
        desired=desired,
        obj=obj,
        adopted=adopted,
        last=applied.last_applied if applied is not None else None,
        touchpoint_ids=applied.touchpoint_ids if applied is not None else {},
        ignore=ignore,
    )
    if campaign.kind == MESSAGING_KIND:
        return _plan_messaging(matched, ctx)
    return _plan_email(matched)


def _readable(obj: LiveCampaign) -> Mapping[str, Any]:
    """The live object's readable fields; its name from the object when fields lack it."""
    if obj.fields.get("name") == obj.name:
        return obj.fields
    return {**obj.fields, "name": obj.name}


#: Fields that only one campaign type may carry (vendors.md "Campaign fields": ab_test A/B
#: only, warm_up normal only).
_TYPE_ONLY_FIELDS = frozenset({"ab_test", "warm_up"})


def _plan_email(m: _Matched) -> Action:
    last, ignore = m.last, m.ignore
    live = _readable(m.obj)
    if m.desired.get("campaign_type") != live.get("campaign_type"):
        # A type switch must clear the old type's own fields, ignored or never managed
        # alike: the API refuses ab_test on a normal campaign and warm_up on an A/B one.
        ignore = ignore - _TYPE_ONLY_FIELDS
        last = {**{f: live[f] for f in _TYPE_ONLY_FIELDS if f in live}, **(last or {})}
    changes = field_changes(
        m.desired,
        hash_write_only(m.desired),
        last,
        live,
        ignore=ignore,
        write_only=vendor_for(m.campaign.kind).write_only,
        kind=m.campaign.kind,
    )
    if changes and not m.obj.is_pristine:
        return m.action(
            ActionKind.BLOCKED,
            Reason.EXECUTED_CANNOT_UPDATE,
            f"status {m.obj.status}: the API refuses changes to a campaign that has run "
            f"(32110); {_fields_text(changes)} would change",
            changes,
        )
    if changes:
        reason = Reason.ADOPTED_BY_NAME if m.adopted else Reason.FIELDS_DIFFER
        return m.action(ActionKind.UPDATE, reason, _update_text(changes, m.obj, m.adopted), changes)
    return _catch_up(m) or m.unchanged()


def _catch_up(m: _Matched, touchpoints: Sequence[TouchpointAction] = ()) -> Action | None:
    """A state-only step when live matches the config but the state's record is older.

    Without it, `plan` says "No changes" while `drift` reports the campaign on every run
    (a change made in the vendor's UI and copied into the YAML, as the README advises; or
    a run killed after its call and before its record). `lifecycle` is left out here:
    `applier.record_lifecycle_changes` records it without a step.
    """
    if m.adopted or m.last is None:
        return None
    kind = m.campaign.kind
    expected = record_for_update(m.desired, m.last)
    # Equal records (the converged case) have no field that differs: the walk is skipped.
    changes = (
        []
        if expected == m.last
        else [
            FieldChange((name,), _unset(m.last.get(name)), _unset(expected.get(name)))
            for name in dict.fromkeys([*expected, *m.last])
            if name != "lifecycle"
            and not same_value(kind, name, m.last.get(name), expected.get(name))
        ]
    )
    if kind == MESSAGING_KIND:
        ids = touchpoint_ids_after(m.touchpoint_ids, touchpoints, "touchpoints" in m.ignore)
        for name in dict.fromkeys([*m.touchpoint_ids, *ids]):
            if m.touchpoint_ids.get(name) != ids.get(name):
                path: ChangePath = ("touchpoint_ids", name)
                changes.append(FieldChange(path, m.touchpoint_ids.get(name), ids.get(name)))
    if not changes:
        return None
    return m.action(
        ActionKind.STATE_ONLY,
        Reason.RECORD_OUTDATED,
        "live already matches the config; the state's record of it is older: "
        "record it (nothing is sent)",
        changes,
        touchpoints,
    )


def _plan_forget(record: ManagedRecordLike) -> Action:
    """A state-only step: forget a record whose campaign is gone live and from the config.

    A run killed between a delete and its record leaves exactly this; the rerun finishes
    the job instead of warning forever.
    """
    return Action(
        action=ActionKind.STATE_ONLY,
        kind=record.kind,
        name=record.name,
        remote_id=record.remote_id,
        reason=Reason.FORGET_DELETED,
        message="gone live and no longer in the config: forget its record (nothing is sent)",
    )


def _plan_create(
    campaign: LoadedCampaign, desired: dict[str, Any], record: ManagedRecordLike | None
) -> Action:
    touchpoints: tuple[TouchpointAction, ...] = ()
    if campaign.kind == MESSAGING_KIND:
        touchpoints = tuple(_touchpoint_create(tp) for tp in desired.get("touchpoints") or ())
    if record is not None:
        reason = Reason.DELETED_REMOTELY
        message = f"recorded in the state as {record.remote_id} but gone live: create it again"
    else:
        reason, message = Reason.NOT_IN_LIVE, "not found live: create it"
    return Action(
        action=ActionKind.CREATE,
        kind=campaign.kind,
        name=campaign.name,
        remote_id=None,
        reason=reason,
        message=message,
        changes=creation_changes(desired),
        touchpoints=touchpoints,
        desired=desired,
    )


def _plan_messaging(m: _Matched, ctx: _Context) -> Action:
    changes = field_changes(
        m.desired,
        hash_write_only(m.desired),
        m.last,
        _readable(m.obj),
        ignore=m.ignore | {"touchpoints"},
        kind=m.campaign.kind,
    )
    if changes:
        return _plan_replace(m, changes, ctx)
    touchpoints: tuple[TouchpointAction, ...] = ()
    if "touchpoints" not in m.ignore:
        touchpoints = plan_touchpoints(
            m.desired.get("touchpoints") or [],
            (m.last or {}).get("touchpoints") or [],
            m.touchpoint_ids,
            m.obj,
            compare_write_only=not ctx.stateless,
        )
    pending = [tp for tp in touchpoints if tp.action != ActionKind.NO_OP]
    if not pending:
        return _catch_up(m, touchpoints) or m.unchanged(touchpoints)
    counts = _touchpoints_text(pending)
    if vendor_for(m.obj.kind).parts_locked(m.obj.status):
        text = f"the campaign is completed: its touchpoints cannot change ({counts})"
        return m.action(ActionKind.BLOCKED, Reason.CAMPAIGN_COMPLETED, text, (), touchpoints)
    if m.adopted:
        text = f"{_adopted_text(m.obj)}; touchpoints differ: {counts}"
        return m.action(ActionKind.UPDATE, Reason.ADOPTED_BY_NAME, text, (), touchpoints)
    text = f"touchpoints differ: {counts}"
    return m.action(ActionKind.UPDATE, Reason.TOUCHPOINTS_DIFFER, text, (), touchpoints)


def _plan_replace(m: _Matched, changes: Sequence[FieldChange], ctx: _Context) -> Action:
    """A MessagingCampaign's own fields changed: the API has no update, so delete + create."""
    if m.campaign.lifecycle.prevent_destroy:
        ctx.protected.append(f"{m.campaign.kind}/{m.campaign.name} ({m.campaign.source})")
    touchpoints = (
        *(_touchpoint_delete(tp) for tp in m.obj.touchpoints),
        *(_touchpoint_create(tp) for tp in m.desired.get("touchpoints") or ()),
    )
    if not m.obj.is_pristine and not ctx.allow_delete_executed:
        return m.action(
            ActionKind.BLOCKED,
            Reason.EXECUTED_CANNOT_DELETE,
            f"{_fields_text(changes)} cannot be updated, and replacing a campaign in "
            f"status {m.obj.status!r} needs --allow-delete-executed",
            changes,
            touchpoints,
        )
    return m.action(
        ActionKind.REPLACE,
        Reason.REPLACE_BECAUSE_CANNOT_UPDATE,
        f"the API cannot update {_fields_text(changes)}: delete and create again",
        changes,
        touchpoints,
    )


def _plan_delete(
    obj: LiveCampaign, reason: Reason, record: ManagedRecordLike | None, ctx: _Context
) -> Action:
    if record is not None and _prevents_destroy(record):
        # No YAML declares it any more: the refusal says where the flag lives instead.
        ctx.protected.append(
            f"{obj.kind}/{record.name} (its YAML is gone; the state records prevent_destroy)"
        )
    touchpoints = tuple(_touchpoint_delete(tp) for tp in obj.touchpoints)
    name = record.name if record is not None else obj.name
    if not obj.is_pristine and not ctx.allow_delete_executed:
        action, why = ActionKind.BLOCKED, Reason.EXECUTED_CANNOT_DELETE
        message = (
            f"status {obj.status!r}: deleting a campaign that has run needs --allow-delete-executed"
        )
    elif reason == Reason.PRUNE_UNMANAGED:
        action, why = ActionKind.DELETE, reason
        message = "never managed by campaignctl; deleted because of --prune"
    else:
        action, why = ActionKind.DELETE, reason
        message = "in the state but no longer in the config: delete it"
    return _on_live(obj, action, why, message, name=name, touchpoints=touchpoints)


def _unmanaged(obj: LiveCampaign) -> Action:
    message = "live but not managed: `campaignctl import` manages it, --prune deletes it"
    return _on_live(obj, ActionKind.NO_OP, Reason.UNMANAGED, message)


def _on_live(
    obj: LiveCampaign,
    action: ActionKind,
    reason: Reason,
    message: str,
    *,
    name: str | None = None,
    touchpoints: tuple[TouchpointAction, ...] = (),
) -> Action:
    """An action on a live campaign with no desired form, recording what the campaign was
    when planned (apply refuses a plan whose campaign changed since)."""
    return Action(
        action=action,
        kind=obj.kind,
        name=obj.name if name is None else name,
        remote_id=obj.remote_id,
        reason=reason,
        message=message,
        touchpoints=touchpoints,
        live_fingerprint=obj.fingerprint,
        live_status=obj.status,
    )


def _prevents_destroy(record: ManagedRecordLike) -> bool:
    """True when the last apply recorded `lifecycle.prevent_destroy` for the campaign.

    A campaign removed from the YAML took its lifecycle block with it; only a state that
    recorded the flag can still protect it.
    """
    lifecycle = record.last_applied.get("lifecycle")
    return isinstance(lifecycle, Mapping) and bool(lifecycle.get("prevent_destroy"))


def _fields_text(changes: Sequence[FieldChange]) -> str:
    fields = list(dict.fromkeys(format_path(c.path[:1]) for c in changes))
    if len(fields) == 1:
        return fields[0]
    return f"{len(fields)} fields ({', '.join(fields)})"


def _update_text(changes: Sequence[FieldChange], obj: LiveCampaign, adopted: bool) -> str:
    text = (
        f"{_fields_text(changes)} differ"
        if len(changes) > 1
        else f"{_fields_text(changes)} differs"
    )
    return f"{_adopted_text(obj)}; {text}" if adopted else text


def _adopted_text(obj: LiveCampaign) -> str:
    return f"adopts live campaign {obj.remote_id} of the same name (not yet in the state)"
