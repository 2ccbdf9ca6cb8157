"""reconciler.state: the state file, its journal and its lock.

The state file maps each managed campaign `(kind, name)` to its remote id and what the last
apply sent. Writes are atomic (temp file, fsync, rename, fsync of the directory), so readers
only ever see whole states. During an apply each finished step is appended to
`<state>.journal` (one fsync'd JSON line, ~0.2 ms) instead of rewriting the whole file
(~7 ms at 1,000 campaigns); `commit()` folds the journal in with one atomic rewrite, and the
next reader folds a journal that a crash left behind. `<state>.lock` keeps two writers apart.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import logging
import os
import re
import signal
import socket
import stat
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.errors import CampaignctlError, StateError, StateLocked

__all__ = [
    "FORMAT_VERSION",
    "MAX_JSON_DEPTH",
    "MAX_STATE_BYTES",
    "LockInfo",
    "ManagedRecord",
    "State",
    "StateStore",
    "Terminated",
    "json_too_deep",
    "read_capped",
    "utc_now",
    "write_atomic",
]

FORMAT_VERSION = 1

log = logging.getLogger("reconciler.state")

#: A lock file that stays unparsable this long is a crash between create and write.
_UNREADABLE_LOCK_GRACE_S = 2.0
_LOCK_ATTEMPTS = 5
#: A state (or journal, or saved plan) past this is a mistake or an attack: it is refused
#: before it is read, not read whole into memory. 1,000 campaigns take about 2 MiB.
MAX_STATE_BYTES = 256 * 1024 * 1024
#: A lock file is a few hundred bytes.
_MAX_LOCK_BYTES = 64 * 1024
#: Nesting depth of a state's JSON: a record is about 6 levels deep. Past this, copying or
#: writing the data would recurse into a RecursionError, so it is refused when read.
MAX_JSON_DEPTH = 100

_RECORD_FIELDS = (
    "kind",
    "name",
    "remote_id",
    "last_applied",
    "live_fingerprint",
    "status",
    "touchpoint_ids",
    "applied_at",
)
_STATE_FIELDS = ("format_version", "lineage", "serial", "campaigns")
_LOCK_FIELDS = ("id", "pid", "host", "started", "command")


def utc_now() -> str:
    """Now as ISO 8601 UTC with a `Z`, to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------- values


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_keys(data: Mapping[str, Any], expected: tuple[str, ...], where: str) -> None:
    missing = [k for k in expected if k not in data]
    unknown = sorted(set(data) - set(expected))
    if missing:
        raise StateError(f"missing field {', '.join(missing)}", where=where)
    if unknown:
        raise StateError(f"unknown field {', '.join(unknown)}", where=where)


def _check_type(value: Any, ok: bool, expected: str, where: str) -> None:
    if not ok:
        raise StateError(f"expected {expected}, got {type(value).__name__}", where=where)


@dataclass
class ManagedRecord:
    """One managed campaign: its remote id and what the last apply sent (write-only hashed)."""

    kind: str
    name: str
    remote_id: str
    last_applied: dict[str, Any] = field(default_factory=dict)
    live_fingerprint: str | None = None
    status: int | str | None = None
    touchpoint_ids: dict[str, str] = field(default_factory=dict)
    applied_at: str = field(default_factory=utc_now)

    @property
    def key(self) -> str:
        return State.key(self.kind, self.name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "remote_id": self.remote_id,
            "last_applied": self.last_applied,
            "live_fingerprint": self.live_fingerprint,
            "status": self.status,
            "touchpoint_ids": dict(self.touchpoint_ids),
            "applied_at": self.applied_at,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "record") -> ManagedRecord:
        """Build a record from its JSON form; StateError naming `where` and the field."""
        _check_type(data, isinstance(data, dict), "an object", where)
        _check_keys(data, _RECORD_FIELDS, where)
        for name in ("kind", "name", "remote_id", "applied_at"):
            _check_type(data[name], isinstance(data[name], str), "a string", f"{where}.{name}")
        last_applied, tp_ids = data["last_applied"], data["touchpoint_ids"]
        _check_type(
            last_applied, isinstance(last_applied, dict), "an object", f"{where}.last_applied"
        )
        _check_type(tp_ids, isinstance(tp_ids, dict), "an object", f"{where}.touchpoint_ids")
        for tp_name, tp_id in tp_ids.items():
            _check_type(
                tp_id, isinstance(tp_id, str), "a string", f"{where}.touchpoint_ids.{tp_name}"
            )
        fp, status = data["live_fingerprint"], data["status"]
        _check_type(
            fp, fp is None or isinstance(fp, str), "a string or null", f"{where}.live_fingerprint"
        )
        _check_type(
            status,
            status is None or _is_int(status) or isinstance(status, str),
            "an integer, a string or null",
            f"{where}.status",
        )
        return cls(
            kind=data["kind"],
            name=data["name"],
            remote_id=data["remote_id"],
            last_applied=last_applied,
            live_fingerprint=fp,
            status=status,
            touchpoint_ids=dict(tp_ids),
            applied_at=data["applied_at"],
        )


