"""reconciler.applier.touchpoints: a messaging step's touchpoint calls and its record."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from dataclasses import replace as dc_replace
from typing import TYPE_CHECKING, Any

from reconciler.canonical import hash_write_only
from reconciler.live import LiveCampaign, LiveTouchpoint
from reconciler.plan import ActionKind
from reconciler.state import ManagedRecord

if TYPE_CHECKING:
    from reconciler.plan import Action, TouchpointAction
from reconciler.applier.common import (
    _desired,
    _remote_id,
)
from reconciler.applier.journal import (
    _Journal,
)


@dataclass
class _TouchpointOps:
    deletes: list[tuple[str, str]] = field(default_factory=list)
    updates: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    creates: list[dict[str, Any]] = field(default_factory=list)


def _desired_touchpoints(action: Action) -> list[dict[str, Any]]:
    return [dict(tp) for tp in _desired(action).get("touchpoints") or ()]


def _creates_for_new(action: Action, live: LiveCampaign) -> _TouchpointOps:
    """A new campaign gets every desired touchpoint (an adopted one: those it lacks)."""
    have = {tp.name for tp in live.touchpoints}
    return _TouchpointOps(
        creates=[tp for tp in _desired_touchpoints(action) if tp["name"] not in have]
    )


def _touchpoint_ops(action: Action) -> _TouchpointOps:
    """Split a messaging update's touchpoint lines into deletes, updates and creates.

    A move is a delete and a create: the API's order is creation order, so recreating from
    the first differing position (as the planner chose) puts each in place. Creates follow
    the desired order.
    """
    ops = _TouchpointOps()
    by_name: dict[str, TouchpointAction] = {tp.name: tp for tp in action.touchpoints}
    to_create: set[str] = set()
    for tp in action.touchpoints:
        if tp.action in (ActionKind.DELETE, ActionKind.MOVE) and tp.remote_id is not None:
            ops.deletes.append((tp.name, tp.remote_id))
        if tp.action in (ActionKind.CREATE, ActionKind.MOVE):
            to_create.add(tp.name)
    for desired in _desired_touchpoints(action):
        line = by_name.get(desired["name"])
        if line is None:
            continue
        if desired["name"] in to_create:
            ops.creates.append(desired)
        elif line.action == ActionKind.UPDATE and line.remote_id is not None:
            ops.updates.append((line.name, line.remote_id, desired))
    return ops


class _TouchpointProgress:
    """What a messaging campaign has remotely right now, and its state record.

    Recorded after every touchpoint call, so the state says exactly which touchpoints exist
    (names, ids, hashed messages) even when the step stops half way.
    """

    def __init__(
        self,
        action: Action,
        journal: _Journal,
        *,
        remote_id: str,
        status: Any,
        live: LiveCampaign | None,
        ids: dict[str, str],
        entries: dict[str, dict[str, Any]],
    ) -> None:
        self.action = action
        self.name = action.name
        self.remote_id = remote_id
        self.status = status
        self.live = live
        self.ids = ids
        self.entries = entries
        self._journal = journal
        self._live_tps: dict[str, LiveTouchpoint] = {}
        #: True once a touchpoint call of this run changed something remotely.
        self.changed = False

    @classmethod
    def for_new(cls, action: Action, live: LiveCampaign, journal: _Journal) -> _TouchpointProgress:
        ids = {tp.name: tp.remote_id for tp in live.touchpoints}
        progress = cls(
            action,
            journal,
            remote_id=live.remote_id,
            status=live.status,
            live=live,
            ids=ids,
            entries={name: {"name": name} for name in ids},
        )
        progress._live_tps = {tp.name: tp for tp in live.touchpoints}
        return progress

    @classmethod
    def for_existing(cls, action: Action, journal: _Journal) -> _TouchpointProgress:
        previous = journal.previous(action.kind, action.name)
        if previous is not None and previous.remote_id != action.remote_id:
            previous = None  # adopted by name: the record describes a campaign that is gone
        ids = dict(previous.touchpoint_ids) if previous is not None else {}
        old_entries = {
            tp["name"]: dict(tp)
            for tp in ((previous.last_applied.get("touchpoints") or ()) if previous else ())
            if isinstance(tp, Mapping) and "name" in tp
        }
        desired = {tp["name"]: tp for tp in _desired_touchpoints(action)}
        entries: dict[str, dict[str, Any]] = {}
        for line in action.touchpoints:
            if line.action == ActionKind.CREATE or line.remote_id is None:
                continue
            ids[line.name] = line.remote_id
            if line.name in old_entries:
                entries[line.name] = old_entries[line.name]
            elif line.action == ActionKind.NO_OP and line.name in desired:
                entries[line.name] = _hashed_touchpoint(desired[line.name])
            else:
                entries[line.name] = {"name": line.name}
        for name in ids:
            entries.setdefault(name, old_entries.get(name) or {"name": name})
        return cls(
            action,
            journal,
            remote_id=_remote_id(action),
            status=action.live_status,
            live=None,
            ids=ids,
            entries=entries,
        )

    def removed(self, name: str) -> None:
        self.changed = True
        self.ids.pop(name, None)
        self.entries.pop(name, None)
        self._live_tps.pop(name, None)
        self.save()

    def applied(
        self,
        name: str,
        remote_id: str,
        desired: Mapping[str, Any],
        live: LiveTouchpoint | None = None,
    ) -> None:
        self.changed = True
        self.ids[name] = remote_id
        self.entries[name] = _hashed_touchpoint(desired)
        if live is not None:
            self._live_tps[name] = live
        self.save()

    def _ordered_names(self) -> list[str]:
        """Desired order first (the remote order once the step is done), then leftovers."""
        desired = [tp["name"] for tp in _desired_touchpoints(self.action)]
        names = [n for n in desired if n in self.ids]
        return names + [n for n in self.ids if n not in names]

    def save(self) -> None:
        desired = _desired(self.action)
        names = self._ordered_names()
        last_applied = hash_write_only({**desired, "touchpoints": []})
        last_applied["touchpoints"] = [self.entries[n] for n in names]
        self._journal.record(
            ManagedRecord(
                kind=self.action.kind,
                name=self.action.name,
                remote_id=self.remote_id,
                last_applied=last_applied,
                live_fingerprint=self._fingerprint(names),
                status=self.status,
                touchpoint_ids={n: self.ids[n] for n in names},
            )
        )

    def _fingerprint(self, names: Sequence[str]) -> str | None:
        """The fingerprint a list would give now, when every touchpoint was seen this run."""
        if self.live is None or any(n not in self._live_tps for n in names):
            return None
        touchpoints = tuple(self._live_tps[n] for n in names)
        return dc_replace(self.live, touchpoints=touchpoints).fingerprint


def _hashed_touchpoint(desired: Mapping[str, Any]) -> dict[str, Any]:
    """A touchpoint as last_applied records it (message hashed), via hash_write_only."""
    hashed = hash_write_only({"touchpoints": [dict(desired)]})
    return dict(hashed["touchpoints"][0])
