"""reconciler.planner: (desired, state, live) -> Plan, the safety rule and the stale check.

Pure: no I/O, no clock, no environment. Every value it compares is canonical (the model and
the providers normalise on the way in), so an unchanged campaign plans `no-op` by plain
equality; DeepDiff is only asked to explain the pairs that differ.

Three-way diff (docs/reference/semantics.md "Three-way diff"):
- managed fields = fields of the desired canonical form ∪ fields of the state's last-applied
  record, minus `lifecycle.ignore_changes`; a field in neither is unmanaged and never diffed;
- readable fields compare desired against live; write-only fields (email `subject` and
  `attachments`, touchpoint `message`) compare the desired value's hash against last-applied;
- a field in last-applied but no longer desired is cleared (`after = None`).
With no last-applied record (a campaign adopted by name, or a touchpoint made out of band),
a desired write-only value is always a change: the API cannot tell us what it holds; apply
sends it and records its hash, so the next plan is a no-op. With no state at all
(`--no-state`), write-only values are not compared: there is nothing to compare them with,
and showing them changed would make every stateless plan non-empty forever.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from deepdiff import DeepDiff
from deepdiff.helper import NotPresent

from reconciler.canonical import comparable, content_hash, hash_write_only, is_empty
from reconciler.errors import PlanError, UnsafePlan
from reconciler.live import MESSAGING_KIND, LiveCampaign, LiveTouchpoint
from reconciler.plan import (
    Action,
    ActionKind,
    ChangePath,
    FieldChange,
    Plan,
    Reason,
    TouchpointAction,
    format_path,
)
from reconciler.providers.vendors import TOUCHPOINT_WRITE_ONLY, same_value, vendor_for

if TYPE_CHECKING:
    from reconciler.loader import LoadedCampaign

__all__ = [
    "MIN_MANAGED_FOR_RATIO",
    "SAFE_DESTROY_RATIO",
    "ManagedRecordLike",
    "StateLike",
    "check_safety",
    "compute_plan",
    "creation_changes",
    "field_changes",
    "find_stale",
    "plan_touchpoints",
    "record_for_update",
    "touchpoint_ids_after",
]

#: semantics.md "Safety": deletes + replaces may reach 30% of the managed campaigns...
SAFE_DESTROY_RATIO = 0.3
#: ...a rule that applies from this many managed campaigns up.
MIN_MANAGED_FOR_RATIO = 10

_NEVER_DIFFED = frozenset({"kind", "lifecycle"})


class ManagedRecordLike(Protocol):
    """What the planner reads of a `state.ManagedRecord` (the planner never imports state)."""

    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def remote_id(self) -> str: ...
    @property
    def last_applied(self) -> Mapping[str, Any]: ...
    @property
    def touchpoint_ids(self) -> Mapping[str, str]: ...


class StateLike(Protocol):
    """What the planner reads of a `state.State`."""

    @property
    def lineage(self) -> str: ...
    @property
    def serial(self) -> int: ...
    @property
    def campaigns(self) -> Mapping[str, ManagedRecordLike]: ...


# --------------------------------------------------------------------------- compute_plan


def compute_plan(
    desired: Sequence[LoadedCampaign],
    state: StateLike | None,
    live: Sequence[LiveCampaign],
    *,
    prune: bool = False,
    targets: Collection[str] = (),
    allow_delete_executed: bool = False,
    config_dir: str = "",
) -> Plan:
    """Return the plan that makes live match desired; PlanError when it cannot be decided.

    `state` None is `--no-state`: identity by exact name only, nothing counts as managed.
    `targets` (names, or `Kind/Name`) restricts the plan to those campaigns.
    """
    index = _LiveIndex(live)
    records = _records_by_key(state)
    known_ids = {(r.kind, r.remote_id) for r in records.values()}
    wanted = _TargetFilter(tuple(targets))
    ctx = _Context(allow_delete_executed=allow_delete_executed, stateless=state is None)
    claimed: set[tuple[str, str]] = set()
    desired_keys: set[tuple[str, str]] = set()

    for campaign in desired:
        if campaign.key in desired_keys:
            ctx.errors.append(f"{campaign.kind}/{campaign.name} is declared twice")
            continue
        desired_keys.add(campaign.key)
        if not wanted(campaign.kind, campaign.name):
            continue
        record = records.get(campaign.key)
        found = _match_live(campaign, record, index, known_ids, ctx)
        if found is not None:
            claimed.add((found[0].kind, found[0].remote_id))
        ctx.actions.append(_plan_desired(campaign, record, found, ctx))

    for key, record in records.items():
        if key in desired_keys or not wanted(record.kind, record.name):
            continue
        obj = index.by_id.get((record.kind, record.remote_id))
        if obj is None:
            ctx.actions.append(_plan_forget(record))
            continue
        claimed.add((obj.kind, obj.remote_id))
        ctx.actions.append(_plan_delete(obj, Reason.DELETE_BECAUSE_NO_CONFIG, record, ctx))

    for obj in live:
        identity = (obj.kind, obj.remote_id)
        if identity in claimed or identity in known_ids or not wanted(obj.kind, obj.name):
            continue
        if prune:
            ctx.actions.append(_plan_delete(obj, Reason.PRUNE_UNMANAGED, None, ctx))
        else:
            ctx.actions.append(_unmanaged(obj))

    ctx.warnings.extend(wanted.unmatched(desired, records.values(), live))
    ctx.errors.extend(_placeholders_sent(ctx.actions))
    ctx.raise_errors()
    return Plan(
        actions=tuple(ctx.actions),
        state_lineage=state.lineage if state is not None else None,
        state_serial=state.serial if state is not None else None,
        config_dir=config_dir,
        warnings=tuple(ctx.warnings),
        managed=sum(1 for r in records.values() if (r.kind, r.remote_id) in index.by_id),
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


def _placeholders_sent(actions: Iterable[Action]) -> list[str]:
    """One error per campaign whose apply would send the import placeholder text."""
    errors = []
    for action in actions:
        if action.action == ActionKind.STATE_ONLY:
            continue  # sends nothing
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
            errors.append(
                f"{action.kind} {action.name!r} would send the import placeholder as "
                f"{', '.join(where)}: replace PLACEHOLDER with the real text in its YAML"
            )
    return errors


@dataclass
class _Context:
    """What one compute_plan run accumulates: actions, warnings and errors."""

    allow_delete_executed: bool
    #: --no-state: write-only values have nothing to be compared with, so they are not
    #: diffed (else every stateless plan would show them changed, forever).
    stateless: bool = False
    actions: list[Action] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    protected: list[str] = field(default_factory=list)

    def raise_errors(self) -> None:
        messages = list(self.errors)
        if self.protected:
            names = ", ".join(self.protected)
            messages.append(
                f"lifecycle.prevent_destroy forbids deleting or replacing {names}; "
                "if this is intended, apply its YAML without prevent_destroy first (restore "
                "the file if it is gone), or stop managing it with `campaignctl state rm`"
            )
        if messages:
            raise PlanError("; ".join(messages))


class _LiveIndex:
    """Live campaigns by (kind, remote_id) and by (kind, name)."""

    def __init__(self, live: Iterable[LiveCampaign]) -> None:
        self.by_id: dict[tuple[str, str], LiveCampaign] = {}
        self.by_name: dict[tuple[str, str], list[LiveCampaign]] = {}
        for obj in live:
            self.by_id[(obj.kind, obj.remote_id)] = obj
            self.by_name.setdefault((obj.kind, obj.name), []).append(obj)


class _TargetFilter:
    """`--target`: a campaign is wanted when no targets are given or its name is one."""

    def __init__(self, targets: tuple[str, ...]) -> None:
        self.targets = frozenset(targets)

    def __call__(self, kind: str, name: str) -> bool:
        return not self.targets or name in self.targets or f"{kind}/{name}" in self.targets

    def unmatched(
        self,
        desired: Iterable[LoadedCampaign],
        records: Iterable[ManagedRecordLike],
        live: Iterable[LiveCampaign],
    ) -> list[str]:
        if not self.targets:
            return []
        seen: set[str] = set()
        for kind, name in (
            *((c.kind, c.name) for c in desired),
            *((r.kind, r.name) for r in records),
            *((o.kind, o.name) for o in live),
        ):
            seen.update((name, f"{kind}/{name}"))
        return [f"--target {t!r} matches no campaign" for t in sorted(self.targets - seen)]


def _records_by_key(state: StateLike | None) -> dict[tuple[str, str], ManagedRecordLike]:
    if state is None:
        return {}
    return {(r.kind, r.name): r for r in state.campaigns.values()}


def _match_live(
    campaign: LoadedCampaign,
    record: ManagedRecordLike | None,
    index: _LiveIndex,
    known_ids: set[tuple[str, str]],
    ctx: _Context,
) -> tuple[LiveCampaign, bool] | None:
    """Find the live object of a desired campaign: (object, adopted_by_name) or None.

    The state's remote id wins; otherwise the one live campaign of exactly this name that
    the state does not know (also when the state's object is gone: never a duplicate).
    """
    if record is not None:
        obj = index.by_id.get((record.kind, record.remote_id))
        if obj is not None:
            return obj, False
    candidates = [
        obj
        for obj in index.by_name.get(campaign.key, ())
        if (obj.kind, obj.remote_id) not in known_ids
    ]
    if len(candidates) > 1:
        ids = ", ".join(sorted(obj.remote_id for obj in candidates))
        ctx.errors.append(
            f"{campaign.kind} {campaign.name!r} ({campaign.source}) matches {len(candidates)} "
            f"live campaigns of that name ({ids}); rename or delete one of them"
        )
        return None
    return (candidates[0], True) if candidates else None


# --------------------------------------------------------------------------- one campaign


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


# --------------------------------------------------------------------------- state-only


def record_for_update(
    desired: Mapping[str, Any], previous: Mapping[str, Any] | None
) -> dict[str, Any]:
    """What the state records as applied once an update (or a catch-up) is done.

    The desired form with write-only values hashed, except the fields listed in
    `lifecycle.ignore_changes`: an update never sends them, so the record keeps what the
    last apply recorded for them (or nothing). The applier records exactly this.
    """
    applied = hash_write_only(desired)
    ignored = (applied.get("lifecycle") or {}).get("ignore_changes") or ()
    before = previous or {}
    for name in ignored:
        if name in before:
            applied[name] = before[name]
        else:
            applied.pop(name, None)
    return applied


def touchpoint_ids_after(
    previous: Mapping[str, str], touchpoints: Sequence[TouchpointAction], ignored: bool
) -> dict[str, str]:
    """The touchpoint ids an unchanged campaign's record holds: those the plan matched live.

    With `touchpoints` in `ignore_changes` the plan did not look at them: keep the record's.
    """
    if ignored:
        return dict(previous)
    return {tp.name: tp.remote_id for tp in touchpoints if tp.remote_id is not None}


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
    changes = [
        FieldChange((name,), _unset(m.last.get(name)), _unset(expected.get(name)))
        for name in dict.fromkeys([*expected, *m.last])
        if name != "lifecycle" and not same_value(kind, name, m.last.get(name), expected.get(name))
    ]
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
        ctx.protected.append(f"{m.campaign.kind}/{m.campaign.name}")
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
        ctx.protected.append(f"{obj.kind}/{record.name}")
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
    return Action(
        action=action,
        kind=obj.kind,
        name=name,
        remote_id=obj.remote_id,
        reason=why,
        message=message,
        touchpoints=touchpoints,
        live_fingerprint=obj.fingerprint,
        live_status=obj.status,
    )


def _unmanaged(obj: LiveCampaign) -> Action:
    return Action(
        action=ActionKind.NO_OP,
        kind=obj.kind,
        name=obj.name,
        remote_id=obj.remote_id,
        reason=Reason.UNMANAGED,
        message="live but not managed: `campaignctl import` manages it, --prune deletes it",
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


# --------------------------------------------------------------------------- field diff


def field_changes(
    desired: Mapping[str, Any],
    desired_hashed: Mapping[str, Any],
    last_applied: Mapping[str, Any] | None,
    live_fields: Mapping[str, Any],
    *,
    ignore: Collection[str] = (),
    write_only: Collection[str] = (),
    kind: str = "",
) -> tuple[FieldChange, ...]:
    """The field-level changes of one object (campaign or touchpoint), three-way.

    `desired_hashed` is `desired` as the state records it (write-only values hashed);
    write-only fields compare it with `last_applied`, readable fields compare desired with
    `live_fields`. A write-only change shows the stored hash before and the new value after.
    A readable field unset on one side and at the vendor's default for `kind` on the other
    is no change (`providers.vendors.VENDOR_DEFAULTS`): clearing it would put that value back.
    """
    last = last_applied or {}
    shown = comparable(desired)
    names = dict.fromkeys([*shown, *sorted(last)])
    out: list[FieldChange] = []
    for name in names:
        if name in _NEVER_DIFFED or name in ignore:
            continue
        if name in write_only:
            before, now = last.get(name), desired_hashed.get(name)
            if _same(before, now):
                continue
            if name == "attachments":
                out.extend(_diff((name,), before, shown.get(name)))
            else:
                out.append(FieldChange((name,), _unset(before), _unset(shown.get(name))))
        else:
            before, after = live_fields.get(name), shown.get(name)
            if not same_value(kind, name, before, after):
                out.extend(_diff((name,), before, after))
    return tuple(out)


def creation_changes(desired: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    """What a create sets: every field but kind, name and touchpoints, from None."""
    shown = comparable(desired)
    return tuple(
        FieldChange((key,), None, value)
        for key, value in shown.items()
        if key not in ("kind", "name", "touchpoints") and not is_empty(value)
    )


def _same(a: Any, b: Any) -> bool:
    return (is_empty(a) and is_empty(b)) or a == b


def _unset(value: Any) -> Any:
    return None if is_empty(value) else value


def _diff(prefix: ChangePath, before: Any, after: Any) -> list[FieldChange]:
    """Explain a differing pair field by field (DeepDiff only for two dicts or two lists)."""
    before, after = _unset(before), _unset(after)
    comparable_shapes = (isinstance(before, dict) and isinstance(after, dict)) or (
        isinstance(before, list) and isinstance(after, list)
    )
    if not comparable_shapes:
        return [FieldChange(prefix, before, after)]
    tree = DeepDiff(before, after, view="tree", ignore_numeric_type_changes=True)
    out: list[FieldChange] = []
    for levels in tree.values():
        for level in levels:
            path = tuple(level.path(output_format="list"))
            out.append(FieldChange((*prefix, *path), _present(level.t1), _present(level.t2)))
    if not out:
        return [FieldChange(prefix, before, after)]
    return sorted(out, key=lambda change: _path_key(change.path))


def _present(value: Any) -> Any:
    return None if isinstance(value, NotPresent) else value


def _path_key(path: ChangePath) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, part, "") if isinstance(part, int) else (1, 0, part) for part in path)


# --------------------------------------------------------------------------- touchpoints


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


# --------------------------------------------------------------------------- messages


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


def _touchpoints_text(pending: Sequence[TouchpointAction]) -> str:
    counts: dict[str, int] = {}
    for tp in pending:
        counts[str(tp.action)] = counts.get(str(tp.action), 0) + 1
    order = ("create", "update", "move", "delete")
    return ", ".join(f"{counts[a]} to {a}" for a in order if a in counts)


# --------------------------------------------------------------------------- safety


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


# --------------------------------------------------------------------------- stale plans


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