@dataclass
class State:
    """Every managed campaign, keyed `"Kind/Name"`, with the lineage and serial of the file."""

    lineage: str = field(default_factory=lambda: str(uuid.uuid4()))
    serial: int = 0
    campaigns: dict[str, ManagedRecord] = field(default_factory=dict)
    # (kind, remote_id) -> key, so that looking up every live campaign is O(n), not O(n²);
    # rebuilt after put/remove or when the dict's size changed behind our back.
    _by_remote: dict[tuple[str, str], str] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _indexed_size: int = field(default=-1, init=False, repr=False, compare=False)

    @staticmethod
    def key(kind: str, name: str) -> str:
        return f"{kind}/{name}"

    def get(self, kind: str, name: str) -> ManagedRecord | None:
        return self.campaigns.get(self.key(kind, name))

    def by_remote_id(self, kind: str, remote_id: str) -> ManagedRecord | None:
        if self._indexed_size != len(self.campaigns):
            self._by_remote = {(r.kind, r.remote_id): k for k, r in self.campaigns.items()}
            self._indexed_size = len(self.campaigns)
        record = self.campaigns.get(self._by_remote.get((kind, remote_id), ""))
        if record is not None and (record.kind, record.remote_id) == (kind, remote_id):
            return record
        return None

    def put(self, record: ManagedRecord) -> None:
        self.campaigns[record.key] = record
        self._indexed_size = -1

    def remove(self, kind: str, name: str) -> ManagedRecord | None:
        self._indexed_size = -1
        return self.campaigns.pop(self.key(kind, name), None)

    def records(self) -> list[ManagedRecord]:
        """Every record, sorted by kind then name."""
        return [self.campaigns[k] for k in sorted(self.campaigns)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "lineage": self.lineage,
            "serial": self.serial,
            "campaigns": {key: rec.to_dict() for key, rec in sorted(self.campaigns.items())},
        }

    def to_json(self) -> str:
        """The file form: sorted keys, indented, a trailing newline (teams commit it)."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, data: Any, where: str) -> State:
        """Build a State from its JSON form; StateError naming `where` for any bad part."""
        _check_type(data, isinstance(data, dict), "an object", where)
        version = data.get("format_version")
        if _is_int(version) and version > FORMAT_VERSION:
            raise StateError(
                f"state format_version {version} is newer than this campaignctl "
                f"understands ({FORMAT_VERSION})",
                where=where,
                hint="upgrade campaignctl; the file was left untouched",
            )
        _check_keys(data, _STATE_FIELDS, where)
        if version != FORMAT_VERSION:
            raise StateError(f"unsupported format_version {version!r}", where=where)
        lineage, serial, campaigns = data["lineage"], data["serial"], data["campaigns"]
        _check_type(
            lineage, isinstance(lineage, str) and lineage != "", "a string", f"{where}: lineage"
        )
        _check_type(
            serial, _is_int(serial) and serial >= 0, "a non-negative integer", f"{where}: serial"
        )
        _check_type(campaigns, isinstance(campaigns, dict), "an object", f"{where}: campaigns")
        records: dict[str, ManagedRecord] = {}
        for key, raw in campaigns.items():
            record = ManagedRecord.from_dict(raw, where=f"{where}: campaigns.{key}")
            if record.key != key:
                raise StateError(
                    f"key {key!r} does not match its record ({record.key!r})",
                    where=f"{where}: campaigns",
                )
            records[key] = record
        return cls(lineage=lineage, serial=serial, campaigns=records)


@dataclass(frozen=True)
class LockInfo:
    """Who holds the state lock: the id that `state unlock` takes, pid, host, since when."""

    id: str
    pid: int
    host: str
    started: str
    command: str

    @classmethod
    def new(cls, command: str) -> LockInfo:
        return cls(str(uuid.uuid4()), os.getpid(), socket.gethostname(), utc_now(), command)

    def to_json(self) -> str:
        data = {name: getattr(self, name) for name in _LOCK_FIELDS}
        return json.dumps(data, sort_keys=True, indent=2) + "\n"

    @classmethod
    def parse(cls, raw: bytes) -> LockInfo | None:
        """The lock described by `raw`, or None when it is not a whole, valid lock file."""
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return None
        if not isinstance(data, dict) or set(data) != set(_LOCK_FIELDS):
            return None
        if not _is_int(data["pid"]) or not all(
            isinstance(data[k], str) for k in ("id", "host", "started", "command")
        ):
            return None
        return cls(**data)

    def is_stale(self) -> bool:
        """True when the holder was on this host and its process is gone."""
        return self.host == socket.gethostname() and not _pid_alive(self.pid)


def _pid_alive(pid: int) -> bool:
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


# --------------------------------------------------------------------------- files


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def real_path(path: Path) -> Path:
    """`path` with every symlink and `..` resolved: the one file behind every spelling.

    A symlink whose target does not exist yet resolves to that target (writing creates it);
    a symlink loop raises OSError (ELOOP) instead of pathlib's RuntimeError.
    """
    try:
        return Path(os.path.realpath(path, strict=True))
    except FileNotFoundError:
        return Path(os.path.realpath(path))


def write_atomic(path: Path, text: str, *, create_parents: bool = True) -> None:
    """Replace `path` with `text` so that a reader sees the old or the new file, whole.

    The file keeps its permissions, and a symlink keeps pointing where it did: the file it
    points to is replaced. Without `create_parents`, a missing directory is an OSError.
    """
    path = real_path(path)
    if create_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:_TMP_HEX]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with contextlib.suppress(FileNotFoundError):
            os.fchmod(fd, path.stat().st_mode & 0o7777)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


#: write_atomic's temp files are `.<name>.<12 hex digits>.tmp` beside the file.
_TMP_HEX = 12


def _stale_tmp_files(path: Path) -> list[Path]:
    """The temp files of write_atomic for `path` that a killed run left behind."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[0-9a-f]{{{_TMP_HEX}}}\.tmp")
    try:
        with os.scandir(path.parent) as entries:
            return [
                Path(e.path)
                for e in entries
                if pattern.fullmatch(e.name) and e.is_file(follow_symlinks=False)
            ]
    except OSError:
        return []


