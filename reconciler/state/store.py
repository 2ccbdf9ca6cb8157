"""reconciler.state.store: StateStore, the one state object the planner and applier use.

It keeps the state in memory and makes every change durable through a Backend (a file,
S3 or PostgreSQL; see backend.py), so the callers never know which one they use.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reconciler.errors import StateError, StateLocked
from reconciler.state.backend import Backend, HistoryEntry
from reconciler.state.file_backend import FileBackend
from reconciler.state.journal import JournalEntry, encode_entry, fold, move_record
from reconciler.state.location import StateLocation, open_backend, state_location
from reconciler.state.lock import LockInfo, SigtermGuard
from reconciler.state.model import ManagedRecord, State
from reconciler.state.prefetch import ForkedRead, ThreadRead
from reconciler.state.writer import DONE, Durable

__all__ = ["StateStore"]

log = logging.getLogger("reconciler.state")

#: Waiting for a lock: the first pause, and the longest (short enough that a SIGTERM
#: while waiting is acted on quickly; the pause resumes after the signal handler runs).
_WAIT_FIRST_S = 0.2
_WAIT_MAX_S = 2.0


class StateStore:
    """Reads, journals, commits and locks one state; `StateStore(None)` is --no-state.

    Writes (`record`, `forget`, `move`, `commit`) need the lock: `with store.lock("apply"):
    state = store.read(); ...; store.commit()`. They are thread-safe, for a parallel apply.
    `StateStore(path)` is the file backend, `StateStore(StateLocation(url, workspace))` or
    `StateStore("s3://...")` a remote one, `StateStore(backend=...)` any other.
    """

    def __init__(
        self, path: Path | str | StateLocation | None = None, *, backend: Backend | None = None
    ) -> None:
        #: A remote state's location: its backend (boto3 / psycopg, a client) is made on
        #: first use, in the prefetch thread when there is one.
        self._location: StateLocation | None = None
        if backend is None and path is not None:
            location = state_location(path) if isinstance(path, str) else path
            if isinstance(location, StateLocation):
                self._location = location
            else:
                backend = open_backend(location)
        self._backend = backend
        self._open_mutex = threading.Lock()
        self._prefetch: ThreadRead | ForkedRead | None = None
        files = backend if isinstance(backend, FileBackend) else None
        #: The path as given (file backend), for messages; None for --no-state or remote.
        self.path = files.path if files is not None else None
        #: The one file behind every spelling of the path (see FileBackend).
        self.real_path = files.real_path if files is not None else None
        self.journal_path = files.journal_path if files is not None else None
        self.lock_path = files.lock_path if files is not None else None
        self._mutex = threading.RLock()
        self._state: State | None = None
        self._lock: LockInfo | None = None
        self._seq = 0
        self._dirty = False
        self._read_under_lock = False
        #: Journal lines handed to the backend and not yet known to be stored.
        self._pending: list[Durable] = []

    @property
    def backend(self) -> Backend | None:
        """Where the state is kept (None: --no-state); a remote one is opened on first use."""
        if self._backend is None and self._location is not None:
            with self._open_mutex:
                if self._backend is None:
                    self._backend = open_backend(self._location)
        return self._backend

    @property
    def where(self) -> str:
        """The state's name in messages (a path, or a URL without credentials)."""
        if self._backend is None and self._location is not None:
            return self._location.display
        return self.backend.where if self.backend is not None else "--no-state"

    def prefetch(self) -> StateStore:
        """Start opening and reading the state in a background thread; `read()` takes the
        result (and raises its error). A plan calls it before loading the YAML, so the
        imports, client, connection and round trips of a remote store overlap that work.
        A no-op for --no-state, under the lock, or once the state was read. Returns self.
        """
        with self._mutex:
            idle = self._prefetch is None and self._state is None and not self.holds_lock
            if idle and self._location is not None and self._backend is None:
                # Remote and not opened yet: a child process reads it on the other core.
                self._prefetch = ForkedRead.start(self._location)
            if idle and self._prefetch is None and self.has_state:
                self._prefetch = ThreadRead(lambda: self.backend)
        return self

    @property
    def has_state(self) -> bool:
        """False for --no-state; asking does not open a remote backend."""
        return self._backend is not None or self._location is not None

    def drop_prefetch(self) -> None:
        """Forget a read ahead that will not be used: a forked reader is killed and reaped
        at once (a thread, which cannot be stopped, ends on its own)."""
        with self._mutex:
            prefetch, self._prefetch = self._prefetch, None
        if isinstance(prefetch, ForkedRead):
            prefetch.cancel()

    def _take_prefetched(self) -> tuple[State, list[JournalEntry]] | None:
        """The prefetched state and journal (None if there was no prefetch)."""
        prefetch, self._prefetch = self._prefetch, None
        return prefetch.result() if prefetch is not None else None

    @property
    def holds_lock(self) -> bool:
        return self._lock is not None

    def exists(self) -> bool:
        """True when a state has been written (never true for --no-state)."""
        return self.backend is not None and self.backend.exists()

    def close(self) -> None:
        with contextlib.suppress(StateError):
            self._take_prefetched()  # its thread must not use the backend after close
        self.settle()
        if self._backend is not None:  # one never opened has nothing to close
            self._backend.close()

    # ---- reading

    def read(self) -> State:
        """The current state: the stored one plus any journal; a fresh State if there is none.

        A journal that a crashed run left is folded into the state (under the lock); the
        journal of a live run holding the lock is only applied in memory. Under this
        store's own lock the state is read once and then kept in memory: no one else
        writes while the lock is held.
        """
        with self._mutex:
            if not self.has_state:
                if self._state is None:
                    self._state = State()
                return self._state
            if self.holds_lock:
                if not self._read_under_lock:
                    with contextlib.suppress(StateError):
                        self._take_prefetched()  # read before the lock: read again under it
                    assert self.backend is not None
                    self._state, self._dirty = self._load_locked(self.backend), False
                    self._read_under_lock = True
                assert self._state is not None
                return self._state
            prefetched = self._take_prefetched()
            if prefetched is not None and not prefetched[1]:
                # Nothing to fold: the backend (its library) is not even opened here.
                self._state, self._dirty = prefetched[0], False
                return self._state
            assert self.backend is not None
            self._state, self._dirty = self._load_unlocked(self.backend, prefetched), False
            return self._state

    def _load_locked(self, backend: Backend) -> State:
        state, entries = backend.load(quiet=False)
        if fold(state, entries, self._journal_where()):
            log.warning(
                "warning: folding %s, left by an interrupted run, into %s",
                self._journal_where(),
                backend.where,
            )
            state.serial += 1
            backend.write(state)
        else:
            backend.clear_journal()
        return state

    def _load_unlocked(
        self, backend: Backend, prefetched: tuple[State, list[JournalEntry]] | None
    ) -> State:
        state, entries = prefetched or backend.load(quiet=True)
        if not entries:
            return state
        guard = SigtermGuard()  # a SIGTERM while folding waits for the lock's release
        try:
            try:
                backend.acquire(LockInfo.new("campaignctl (folding a journal)"))
            except StateLocked:
                fold(state, entries, self._journal_where())  # a live run's: in memory only
                return state
            try:
                return self._load_locked(backend)
            finally:
                backend.release()
        finally:
            guard.restore()
            guard.raise_deferred()

    def _journal_where(self) -> str:
        if self.journal_path is not None:
            return str(self.journal_path)
        return f"{self.where} (journal)"

    # ---- writing

    def record(self, record: ManagedRecord) -> None:
        """Record a finished step: durable in the backend's journal, then in memory."""
        self.record_async(record).wait()

    def record_async(self, record: ManagedRecord) -> Durable:
        """Record a finished step and return at once: in memory now, durable once the
        ticket's `wait()` returns (a remote store writes it in the background).

        The caller must wait before it depends on the step being stored (the applier:
        before that campaign's next API call). A write that failed raises there; the
        record stays in memory, so the commit still stores it (it describes what exists).
        """
        saved = _copied(record)  # the caller's object may change later
        return self._write_step("put", {"record": saved.to_dict()}, lambda state: state.put(saved))

    def forget(self, kind: str, name: str) -> bool:
        """Drop a campaign from state (the live campaign stays); False if it was not there."""
        ticket = self.forget_async(kind, name)
        if ticket is None:
            return False
        ticket.wait()
        return True

    def forget_async(self, kind: str, name: str) -> Durable | None:
        """`forget` without waiting (see record_async); None if it was not in state."""
        with self._mutex:
            if self._writable().get(kind, name) is None:
                return None
        payload = {"kind": kind, "name": name}
        return self._write_step("forget", payload, lambda s: s.remove(kind, name))

    def move(self, kind: str, name: str, new_name: str) -> ManagedRecord:
        """Rename a record in one journal line, so no crash can leave it half-moved."""
        with self._mutex:
            state = self._writable()
            if state.get(kind, name) is None:
                raise StateError(f"{State.key(kind, name)} is not in state", where=self.where)
            if state.get(kind, new_name) is not None:
                raise StateError(
                    f"{State.key(kind, new_name)} is already in state", where=self.where
                )
            payload = {"kind": kind, "name": name, "new_name": new_name}
            self._write_step("move", payload, lambda s: move_record(s, kind, name, new_name)).wait()
            moved = state.get(kind, new_name)
            assert moved is not None
            return moved

    def _write_step(self, op: str, payload: dict[str, Any], change: Any) -> Durable:
        """Hand one step's journal line to the backend, then apply `change` in memory.

        The hand-over happens outside the store's mutex: on the file backend it is an
        fsync, and a parallel apply's workers must not queue behind each other's. A caller
        never has two steps of one campaign in flight at once (the applier waits for a
        campaign's step to be durable before its next call), so their order is kept.
        """
        with self._mutex:
            state = self._writable()
            line = encode_entry(state, op, payload, self.where)
            seq, self._seq = self._seq, self._seq + 1
        ticket = DONE if self.backend is None else self.backend.append_async(seq, line)
        with self._mutex:
            change(state)
            self._dirty = True
            if not ticket.done:
                self._pending = [t for t in self._pending if not t.done]
                self._pending.append(ticket)
        return ticket

    def settle(self) -> StateError | None:
        """Wait until every step handed over is stored; the first write error, if any."""
        with self._mutex:
            pending, self._pending = self._pending, []
        first: StateError | None = None
        for ticket in pending:
            try:
                ticket.wait()
            except StateError as exc:
                first = first or exc
        return first

    def commit(self) -> State:
        """Fold this run's journal into the stored state: one write, serial + 1.

        Every step handed over is waited for first (a failed journal write was reported to
        the step's caller; its record is in memory and so in the state written here).
        """
        self.settle()
        with self._mutex:
            state = self._writable()
            if not self._dirty:
                return state
            state.serial += 1
            if self.backend is not None:
                try:
                    self.backend.write(state)
                except StateError:
                    state.serial -= 1
                    raise
            self._dirty = False
            self._seq = 0
            return state

    def push(self, new: State, *, force: bool = False) -> State:
        """`state push`: replace the stored state with `new` (under the lock).

        Only a state of the same lineage and a newer serial, unless `force` (then written
        one serial past the stored one, so that every reader sees a change).
        """
        with self._mutex:
            current = self._writable()
            fresh = current.serial == 0 and not self.exists()
            if not force and not fresh:
                if new.lineage != current.lineage:
                    raise StateError(
                        f"the pushed state has lineage {new.lineage}, the stored one "
                        f"{current.lineage}",
                        where=self.where,
                        hint="it is another state; push it anyway with `state push --force`",
                    )
                if new.serial <= current.serial:
                    raise StateError(
                        f"the pushed state has serial {new.serial}, not newer than the stored "
                        f"{current.serial}",
                        where=self.where,
                        hint="pull, merge and push again, or push it anyway with --force",
                    )
            if force and not fresh:
                new.serial = max(new.serial, current.serial + 1)
            if self.backend is not None:
                self.backend.write(new)
            self._state, self._dirty, self._seq = new, False, 0
            return new

    def _writable(self) -> State:
        if self.backend is not None and not self.holds_lock:
            raise StateError(
                "state writes need the state lock (use `with store.lock(command):`)",
                where=self.where,
            )
        return self.read()

    # ---- locking

    @contextlib.contextmanager
    def lock(self, command: str, *, timeout: float = 0.0) -> Iterator[LockInfo]:
        """Hold the state lock for the block; StateLocked if a live run holds it past
        `timeout` seconds (waiting with backoff, logging who holds it).

        A state read before the lock (plan, then apply) is checked against the stored one:
        if another run changed it meanwhile, StateError, since the plan was made on an old
        state. On the way out, recorded steps not yet committed are committed, so an
        exception in the middle of an apply still leaves a whole state, no journal.
        """
        guard = SigtermGuard()
        try:
            with self._mutex:
                if self.holds_lock:
                    raise StateError("this run already holds the state lock", where=self.where)
                info = LockInfo.new(command)
                if self.backend is not None:
                    self._acquire(self.backend, info, timeout, guard)
                self._lock = info
                try:
                    if self.backend is not None:
                        self.backend.prepare_locked()
                    self._check_unchanged()
                except BaseException:
                    self._release()
                    raise
            try:
                guard.arm()
                yield info
            finally:
                guard.defer()  # a SIGTERM now must not cut the commit or the release short
                with self._mutex:
                    try:
                        if self._dirty:
                            self.commit()
                    finally:
                        self._release()
        except BaseException:
            guard.restore()
            raise
        guard.restore()
        guard.raise_deferred()

    def _acquire(self, backend: Backend, info: LockInfo, timeout: float, guard: Any) -> None:
        deadline = time.monotonic() + timeout
        pause, announced = _WAIT_FIRST_S, ""
        while True:
            try:
                backend.acquire(info)
                return
            except StateLocked as exc:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                if exc.lock_id != announced:
                    log.warning("waiting for the state lock (up to %ds): %s", left, exc.message)
                    announced = exc.lock_id
            guard.raise_deferred()  # SIGTERM while waiting: stop waiting
            time.sleep(min(pause, max(left, 0.01)))
            guard.raise_deferred()
            pause = min(pause * 2, _WAIT_MAX_S)

    def _check_unchanged(self) -> None:
        """Under a fresh lock: keep a state read before it only if the store still matches."""
        before = self._state
        if self.backend is None or before is None:
            return
        current = self.read()
        never_written = before.serial == 0 and current.serial == 0 and not self.exists()
        if never_written or (current.lineage, current.serial) == (before.lineage, before.serial):
            self._state = before  # the same content; callers may hold this object
            return
        raise StateError(
            f"the state changed since it was read (serial {before.serial} -> {current.serial})",
            where=self.where,
            hint="another run wrote it meanwhile: plan again",
        )

    def _release(self) -> None:
        self._lock = None
        self._read_under_lock = False
        self._seq = 0
        self.settle()  # (a no-op after a commit) no journal write may outlive the lock
        if self.backend is not None:
            self.backend.release()

    def unlock(self, lock_id: str, *, force: bool = False) -> LockInfo:
        """Remove the lock if `lock_id` is its id (`state unlock`); return who held it.

        A holder still running on this host keeps its lock unless `force`: breaking it would
        let another run write the state under it, and one of the two would lose its records.
        """
        if self.backend is None:
            raise StateError("there is no lock without a state file", where="--no-state")
        return self.backend.break_lock(lock_id, force=force)

    def history(self) -> list[HistoryEntry]:
        if self.backend is None:
            raise StateError("there is no history without a state", where="--no-state")
        return self.backend.history()

    def workspaces(self) -> list[str]:
        if self.backend is None:
            raise StateError("there are no workspaces without a state", where="--no-state")
        return self.backend.workspaces()


def _copied(record: ManagedRecord) -> ManagedRecord:
    """A copy of `record` sharing nothing mutable (copy.deepcopy's cost, a tenth of a
    millisecond a step, was a tenth of a parallel apply's CPU)."""
    return dataclasses.replace(
        record,
        last_applied=_copied_json(record.last_applied),
        touchpoint_ids=dict(record.touchpoint_ids),
    )


def _copied_json(value: Any) -> Any:
    """A deep copy of JSON-like data (dicts, lists, tuples of str/int/float/bool/None)."""
    kind = type(value)
    if kind is dict:
        return {key: _copied_json(item) for key, item in value.items()}
    if kind is list:
        return [_copied_json(item) for item in value]
    if kind in (str, int, float, bool) or value is None:
        return value
    if kind is tuple:
        return tuple(_copied_json(item) for item in value)
    return copy.deepcopy(value)  # anything else (never in a record today): the safe way
