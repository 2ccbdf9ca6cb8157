"""reconciler.state.prefetch: the state read ahead of need (StateStore.prefetch), in a
forked child for a remote state not opened yet, else on a thread.

A plan only reads the state, and on S3 or PostgreSQL that read costs the client library's
import and set-up (botocore about 170 ms of CPU, psycopg about 100 ms), which a thread
cannot hide: it holds the same interpreter lock as the YAML loading it would overlap. A
forked child does it on the second core and sends back the state and journal, pickled
over a pipe; the parent never imports the library unless there is a journal to fold
(which needs the lock, so the backend itself).

Anything unusual (the child fails, dies, is silent for WAIT_SECONDS, or answers what
does not unpickle) makes result() return None: the parent then reads the state itself, so
every error is raised by the same code, with the same message, as without this module.
Only forked while this process has no other thread (a fork copies their locks); where it
cannot fork, a thread reads the state (ThreadRead), which still overlaps the round trips.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from reconciler.forking import fork_with_pipe

if TYPE_CHECKING:
    from reconciler.state.backend import Backend
    from reconciler.state.journal import JournalEntry
    from reconciler.state.location import StateLocation
    from reconciler.state.model import State

__all__ = ["ForkedRead", "ThreadRead"]

#: How long the parent waits for the child's answer before reading the state itself.
WAIT_SECONDS = 60.0
#: The largest answer read from the child (a state is capped well below this).
MAX_ANSWER_BYTES = 1 << 30


class ThreadRead:
    """One read of a state on a thread; result() raises its error in the caller's thread."""

    def __init__(self, backend: Callable[[], Backend | None]) -> None:
        self._backend = backend
        self._found: tuple[State, list[JournalEntry]] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="state-prefetch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            backend = self._backend()
            assert backend is not None
            self._found = backend.load(quiet=True)
        except BaseException as exc:  # raised again by result(), in the reader's thread
            self._error = exc

    def result(self) -> tuple[State, list[JournalEntry]]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._found is not None
        return self._found


class ForkedRead:
    """One read of a remote state by a forked child; result() is its (state, journal)."""

    def __init__(self, pid: int, fd: int) -> None:
        self._pid = pid
        self._fd = fd

    @classmethod
    def start(cls, location: StateLocation) -> ForkedRead | None:
        """Fork the reader of location; None where a fork is not possible or not safe."""
        forked = fork_with_pipe(lambda fd: _read_and_send(location, fd))
        return None if forked is None else cls(*forked)

    def result(self) -> tuple[State, list[JournalEntry]] | None:
        """The child's (state, journal); None when the caller is to read it itself."""
        try:
            answer = _read_all(self._fd)
            found = pickle.loads(answer) if answer else None
        except Exception:  # a broken answer: read it again in this process
            found = None
        finally:
            os.close(self._fd)
            self._end_child()
        if not isinstance(found, tuple) or len(found) != 2:
            return None
        return found

    def cancel(self) -> None:
        """End the child now, its answer unread."""
        os.close(self._fd)
        self._end_child()

    def _end_child(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._pid, signal.SIGKILL)  # done or stuck: it has nothing more to do
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self._pid, 0)


def _read_all(fd: int) -> bytes:
    """Everything the child writes until it closes the pipe; empty on silence or excess."""
    chunks: list[bytes] = []
    size = 0
    while True:
        ready, _, _ = select.select([fd], [], [], WAIT_SECONDS)
        if not ready:
            return b""
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            return b""
        chunks.append(chunk)


def _read_and_send(location: StateLocation, fd: int) -> None:  # pragma: no cover - child
    """The child: open the backend, read the state and journal, send them pickled, exit."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
        from reconciler.state.location import open_backend

        backend = open_backend(location)
        answer = pickle.dumps(backend.load(quiet=True), protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(answer)
        while view:
            view = view[os.write(fd, view) :]
    except BaseException:  # any failure: the parent reads the state itself
        code = 1
    finally:
        os._exit(code)