def _write_state(path: Path, state: State) -> None:
    try:
        write_atomic(path, state.to_json())
    except OSError as exc:
        raise StateError(
            f"cannot write the state file: {exc.strerror or exc}",
            where=str(path),
            hint="a journal beside it, if any, still holds every recorded step",
        ) from exc


def read_capped(
    path: Path,
    *,
    what: str,
    limit: int = MAX_STATE_BYTES,
    error: type[CampaignctlError] = StateError,
) -> bytes | None:
    """The bytes of the regular file `path`, None if it does not exist.

    `error` naming the file for anything else: not a regular file (a FIFO or a device would
    block or never end), larger than `limit` (checked before reading), unreadable.
    """
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise error(f"cannot read the {what}: {exc.strerror or exc}", where=str(path)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"the {what} is not a regular file", where=str(path))
        if info.st_size > limit:
            raise error(_too_large(what, info.st_size, limit), where=str(path))
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, min(limit + 1 - size, 1 << 24)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:  # it grew since fstat
                raise error(_too_large(what, size, limit), where=str(path))
    except OSError as exc:
        raise error(f"cannot read the {what}: {exc.strerror or exc}", where=str(path)) from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def _too_large(what: str, size: int, limit: int) -> str:
    mib = limit // (1024 * 1024)
    shown = f"{mib} MiB" if mib else f"{limit // 1024} KiB"
    return f"the {what} is {size} bytes; the limit is {limit} bytes ({shown})"


