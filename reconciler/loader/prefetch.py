"""A second process that parses campaign files ahead of the loader, so both cores work.

Parsing YAML is half of a large `validate`; pydantic validation is the other half. Past
PREFETCH_AFTER files the loader forks a worker that walks the same directory in the same
order, skips the files the loader already read, and parses the rest: it sends back each
file's plain values, its text and the two positions every campaign needs, in marshal
chunks over a pipe, while the loader validates. Anything unusual about a file (an issue,
several documents, a value that is not a mapping) is sent back as "parse it yourself", so
every error is still found and placed by the loader's own code.

The loader waits for the worker's result of each file (PATIENT): measured at 10,000 files,
the loader then spends 0.7 s of CPU and the worker 0.7 s, against 1.55 s for the loader
alone, so with a second core free the load takes half the time, and without one it costs
no more CPU than before (marshal costs about what the loader's own parse of a file would).
Parsing a file itself when the worker's result is late instead (PATIENT off) was measured
worse: under load the worker is late often, and then both parse the same files.
Bounded: the worker dies with the loader (its next write fails once the pipe's reader is
gone) and is killed when the loader is done; a worker out of step with the loader, or
silent for WAIT_SECONDS, is killed and the loader parses the rest itself.
"""

from __future__ import annotations

import marshal
import os
import select
import signal
import struct
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from reconciler.forking import fork_with_pipe
from reconciler.loader.documents import Document, documents
from reconciler.loader.files import MAX_FILES, read_text, walk
from reconciler.loader.issues import Mark
from reconciler.sharing import share_strings

#: Files the loader parses itself before it starts a worker: a fork is not worth it below.
#: Measured side by side (perf_bench): 300 rather than 1,000 took validate of 1,000 files
#: from 0.265 to 0.238 s and an apply's first create 25 ms sooner, and changed no plan's
#: time; at 100 the fork and the unmarshalling cost more than the parse they save.
PREFETCH_AFTER = 300
#: Files per message from the worker: small, so that little of its work is dropped when the
#: loader has gone ahead of it.
CHUNK = 50
#: How long the loader waits for the worker's next message before parsing alone.
WAIT_SECONDS = 30.0
#: Wait (up to WAIT_SECONDS) for the worker's result of each file; off: parse a file whose
#: result is not there yet, and drop the worker's copy when it arrives.
PATIENT = True

_HEADER = struct.Struct("!I")
#: What the worker sends for a file: (path,) means "parse it yourself".
_Parsed = tuple[Any, ...]


class Prefetcher:
    """The loader's side of one worker: the worker's documents, one file at a time."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid = pid
        self.fd = fd
        self.results: deque[_Parsed] = deque()
        #: The loader's count of files offered to take(), and the worker's of results[0].
        self.index = 0
        self.first = 0
        self.done = False
        #: The absolute directory of each directory path met (`Document.base_dir`): one
        #: abspath per directory, not per file (each asks the kernel for the cwd).
        self.base_dirs: dict[str, str] = {}

    @classmethod
    def start(cls, root: Path, skip: int) -> Prefetcher | None:
        """Fork a worker for the campaign files after the first `skip`; None where a fork
        is not possible or not safe (one core, or other threads running in this process)."""
        if (os.cpu_count() or 1) < 2:
            return None
        forked = fork_with_pipe(lambda fd: _work(root, skip, fd))
        return None if forked is None else cls(*forked)

    def take(self, path: str) -> Document | None:
        """The worker's document for the next campaign file, which must be path; None when
        the loader is to parse it itself: the worker left it to the loader or is gone (or,
        with PATIENT off, has not sent it yet)."""
        index = self.index
        self.index += 1
        if self.done:
            return None
        while True:
            while self.results and self.first < index:  # the loader parsed these itself
                self.results.popleft()
                self.first += 1
            if self.results:
                break
            if not self._ready():
                return None
            if not self._receive():
                self.close()
                return None
        parsed = self.results.popleft()
        self.first += 1
        if parsed[0] != path:  # out of step (the directory changed under us): stop
            self.close()
            return None
        if len(parsed) == 1:
            return None
        _, value, text, line, column, name_line, name_column = parsed
        directory = os.path.dirname(path)
        base_dir = self.base_dirs.get(directory)
        if base_dir is None:
            base_dir = self.base_dirs[directory] = os.path.dirname(os.path.abspath(path))
        marks = (Mark(line, column), Mark(name_line, name_column))
        return Document(value, None, path, base_dir, text=text, marks=marks)

    def close(self) -> None:
        """Stop the worker (if it still runs) and reap it."""
        if self.done:
            return
        self.done = True
        os.close(self.fd)
        # Not reaped yet, so the pid is still ours (an exited worker is a zombie till then).
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)

    def _ready(self) -> bool:
        """Whether the worker's next message (or the end of the pipe) is there to read."""
        if PATIENT:
            return True  # _receive waits for it
        ready, _, _ = select.select([self.fd], [], [], 0)
        return bool(ready)

    def _receive(self) -> bool:
        header = self._read(_HEADER.size)
        if header is None:
            return False
        (size,) = _HEADER.unpack(header)
        body = self._read(size)
        if body is None:
            return False
        try:
            chunk = marshal.loads(body)
        except (EOFError, ValueError, TypeError):  # pragma: no cover - a worker gone wrong
            return False
        if not chunk:  # the worker's last message: no more files
            return False
        self.results.extend(chunk)
        return True

    def _read(self, size: int) -> bytes | None:
        """Exactly size bytes, or None at the end of the pipe or after WAIT_SECONDS."""
        parts: list[bytes] = []
        missing = size
        while missing:
            ready, _, _ = select.select([self.fd], [], [], WAIT_SECONDS)
            if not ready:
                return None
            part = os.read(self.fd, missing)
            if not part:
                return None
            parts.append(part)
            missing -= len(part)
        return b"".join(parts)


