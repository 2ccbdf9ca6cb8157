"""reconciler.state.lock: who holds a state lock, the lock error, and SIGTERM while holding it.

Every backend records the same holder (`LockInfo`): the id that `state unlock` takes, the
user, host and pid, the command and since when. A holder on this host whose process is
gone is stale: the next run takes the lock over with a warning.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import signal
import socket
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from reconciler.errors import StateLocked
from reconciler.jsoncodec import loads
from reconciler.state.model import utc_now

__all__ = [
    "LOCK_FIELDS",
    "LockInfo",
    "SigtermGuard",
    "Terminated",
    "locked_error",
    "pid_alive",
    "take_over_or_raise",
    "warn_takeover",
]

log = logging.getLogger("reconciler.state")
T = TypeVar("T")

#: The fields of a lock as written by campaignctl before `who` was added (still accepted).
LOCK_FIELDS = ("id", "pid", "host", "started", "command")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (a bare container)
        return f"uid {os.getuid()}"


@dataclass(frozen=True)
class LockInfo:
    """Who holds the state lock: the id that `state unlock` takes, pid, host, since when."""

    id: str
    pid: int
    host: str
    started: str
    command: str
    who: str = ""

    @classmethod
    def new(cls, command: str) -> LockInfo:
        return cls(
            str(uuid.uuid4()), os.getpid(), socket.gethostname(), utc_now(), command, _user()
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: getattr(self, name) for name in LOCK_FIELDS}
        if self.who:
            data["who"] = self.who
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=2) + "\n"

    @classmethod
    def parse(cls, raw: bytes) -> LockInfo | None:
        """The lock described by `raw`, or None when it is not a whole, valid lock file."""
        try:
            data = loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> LockInfo | None:
        if not isinstance(data, dict) or set(data) - {"who"} != set(LOCK_FIELDS):
            return None
        pid = data["pid"]
        if not isinstance(pid, int) or isinstance(pid, bool):
            return None
        if not all(isinstance(data.get(k, ""), str) for k in (*LOCK_FIELDS[2:], "id", "who")):
            return None
        return cls(**data)

    def is_stale(self) -> bool:
        """True when the holder was on this host and its process is gone."""
        return self.host == socket.gethostname() and not pid_alive(self.pid)

    def describe(self) -> str:
        """`pid 4242 on this host since 2026-11-25T10:00:00Z (campaignctl apply)`."""
        where = self.host if self.host != socket.gethostname() else "this host"
        by = f"; user {self.who}" if self.who else ""
        return f"pid {self.pid} on {where} since {self.started} ({self.command}{by})"


def locked_error(holder: LockInfo, state_where: str, lock_where: str) -> StateLocked:
    """The error of a run that finds the lock held by `holder`."""
    return StateLocked(
        f"state {state_where} is locked by {holder.describe()}",
        where=lock_where,
        hint=(
            "wait for that run to finish (or pass --lock-timeout 90s); if it is gone, break "
            f"the lock with `campaignctl state unlock {holder.id}`"
        ),
        lock_id=holder.id,
        holder=holder.to_dict(),
    )


def warn_takeover(holder: LockInfo, lock: str, why: str) -> None:
    """Say that the lock `holder` left is taken over, and `why` that is safe."""
    log.warning(
        "warning: taking over %s %s of pid %d on %s since %s (%s): %s",
        lock,
        holder.id,
        holder.pid,
        holder.host,
        holder.started,
        holder.command,
        why,
    )


def take_over_or_raise(
    found: tuple[T, LockInfo | None] | None, unreadable: str, state_where: str, lock_where: str
) -> T | None:
    """Decide about a lock found held: `found` is its version (what removing it is
    conditional on) and holder, None when it was released meanwhile.

    Warn and return the version to remove when it is unreadable (`unreadable` names it) or
    stale; raise StateLocked naming the holder while that one is alive.
    """
    if found is None:
        return None
    version, holder = found
    if holder is None:
        log.warning("warning: taking over an unreadable %s", unreadable)
    elif holder.is_stale():
        warn_takeover(holder, "the stale lock", "that process is gone")
    else:
        raise locked_error(holder, state_where, lock_where)
    return version


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """A killed child its parent has not reaped yet still answers kill(pid, 0)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised as Ctrl-C raises KeyboardInterrupt (and caught wherever that is).

    A subclass, not KeyboardInterrupt itself: CPython 3.11 marks a bare KeyboardInterrupt
    that passes through code run by exec() (dataclasses, namedtuple, at import) as
    unhandled, and then kills the process with SIGINT at exit even after the CLI caught it
    and chose its exit code.

    `raised` says one was raised since the CLI last cleared it: a library can catch the
    exception and report its own instead (pydantic builds a model's schema through Python
    callbacks and turns any error there into a SchemaError, and a plan imports the models
    while its live list is already being read), and the run must still end as interrupted.
    """

    raised: ClassVar[bool] = False

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        Terminated.raised = True


class SigtermGuard:
    """While a run holds the state lock, SIGTERM raises Terminated, as Ctrl-C raises
    KeyboardInterrupt.

    By default SIGTERM ends the process at once, leaving the lock (and a journal) behind;
    as an exception it unwinds through `lock()`, which commits and releases. While the lock
    is being taken or released a SIGTERM is only noted, then raised once it is safe. Only
    in the main thread (where signals are delivered), and only over the default handler:
    a handler the program installed itself (apply's) stays in charge.
    """

    def __init__(self) -> None:
        self.installed = False
        self.armed = False
        self.received = False
        self.previous: Any = None
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        self.previous = signal.signal(signal.SIGTERM, self._handle)
        self.installed = True

    def _handle(self, signum: int, frame: Any) -> None:
        if self.armed:
            self.armed = False
            raise Terminated
        self.received = True

    def arm(self) -> None:
        self.armed = True
        self.raise_deferred()

    def defer(self) -> None:
        self.armed = False

    def restore(self) -> None:
        if self.installed:
            signal.signal(signal.SIGTERM, self.previous)
            self.installed = False

    def raise_deferred(self) -> None:
        if self.received:
            self.received = False
            self.armed = False
            raise Terminated
