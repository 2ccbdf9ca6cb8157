"""reconciler.applier.journal: the state records a step writes, and lifecycle-only changes."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from reconciler.canonical import hash_write_only
from reconciler.plan import ActionKind
from reconciler.planner import record_for_update
from reconciler.state import ManagedRecord

if TYPE_CHECKING:
    from reconciler.plan import Action, Plan
    from reconciler.state import StateStore
from reconciler.applier.common import (
    _desired,
)


def applied_fields(action: Action, previous: ManagedRecord | None) -> dict[str, Any]:
    """What the state records as applied: the desired form, write-only values hashed.

    A field in `lifecycle.ignore_changes` is sent on create only; an update keeps what the
    last apply recorded for it (or nothing), since the YAML's new value was never sent.
    """
    if action.action in (ActionKind.CREATE, ActionKind.REPLACE):
        return hash_write_only(_desired(action))
    return record_for_update(_desired(action), previous.last_applied if previous else None)


def record_lifecycle_changes(plan: Plan, store: StateStore) -> None:
    """Record `lifecycle.prevent_destroy` for unchanged campaigns whose flag changed.

    Setting or dropping the flag changes nothing remotely, so the plan is a no-op; but the
    state must learn it, or a campaign later removed from the YAML could not be protected.
    """
    state = store.read()
    for action in plan.actions:
        if action.action != ActionKind.NO_OP or action.desired is None:
            continue
        record = state.get(action.kind, action.name)
        if record is None or record.remote_id != action.remote_id:
            continue
        wanted = action.desired.get("lifecycle")
        if record.last_applied.get("lifecycle") == wanted:
            continue
        last_applied = {k: v for k, v in record.last_applied.items() if k != "lifecycle"}
        if wanted is not None:
            last_applied["lifecycle"] = wanted
        store.record(dataclasses.replace(record, last_applied=last_applied))


class _Journal:
    """The state store as the workers use it (StateStore is thread-safe)."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def record(self, record: ManagedRecord) -> None:
        self._store.record(record)

    def forget(self, kind: str, name: str) -> None:
        self._store.forget(kind, name)

    def previous(self, kind: str, name: str) -> ManagedRecord | None:
        return self._store.read().get(kind, name)

    def knows_remote_id(self, kind: str, remote_id: str) -> bool:
        return self._store.read().by_remote_id(kind, remote_id) is not None
