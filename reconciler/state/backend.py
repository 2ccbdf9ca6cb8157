"""reconciler.state.backend: what a place that keeps states (file, S3, PostgreSQL) must do.

`StateStore` (store.py) is the one object the planner and applier see; it keeps the state in
memory and calls a Backend to make it durable. A backend stores, per workspace, one state
document, its lock (with the holder's details) and the journal of the run holding the lock.
Every method raises StateError (or StateLocked) with a one-line message naming `where`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from reconciler.state.journal import JournalEntry
from reconciler.state.lock import LockInfo
from reconciler.state.model import State
from reconciler.state.writer import DONE, Durable

__all__ = ["Backend", "HistoryEntry"]


@dataclass(frozen=True)
class HistoryEntry:
    """One past version of a state: `state history` prints these, newest first."""

    version: str
    written: str
    serial: int | None
    lineage: str | None
    size: int


class Backend(ABC):
    """One workspace's state on one store. Thread-safe where noted (a parallel apply)."""

    #: The state's name in messages: a path or a URL without credentials, with the workspace.
    where: str
    #: Where the lock lives, in messages.
    lock_where: str

    @abstractmethod
    def load(self, *, quiet: bool) -> tuple[State, list[JournalEntry]]:
        """The stored state (a fresh State if there is none) and the journal left beside it.

        The journal is read first (see journal.fold). `quiet`: a torn journal line is
        logged at debug level (a reader that does not hold the lock).
        """

    @abstractmethod
    def exists(self) -> bool:
        """True when a state document has been written."""

    @abstractmethod
    def acquire(self, info: LockInfo) -> None:
        """Take the lock for `info`, taking over a stale one; StateLocked naming a live one."""

    @abstractmethod
    def release(self) -> None:
        """Give back the lock this backend holds (a no-op if none); warn if it was broken."""

    @abstractmethod
    def append(self, seq: int, line: str) -> None:
        """Make one journal line durable before returning (thread-safe; `seq` orders lines
        of one run: 0, 1, 2, ...)."""

    def append_async(self, seq: int, line: str) -> Durable:
        """Hand one journal line over; its ticket's `wait()` returns once it is durable.

        Lines are handed over in `seq` order (the caller serialises the calls). The default
        is `append` (the file's fsync'd line is cheap); a remote store overrides it to write
        in the background, so the caller can go on while the round trip is in flight.
        """
        self.append(seq, line)
        return DONE

    @abstractmethod
    def write(self, state: State) -> None:
        """Replace the stored state with `state` (under the lock), then drop the journal."""

    @abstractmethod
    def clear_journal(self) -> None:
        """Drop the journal (one already folded into the stored state)."""

    @abstractmethod
    def holder(self) -> LockInfo | None:
        """Who holds the lock now, None if no one does."""

    @abstractmethod
    def break_lock(self, lock_id: str, *, force: bool) -> LockInfo:
        """`state unlock ID`: remove the lock whose id is `lock_id`; return who held it."""

    @abstractmethod
    def workspaces(self) -> list[str]:
        """Every workspace with a state (or a journal) on this store, sorted."""

    def history(self) -> list[HistoryEntry]:
        """Past versions of the state, newest first; StateError where the store keeps none."""
        from reconciler.errors import StateError

        raise StateError(
            "this backend keeps no history of the state",
            where=self.where,
            hint="keep the state file in git, or use a versioned S3 bucket or PostgreSQL",
        )

    def prepare_locked(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Called just after the lock was taken (the file backend removes stale temp files)."""

    def close(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Free connections; the store calls it when done."""