def json_too_deep(data: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when `data` nests objects/arrays more than `limit` levels (checked without
    recursion, so any depth that json.loads returned is safe to check)."""
    if not isinstance(data, dict | list):
        return False
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        children = value.values() if type(value) is dict else value
        deeper = depth + 1
        for child in children:
            # Only containers are pushed: most values are scalars (json.loads makes exact
            # dicts and lists, so `type() is` is enough, and faster than isinstance).
            kind = type(child)
            if kind is dict or kind is list:
                stack.append((child, deeper))
    return False


def _load_json(text: str, what: str, where: str) -> Any:
    """json.loads, with too-deep nesting a StateError (json.loads raises RecursionError)."""
    too_deep = StateError(f"the {what} nests more than {MAX_JSON_DEPTH} levels", where=where)
    try:
        data = json.loads(text)
    except RecursionError:
        raise too_deep from None
    if json_too_deep(data):
        raise too_deep
    return data


def _read_bytes(path: Path, what: str = "state file", limit: int = MAX_STATE_BYTES) -> bytes | None:
    return read_capped(path, what=what, limit=limit)


def _parse_state(raw: bytes, path: Path) -> State:
    try:
        data = _load_json(raw.decode("utf-8"), "state file", str(path))
    except UnicodeDecodeError as exc:
        raise StateError("state file is not UTF-8 text", where=str(path)) from exc
    except json.JSONDecodeError as exc:
        raise StateError(
            f"state file is not valid JSON: {exc.msg}",
            where=f"{path}:{exc.lineno}:{exc.colno}",
            hint="restore it from git or a backup; campaignctl never overwrites a corrupt state",
        ) from exc
    return State.from_dict(data, where=str(path))


# --------------------------------------------------------------------------- journal


@dataclass(frozen=True)
class _JournalEntry:
    lineage: str
    serial: int
    op: str
    payload: dict[str, Any]


def _parse_journal(raw: bytes, path: Path, *, quiet: bool) -> list[_JournalEntry]:
    """Every whole line of a journal; an unfinished last line is dropped with a warning."""
    lines = raw.split(b"\n")
    tail = lines.pop()  # b"" when the journal ends with a newline
    entries = [_parse_journal_line(line, path, n) for n, line in enumerate(lines, 1)]
    if tail.strip():
        try:
            entries.append(_parse_journal_line(tail, path, len(lines) + 1))
        except StateError:
            report = log.debug if quiet else log.warning
            report(
                "warning: ignoring the torn last line %d of %s (a step in flight at a crash)",
                len(lines) + 1,
                path,
            )
    return entries


def _parse_journal_line(line: bytes, path: Path, number: int) -> _JournalEntry:
    where = f"{path}:{number}"
    try:
        data = _load_json(line.decode("utf-8"), "journal line", where)
    except (UnicodeDecodeError, ValueError) as exc:
        raise StateError("journal line is not valid JSON", where=where) from exc
    if not isinstance(data, dict) or data.get("op") not in ("put", "forget", "move"):
        raise StateError("journal line has no valid op", where=where)
    lineage, serial = data.get("lineage"), data.get("serial")
    if not isinstance(lineage, str) or not isinstance(serial, int) or isinstance(serial, bool):
        raise StateError("journal line lacks lineage or serial", where=where)
    if data["op"] == "put":
        ManagedRecord.from_dict(data.get("record"), where=f"{where}: record")
    elif not all(isinstance(data.get(k), str) for k in _OP_FIELDS[data["op"]]):
        raise StateError(f"journal {data['op']} line lacks {_OP_FIELDS[data['op']]}", where=where)
    payload = {k: v for k, v in data.items() if k not in ("lineage", "serial", "op")}
    return _JournalEntry(lineage, serial, data["op"], payload)


_OP_FIELDS: dict[str, tuple[str, ...]] = {
    "forget": ("kind", "name"),
    "move": ("kind", "name", "new_name"),
}


def _apply_entry(state: State, entry: _JournalEntry) -> None:
    payload = entry.payload
    if entry.op == "put":
        state.put(ManagedRecord.from_dict(payload["record"]))
    elif entry.op == "forget":
        state.remove(payload["kind"], payload["name"])
    else:
        _move(state, payload["kind"], payload["name"], payload["new_name"])


def _move(state: State, kind: str, name: str, new_name: str) -> ManagedRecord | None:
    record = state.remove(kind, name)
    if record is not None:
        record.name = new_name
        state.put(record)
    return record


# --------------------------------------------------------------------------- store


def _resolve_once(path: Path) -> Path:
    try:
        return real_path(path)
    except OSError:
        # A symlink loop: reading it then fails with a clear "cannot read" error.
        return Path(os.path.abspath(path))


class StateStore:
    """Reads, journals, commits and locks one state file; `StateStore(None)` is --no-state.

    Writes (`record`, `forget`, `move`, `commit`) need the lock: `with store.lock("apply"):
    state = store.read(); ...; store.commit()`. They are thread-safe, for a parallel apply.
    """

    def __init__(self, path: Path | str | None) -> None:
        #: The path as given, for messages.
        self.path = Path(path) if path is not None else None
        #: The one file behind every spelling of the path (symlinks, `..`, relative): the
        #: lock, the journal, the temp files and the writes all go by it, so two runs given
        #: two spellings of one state take one lock. Resolved once, here.
        self.real_path = _resolve_once(self.path) if self.path is not None else None
        self._mutex = threading.RLock()
        self._state: State | None = None
        self._lock: LockInfo | None = None
        self._lock_raw: bytes | None = None
        self._journal_fd: int | None = None
        self._journal_broken = False
        self._dirty = False
        self._read_under_lock = False
        self._created_dirs: list[Path] = []

    # ---- paths

    @property
    def journal_path(self) -> Path | None:
        real = self.real_path
        return real.with_name(real.name + ".journal") if real is not None else None

    @property
    def lock_path(self) -> Path | None:
        real = self.real_path
        return real.with_name(real.name + ".lock") if real is not None else None

    @property
    def holds_lock(self) -> bool:
        return self._lock is not None

    # ---- reading

    def read(self) -> State:
        """The current state: the file plus any journal; a fresh State if there is none.

        A journal that a crashed run left is folded into the file (under the lock); the
        journal of a live run holding the lock is only applied in memory. Under this
        store's own lock the state is read once and then kept in memory: no one else
        writes while the lock is held.
        """
        with self._mutex:
            if self.path is None:
                if self._state is None:
                    self._state = State()
                return self._state
            if self.holds_lock:
                if not self._read_under_lock:
                    self._state, self._dirty = self._load_locked(), False
                    self._read_under_lock = True
                assert self._state is not None
                return self._state
            self._state, self._dirty = self._load_unlocked(), False
            return self._state

    def _load_locked(self) -> State:
        if self._journal_path().exists():
            return self._fold_leftover_journal()
        return self._load()

    def _load_unlocked(self) -> State:
        if not self._journal_path().exists():
            return self._load()
        guard = _SigtermGuard()  # a SIGTERM while folding waits for the lock's release
        try:
            try:
                raw = self._acquire(LockInfo.new("campaignctl (folding a journal)"))
            except StateLocked:
                return self._load_with_journal(quiet=True)[0]
            try:
                return self._load_locked()
            finally:
                _remove_lock_if(self._lock_path(), raw)
        finally:
            guard.restore()
            guard.raise_deferred()

    def _load(self) -> State:
        path = self._path()
        raw = _read_bytes(path)
        return State() if raw is None else _parse_state(raw, path)

    def _load_with_journal(self, *, quiet: bool) -> tuple[State, bool]:
        """State file + journal in memory; True when journal steps were applied to it.

        The journal is read first: a commit renames the state before it removes the
        journal, so a journal older than the state is one that was already folded.
        """
        journal = self._journal_path()
        raw_journal = _read_bytes(journal, "journal")
        path = self._path()
        raw_state = _read_bytes(path)
        entries = _parse_journal(raw_journal or b"", journal, quiet=quiet)
        if raw_state is not None:
            state = _parse_state(raw_state, path)
        elif entries:
            # a first apply that crashed before its first commit: the journal names the lineage
            state = State(lineage=entries[0].lineage, serial=entries[0].serial)
        else:
            state = State()
        if not entries:
            return state, False
        base = entries[0]
        for number, entry in enumerate(entries, 1):
            if entry.lineage != state.lineage:
                raise StateError(
                    f"journal belongs to another state (lineage {entry.lineage}, "
                    f"the state file has {state.lineage})",
                    where=f"{journal}:{number}",
                    hint=f"remove {journal} if that state is gone; it was not applied",
                )
            if entry.serial != base.serial:
                raise StateError("journal mixes two state serials", where=f"{journal}:{number}")
        if base.serial == state.serial - 1:
            return state, False  # crash between a commit's rename and the journal's removal
        if base.serial != state.serial:
            raise StateError(
                f"journal was written against serial {base.serial} but the state file is at "
                f"serial {state.serial}",
                where=str(journal),
                hint=f"the state file was replaced during a run; check it, then remove {journal}",
            )
        for entry in entries:
            _apply_entry(state, entry)
        return state, True

    def _fold_leftover_journal(self) -> State:
        state, pending = self._load_with_journal(quiet=False)
        if pending:
            log.warning(
                "warning: folding %s, left by an interrupted run, into %s",
                self._journal_path(),
                self._path(),
            )
            state.serial += 1
            _write_state(self._path(), state)
        self._remove_journal()
        return state

    # ---- writing

    def record(self, record: ManagedRecord) -> None:
        """Record a finished step: one fsync'd journal line, then the in-memory state."""
        with self._mutex:
            state = self._writable()
            self._append("put", {"record": record.to_dict()}, state)
            state.put(copy.deepcopy(record))  # the caller's object may change later

    def forget(self, kind: str, name: str) -> bool:
        """Drop a campaign from state (the live campaign stays); False if it was not there."""
        with self._mutex:
            state = self._writable()
            if state.get(kind, name) is None:
                return False
            self._append("forget", {"kind": kind, "name": name}, state)
            state.remove(kind, name)
            return True

    def move(self, kind: str, name: str, new_name: str) -> ManagedRecord:
        """Rename a record in one journal line, so no crash can leave it half-moved."""
        with self._mutex:
            state = self._writable()
            if state.get(kind, name) is None:
                raise StateError(f"{State.key(kind, name)} is not in state", where=self._where())
            if state.get(kind, new_name) is not None:
                raise StateError(
                    f"{State.key(kind, new_name)} is already in state", where=self._where()
                )
            self._append("move", {"kind": kind, "name": name, "new_name": new_name}, state)
            moved = _move(state, kind, name, new_name)
            assert moved is not None
            return moved

    def commit(self) -> State:
        """Fold this run's journal into the file: one atomic rewrite, serial + 1."""
        with self._mutex:
            state = self._writable()
            if not self._dirty:
                return state
            state.serial += 1
            if self.path is not None:
                try:
                    _write_state(self._path(), state)
                except StateError:
                    state.serial -= 1
                    raise
                self._remove_journal()
            self._dirty = False
            return state

    def _writable(self) -> State:
        if self.path is not None and not self.holds_lock:
            raise StateError(
                "state writes need the state lock (use `with store.lock(command):`)",
                where=str(self.path),
            )
        return self.read()

    def _append(self, op: str, payload: dict[str, Any], state: State) -> None:
        line = {"lineage": state.lineage, "serial": state.serial, "op": op, **payload}
        try:
            text = json.dumps(line, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise StateError(f"cannot record {op} in state: {exc}", where=self._where()) from exc
        if self.path is not None:
            self._write_journal_line((text + "\n").encode())
        self._dirty = True

    def _write_journal_line(self, data: bytes) -> None:
        if self._journal_broken:
            raise StateError("an earlier journal write failed", where=str(self.journal_path))
        try:
            fd = self._open_journal()
            os.write(fd, data)
            os.fsync(fd)
        except OSError as exc:
            self._journal_broken = True
            raise StateError(
                f"cannot write the journal: {exc.strerror}", where=str(self.journal_path)
            ) from exc

    def _open_journal(self) -> int:
        if self._journal_fd is None:
            journal = self._journal_path()
            self._journal_fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            _fsync_dir(journal.parent)
        return self._journal_fd

    def _remove_journal(self) -> None:
        if self._journal_fd is not None:
            os.close(self._journal_fd)
            self._journal_fd = None
        journal = self._journal_path()
        with contextlib.suppress(FileNotFoundError):
            journal.unlink()
            _fsync_dir(journal.parent)

    # ---- locking

    @contextlib.contextmanager
    def lock(self, command: str) -> Iterator[LockInfo]:
        """Hold `<state>.lock` for the block; StateLocked if a live run holds it.

        A state read before the lock (plan, then apply) is checked against the file: if
        another run changed it meanwhile, StateError, since the plan was made on an old
        state. On the way out, recorded steps not yet committed are committed, so an
        exception in the middle of an apply still leaves a whole state file, no journal.
        """
        guard = _SigtermGuard()
        try:
            with self._mutex:
                if self.holds_lock:
                    raise StateError("this run already holds the state lock", where=self._where())
                info = LockInfo.new(command)
                if self.path is not None:
                    self._created_dirs = _missing_dirs(self._path().parent)
                    self._lock_raw = self._acquire(info)
                self._lock = info
                try:
                    self._remove_stale_tmp_files()
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

    def _remove_stale_tmp_files(self) -> None:
        """Remove the temp files a killed writer of this state left: the lock holder is its
        only writer, so none of them can be in use."""
        if self.path is None:
            return
        for tmp in _stale_tmp_files(self._path()):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                log.warning("warning: removed %s, left by an interrupted run", tmp)

    def _check_unchanged(self) -> None:
        """Under a fresh lock: keep a state read before it only if the file still matches."""
        before = self._state
        if self.path is None or before is None:
            return
        current = self.read()
        never_written = before.serial == 0 and current.serial == 0 and not self._path().exists()
        if never_written or (current.lineage, current.serial) == (before.lineage, before.serial):
            self._state = before  # the same content; callers may hold this object
            return
        raise StateError(
            f"the state changed since it was read (serial {before.serial} -> {current.serial})",
            where=str(self.path),
            hint="another run wrote it meanwhile: plan again",
        )

    def _acquire(self, info: LockInfo) -> bytes:
        """Create the lock file for `info` (taking over a stale one); its bytes."""
        lock_path = self._lock_path()
        raw = info.to_json().encode()
        for _ in range(_LOCK_ATTEMPTS):
            try:
                _create_exclusive(lock_path, raw)
            except FileExistsError:
                self._clear_stale_lock()
                continue
            except FileNotFoundError:
                continue  # a run that wrote nothing removed the directory it had created
            except OSError as exc:
                raise StateError(
                    f"cannot create the lock file: {exc.strerror or exc}", where=str(lock_path)
                ) from exc
            return raw
        raise StateError(
            "could not take the state lock: other runs keep racing for it", where=str(lock_path)
        )

    def _clear_stale_lock(self) -> None:
        """Remove the lock if its holder is dead; raise StateLocked if it is alive."""
        found = self._read_lock()
        if found is None:
            return  # released meanwhile
        raw, holder = found
        if holder is None:
            log.warning("warning: taking over an unreadable lock file %s", self.lock_path)
        elif holder.is_stale():
            log.warning(
                "warning: taking over the stale lock %s of pid %d on %s since %s (%s): "
                "that process is gone",
                holder.id,
                holder.pid,
                holder.host,
                holder.started,
                holder.command,
            )
        else:
            raise self._locked_error(holder)
        _remove_lock_if(self._lock_path(), raw)

    def _read_lock(self) -> tuple[bytes, LockInfo | None] | None:
        """The lock file's bytes and holder; holder None if it stays unreadable past a grace."""
        lock_path = self._lock_path()
        deadline = time.monotonic() + _UNREADABLE_LOCK_GRACE_S
        while True:
            raw = _read_bytes(lock_path, "lock file", _MAX_LOCK_BYTES)
            if raw is None:
                return None
            holder = LockInfo.parse(raw)
            if holder is not None:
                return raw, holder
            try:
                age = time.time() - lock_path.stat().st_mtime
            except FileNotFoundError:
                return None
            if age > _UNREADABLE_LOCK_GRACE_S or time.monotonic() > deadline:
                return raw, None
            time.sleep(0.05)  # a locker between its create and its write

    def _locked_error(self, holder: LockInfo) -> StateLocked:
        where = f"{holder.host}" if holder.host != socket.gethostname() else "this host"
        return StateLocked(
            f"state {self.path} is locked by pid {holder.pid} on {where} since "
            f"{holder.started} ({holder.command})",
            where=str(self.lock_path),
            hint=(
                "wait for that run to finish; if it is gone, break the lock with "
                f"`campaignctl state unlock {holder.id}`"
            ),
            lock_id=holder.id,
            holder={name: getattr(holder, name) for name in _LOCK_FIELDS},
        )

    def _release(self) -> None:
        if self._journal_fd is not None:
            os.close(self._journal_fd)
            self._journal_fd = None
        raw, self._lock_raw, self._lock = self._lock_raw, None, None
        created, self._created_dirs = self._created_dirs, []
        self._read_under_lock = False
        if self.path is None or raw is None:
            return
        if not _remove_lock_if(self._lock_path(), raw):
            log.warning(
                "warning: the state lock %s was broken while this run held it", self.lock_path
            )
        if not self._path().exists() and not self._journal_path().exists():
            _remove_empty_dirs(created)  # a run that wrote nothing leaves no `state/` behind

    def unlock(self, lock_id: str, *, force: bool = False) -> LockInfo:
        """Remove the lock if `lock_id` is its id (`state unlock`); return who held it.

        A holder still running on this host keeps its lock unless `force`: breaking it would
        let another run write the state under it, and one of the two would lose its records.
        """
        if self.path is None:
            raise StateError("there is no lock without a state file", where="--no-state")
        found = self._read_lock()
        if found is None:
            raise StateError("the state is not locked", where=str(self.lock_path))
        raw, holder = found
        if holder is None:
            raise StateError(
                "the lock file is unreadable",
                where=str(self.lock_path),
                hint=f"remove {self.lock_path}",
            )
        if holder.id != lock_id:
            raise StateError(
                f"lock id {lock_id} does not match the lock held by pid {holder.pid} on "
                f"{holder.host} (id {holder.id})",
                where=str(self.lock_path),
            )
        if not force and holder.host == socket.gethostname() and _pid_alive(holder.pid):
            raise StateError(
                f"the lock holder (pid {holder.pid}, {holder.command} since {holder.started}) "
                "is still running on this host",
                where=str(self.lock_path),
                hint=f"let it finish or stop it; to break the lock anyway: "
                f"campaignctl state unlock {lock_id} --force",
            )
        if not _remove_lock_if(self._lock_path(), raw):
            raise StateError(
                "the lock changed while it was being removed", where=str(self.lock_path)
            )
        return holder

    # ---- helpers

    def _path(self) -> Path:
        assert self.real_path is not None
        return self.real_path

    def _journal_path(self) -> Path:
        assert self.journal_path is not None
        return self.journal_path

    def _lock_path(self) -> Path:
        assert self.lock_path is not None
        return self.lock_path

    def _where(self) -> str:
        return str(self.path) if self.path is not None else "--no-state"


def _missing_dirs(directory: Path) -> list[Path]:
    """The directories from `directory` up that do not exist yet, deepest first."""
    missing: list[Path] = []
    while not directory.exists() and directory.parent != directory:
        missing.append(directory)
        directory = directory.parent
    return missing


def _remove_empty_dirs(directories: list[Path]) -> None:
    """rmdir each (deepest first), stopping at the first that is not empty or is gone."""
    for directory in directories:
        try:
            directory.rmdir()
        except OSError:
            return


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised as Ctrl-C raises KeyboardInterrupt (and caught wherever that is).

    A subclass, not KeyboardInterrupt itself: CPython 3.11 marks a bare KeyboardInterrupt
    that passes through code run by exec() (dataclasses, namedtuple, at import) as
    unhandled, and then kills the process with SIGINT at exit even after the CLI caught it
    and chose its exit code.
    """


class _SigtermGuard:
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


def _create_exclusive(path: Path, raw: bytes) -> None:
    """Create `path` holding `raw`; FileExistsError if it exists (O_CREAT | O_EXCL)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, raw)
        os.fsync(fd)
    finally:
        os.close(fd)
    _fsync_dir(path.parent)


def _remove_lock_if(lock_path: Path, expected: bytes) -> bool:
    """Unlink the lock only if it still holds `expected`; False if someone changed it.

    Two runs may both find one stale lock: flock on the old file serialises them, and the
    inode check makes the second one see that the file it locked is no longer the lock.
    """
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            current = os.stat(lock_path)
        except FileNotFoundError:
            return False
        opened = os.fstat(fd)
        if (current.st_ino, current.st_dev) != (opened.st_ino, opened.st_dev):
            return False
        if os.pread(fd, len(expected) + 1, 0) != expected:
            return False
        os.unlink(lock_path)
        _fsync_dir(lock_path.parent)
        return True
    finally:
        os.close(fd)
