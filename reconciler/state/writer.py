"""reconciler.state.writer: journal lines stored in the background, in groups, a ticket each.

A remote store (S3, PostgreSQL) takes a round trip per journal write. `GroupWriter` lets the
caller hand a line over and go on (the applier makes another campaign's API call meanwhile);
`Durable.wait()` on the line's ticket returns once it is stored, or raises the StateError
that stopped it. Up to `writers` background threads each take every line queued meanwhile
and store them with one call (group commit), in the order they were handed over.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from reconciler.errors import StateError

__all__ = ["DONE", "Durable", "GroupWriter"]


class Durable:
    """One journal line handed to a backend: `wait()` until it is stored."""

    __slots__ = ("_event", "error")

    def __init__(self) -> None:
        self._event = threading.Event()
        self.error: StateError | None = None

    def resolve(self, error: StateError | None = None) -> None:
        self.error = error
        self._event.set()

    @property
    def done(self) -> bool:
        return self._event.is_set()

    def wait(self) -> None:
        """Return once the line is stored; raise the StateError if it could not be."""
        self._event.wait()
        if self.error is not None:
            raise self.error


#: The ticket of a line a synchronous backend (the file) has already made durable.
DONE = Durable()
DONE.resolve()

#: `flush([(seq, line), ...])`: store the lines (in handing-over order, each with its run
#: number) durably, or raise StateError.
Flush = Callable[[list[tuple[int, str]]], None]


class GroupWriter:
    """Background journal writers for one run (thread-safe). Once a write failed, every
    later `submit` raises: no step may be taken as recorded after a lost one."""

    def __init__(self, flush: Flush, *, writers: int, where: str, name: str) -> None:
        self._flush = flush
        self._max_writers = writers
        self._where = where
        self._name = name
        self._cond = threading.Condition()
        self._queue: list[tuple[int, str, Durable]] = []
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._closing = False
        self.broken: StateError | None = None

    def submit(self, seq: int, line: str) -> Durable:
        """Queue one line (`seq`: its number in the run, unique)."""
        ticket = Durable()
        with self._cond:
            if self.broken is not None:
                raise StateError(
                    f"an earlier journal write failed: {self.broken.message}", where=self._where
                )
            if self._closing:
                raise StateError("the journal is closed", where=self._where)
            self._queue.append((seq, line, ticket))
            if self._idle == 0 and len(self._threads) < self._max_writers:
                thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._threads.append(thread)
                thread.start()
            else:
                self._cond.notify()
        return ticket

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._idle += 1
                while not self._queue and not self._closing:
                    self._cond.wait()
                self._idle -= 1
                if not self._queue:
                    return
                batch, self._queue = self._queue, []
            error = self._store(batch)
            for _, _, ticket in batch:
                ticket.resolve(error)

    def _store(self, batch: list[tuple[int, str, Durable]]) -> StateError | None:
        with self._cond:
            error = self.broken
        if error is None:
            try:
                self._flush([(seq, line) for seq, line, _ in batch])
                return None
            except StateError as exc:
                error = exc
            except Exception as exc:  # a bug must fail the run's steps, never hang them
                error = StateError(f"journal write failed: {exc!r}", where=self._where)
        with self._cond:
            self.broken = self.broken or error
            return self.broken

    def close(self) -> None:
        """Store what is queued, then stop the writers (their tickets are all resolved)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join()
