"""reconciler.applier.journal: the state records a step writes, and lifecycle-only changes."""

from __future__ import annotations

import dataclasses
import threading
from typing import TYPE_CHECKING, Any

from reconciler.canonical import hash_write_only
from reconciler.errors import StateError
from reconciler.plan import ActionKind
from reconciler.planner import record_for_update
from reconciler.state import ManagedRecord
from reconciler.state.writer import Durable

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
    """The state store as the workers use it: durability per campaign, not per call.

    `record` hands a step to the store and returns while a remote store writes it, so the
    worker can make another campaign's API call meanwhile. The rule kept is the issue's:
    a finished step is stored before the next call ON THAT CAMPAIGN (`before_call`, run
    before every provider call), and a worker has at most one step not yet stored (its next
    record waits for it), so a crash loses at most one finished step per worker plus the
    calls in flight, all of which the next run adopts by name or redoes.
    """

    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._local = threading.local()
        self._mutex = threading.Lock()
        #: Every step handed over, with its campaign: `failures()` reads them at the end.
        self._handed: list[tuple[tuple[str, str], Durable]] = []

    def begin(self, kind: str, name: str) -> None:
        """The calling worker starts this campaign's task (its last step may still be in
        flight: the first call of the new campaign overlaps it)."""
        self._local.campaign = (kind, name)

    def before_call(self) -> None:
        """Before a provider call: the worker's last step, if it is this campaign's, stored."""
        pending: tuple[tuple[str, str], Durable] | None = getattr(self._local, "pending", None)
        if pending is not None and pending[0] == getattr(self._local, "campaign", None):
            self._settle()

    def _settle(self) -> None:
        pending: tuple[tuple[str, str], Durable] | None = getattr(self._local, "pending", None)
        self._local.pending = None
        if pending is not None:
            pending[1].wait()

    def _hand_over(self, campaign: tuple[str, str], ticket: Durable | None) -> None:
        if ticket is None or (ticket.done and ticket.error is None):
            return
        self._local.pending = (campaign, ticket)
        with self._mutex:
            self._handed.append((campaign, ticket))

    def record(self, record: ManagedRecord) -> None:
        self._settle()  # at most one step per worker not yet stored
        self._hand_over((record.kind, record.name), self._store.record_async(record))

    def forget(self, kind: str, name: str) -> None:
        self._settle()
        self._hand_over((kind, name), self._store.forget_async(kind, name))

    def failures(self) -> dict[tuple[str, str], str]:
        """Wait for every step handed over; the campaigns whose journal write failed."""
        with self._mutex:
            handed, self._handed = self._handed, []
        failed: dict[tuple[str, str], str] = {}
        for campaign, ticket in handed:
            try:
                ticket.wait()
            except StateError as exc:
                failed.setdefault(campaign, exc.message)
        return failed

    def previous(self, kind: str, name: str) -> ManagedRecord | None:
        return self._store.read().get(kind, name)

    def knows_remote_id(self, kind: str, remote_id: str) -> bool:
        return self._store.read().by_remote_id(kind, remote_id) is not None


class _Ordered:
    """A provider whose every call first waits for the worker's last step of the same
    campaign to be stored (`_Journal.before_call`): no call site can forget to."""

    def __init__(self, provider: Any, journal: _Journal) -> None:
        self._provider = provider
        self._journal = journal

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._provider, name)
        if not callable(attribute):
            return attribute
        journal = self._journal

        def call(*args: Any, **kwargs: Any) -> Any:
            journal.before_call()
            return attribute(*args, **kwargs)

        return call