#: Workers forked by parse_ahead() before their loader ran, by the root they parse.
_EARLY: dict[str, Prefetcher] = {}


def parse_ahead(root: Path) -> Callable[[], None]:
    """Fork the worker for root's files now, while this process has no other thread (a fork
    is only safe then), for the loader to claim at its PREFETCH_AFTER-th file; returns the
    function that ends it once the load is over, claimed or not.

    For `plan`: its live lists and state read run on threads while the YAML loads, so a
    worker forked by the loader itself would be refused (and both cores left to one).
    A directory of fewer files costs a fork and a walk in the worker, nothing more.
    """
    key = str(root)
    worker = Prefetcher.start(root, skip=PREFETCH_AFTER)
    if worker is not None:
        _EARLY[key] = worker

    def done() -> None:
        left = _EARLY.pop(key, None)
        if left is not None:
            left.close()

    return done


def claim_early(root: Path) -> Prefetcher | None:
    """The worker parse_ahead(root) forked, now the caller's to take from and close."""
    return _EARLY.pop(str(root), None)


def _work(root: Path, skip: int, fd: int) -> None:  # pragma: no cover - runs in the worker
    """The worker: parse every campaign file after the first `skip`, send, exit."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the loader's to handle
        batch: list[_Parsed] = []
        for seen, entry in enumerate(_campaign_files(root), start=1):
            if seen > skip:
                batch.append(_parse(root, entry))
            if len(batch) >= CHUNK:
                _send(fd, batch)
                batch = []
        if batch:
            _send(fd, batch)
        _send(fd, [])
    except BaseException:  # the loader went away (a broken pipe), or anything else
        code = 1
    finally:
        os._exit(code)


def _campaign_files(root: Path) -> Iterator[os.DirEntry[str]]:  # pragma: no cover - worker
    """The campaign files the loader walks, in its order, up to its cap."""
    seen = 0
    for listing in walk(root, []):
        for entry in listing.campaigns:
            seen += 1
            if seen > MAX_FILES:
                return
            yield entry


def _parse(root: Path, entry: os.DirEntry[str]) -> _Parsed:  # pragma: no cover - worker
    """One file as the loader would read it, or (path,) for anything but the plain case."""
    path = entry.path
    try:
        issues: list[Any] = []
        text = read_text(path, root, issues, entry)
        if text is None or issues:
            return (path,)
        # The worker sends no base_dir (the loader finds its own): none is looked up here.
        docs = list(documents(path, text, issues, base_dir=""))
        if issues or len(docs) != 1 or not isinstance(docs[0].value, dict):
            return (path,)
        start, name = docs[0].start_and_name_marks()
    except Exception:
        return (path,)
    # Equal strings become one object, which marshal then sends once and the loader's
    # models keep once (each file's kind, sender, template... were their own strings).
    share_strings(docs[0].value)
    return (path, docs[0].value, text, start.line, start.column, name.line, name.column)


def _send(fd: int, batch: list[_Parsed]) -> None:  # pragma: no cover - runs in the worker
    body = marshal.dumps(batch)
    data = memoryview(_HEADER.pack(len(body)) + body)
    while data:
        written = os.write(fd, data)
        data = data[written:]
