"""reconciler.state.model: what a state holds, and the pydantic model of its file.

`ManagedRecord` and `State` are the in-memory types the planner and applier use (plain
dataclasses: cheap to copy and to `dataclasses.replace`). `StateDocument` is the file's
schema: every state read from any backend is validated by it, and a bad document is a
one-line StateError naming the file and the field. The JSON written is unchanged since
format_version 1: sorted keys, two-space indent, a trailing newline.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reconciler.errors import StateError
from reconciler.jsoncodec import dumps_indented
from reconciler.sharing import share, share_fields
from reconciler.state.limits import load_json

__all__ = [
    "FORMAT_VERSION",
    "ManagedRecord",
    "RecordDocument",
    "State",
    "StateDocument",
    "parse_state",
    "utc_now",
]

FORMAT_VERSION = 1


def utc_now() -> str:
    """Now as ISO 8601 UTC with a `Z`, to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------- file schema

_STRICT = ConfigDict(strict=True, extra="forbid")


class RecordDocument(BaseModel):
    """One record as the file holds it: every field present, no other."""

    model_config = _STRICT

    kind: str
    name: str
    remote_id: str
    last_applied: dict[str, Any]
    live_fingerprint: str | None
    status: int | str | None
    touchpoint_ids: dict[str, str]
    applied_at: str


class StateDocument(BaseModel):
    """The state file: `{"format_version": 1, "lineage", "serial", "campaigns": {key: record}}`."""

    model_config = _STRICT

    format_version: int
    lineage: Annotated[str, Field(min_length=1)]
    serial: Annotated[int, Field(ge=0)]
    campaigns: dict[str, RecordDocument]


#: What a field must be, as the error says it.
_EXPECTED = {
    "kind": "a string",
    "name": "a string",
    "remote_id": "a string",
    "applied_at": "a string",
    "last_applied": "an object",
    "touchpoint_ids": "an object",
    "live_fingerprint": "a string or null",
    "status": "an integer, a string or null",
    "format_version": "an integer",
    "lineage": "a string",
    "serial": "a non-negative integer",
    "campaigns": "an object",
}


def _state_error(exc: ValidationError, data: Any, where: str, *, record: bool) -> StateError:
    """The first problem pydantic found, in campaignctl's words: missing/unknown fields of
    the shallowest object first, then a wrong type, naming `where` and the field."""

    def order(error: Any) -> tuple[int, int]:
        keys_first = 0 if error["type"] in ("missing", "extra_forbidden") else 1
        return len(_field_path(error["loc"], record)), keys_first

    errors = sorted(exc.errors(), key=order)
    first = errors[0]
    path = _field_path(first["loc"], record)
    if first["type"] in ("missing", "extra_forbidden"):
        parent = path[:-1]
        same = [e for e in errors if _field_path(e["loc"], record)[:-1] == parent]
        missing = [str(_field_path(e["loc"], record)[-1]) for e in same if e["type"] == "missing"]
        unknown = sorted(
            str(_field_path(e["loc"], record)[-1]) for e in same if e["type"] == "extra_forbidden"
        )
        text = f"missing field {', '.join(missing)}" if missing else ""
        text = text or f"unknown field {', '.join(unknown)}"
        return StateError(text, where=_where(where, parent, record))
    value = _value_at(data, path)
    return StateError(
        f"expected {_expected(path, record)}, got {type(value).__name__}",
        where=_where(where, path, record),
    )


def _expected(path: tuple[Any, ...], record: bool) -> str:
    """What the value at `path` must be: a field's type, a touchpoint id, else an object."""
    if len(path) >= 2 and path[-2] == "touchpoint_ids":
        return "a string"
    is_record_itself = not record and len(path) == 2 and path[0] == "campaigns"
    if path and isinstance(path[-1], str) and path[-1] in _EXPECTED and not is_record_itself:
        return _EXPECTED[path[-1]]
    return "an object"


def _field_path(loc: tuple[Any, ...], record: bool) -> tuple[Any, ...]:
    """pydantic's location without the tags it adds for union members (`str`, `int`)."""
    path: list[Any] = []
    names = set(_EXPECTED)
    for part in loc:
        path.append(part)
        # a record field: anything after it is a union tag, except touchpoint_ids' keys
        depth_of_field = 1 if record else 3
        if len(path) == depth_of_field and part in names and part != "touchpoint_ids":
            break
        if len(path) == depth_of_field + 1 and path[-2] == "touchpoint_ids":
            break
    return tuple(path)


def _value_at(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        if isinstance(data, dict) and part in data:
            data = data[part]
        else:
            return None
    return data


def _where(where: str, path: tuple[Any, ...], record: bool) -> str:
    """`file: campaigns.KEY.field` for a record's field, `file: lineage` for the state's."""
    if not path:
        return where
    if record:
        return ".".join([where, *map(str, path)])
    if path[0] == "campaigns" and len(path) > 1:
        return ".".join([f"{where}: campaigns", *map(str, path[1:])])
    return f"{where}: {path[0]}"


# --------------------------------------------------------------------------- in memory


@dataclass(slots=True)
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
        if not isinstance(data, dict):
            raise StateError(f"expected an object, got {type(data).__name__}", where=where)
        try:
            doc = RecordDocument.model_validate(data)
        except ValidationError as exc:
            raise _state_error(exc, data, where, record=True) from None
        return cls._from_document(doc)

    @classmethod
    def _from_document(cls, doc: RecordDocument) -> ManagedRecord:
        # The document has exactly the record's fields (every one present, no other); its
        # __dict__ is them (dict(doc) walks pydantic's __iter__, ten times slower).
        return cls(**doc.__dict__)


@dataclass
class State:
    """Every managed campaign, keyed `"Kind/Name"`, with the lineage and serial of the file."""

    lineage: str = field(default_factory=lambda: str(uuid.uuid4()))
    serial: int = 0
    campaigns: dict[str, ManagedRecord] = field(default_factory=dict)
    # (kind, remote_id) -> key, so that looking up every live campaign is O(n), not O(n²);
    # kept up to date by put/remove (an apply asks after each create) while no two records
    # share a remote id, rebuilt when they do or the dict's size changed behind our back.
    _by_remote: dict[tuple[str, str], str] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _indexed_size: int = field(default=-1, init=False, repr=False, compare=False)
    _index_unique: bool = field(default=False, init=False, repr=False, compare=False)

    @staticmethod
    def key(kind: str, name: str) -> str:
        return f"{kind}/{name}"

    def get(self, kind: str, name: str) -> ManagedRecord | None:
        return self.campaigns.get(self.key(kind, name))

    def by_remote_id(self, kind: str, remote_id: str) -> ManagedRecord | None:
        if self._indexed_size != len(self.campaigns):
            self._by_remote = {(r.kind, r.remote_id): k for k, r in self.campaigns.items()}
            self._indexed_size = len(self.campaigns)
            # Two records sharing a remote id: rebuild after every change (the rebuild's
            # choice between them is the one to keep).
            self._index_unique = len(self._by_remote) == len(self.campaigns)
        record = self.campaigns.get(self._by_remote.get((kind, remote_id), ""))
        if record is not None and (record.kind, record.remote_id) == (kind, remote_id):
            return record
        return None

    def _index_current(self) -> bool:
        return self._index_unique and self._indexed_size == len(self.campaigns)

    def put(self, record: ManagedRecord) -> None:
        key = record.key
        indexed = self._index_current()
        old = self.campaigns.get(key)
        self.campaigns[key] = record
        if not indexed:
            self._indexed_size = -1
            return
        if old is not None:
            self._unindex(old, key)
        pair = (record.kind, record.remote_id)
        if self._by_remote.get(pair, key) != key:
            self._indexed_size = -1  # a second record with this remote id
            return
        self._by_remote[pair] = key
        self._indexed_size = len(self.campaigns)

    def remove(self, kind: str, name: str) -> ManagedRecord | None:
        key = self.key(kind, name)
        indexed = self._index_current()
        old = self.campaigns.pop(key, None)
        if old is not None and indexed:
            self._unindex(old, key)
            self._indexed_size = len(self.campaigns)
        elif old is not None:
            self._indexed_size = -1
        return old

    def _unindex(self, record: ManagedRecord, key: str) -> None:
        pair = (record.kind, record.remote_id)
        if self._by_remote.get(pair) == key:
            del self._by_remote[pair]

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
        return dumps_indented(self.to_dict()) + "\n"

    @classmethod
    def from_dict(cls, data: Any, where: str) -> State:
        """Build a State from its JSON form; StateError naming `where` for any bad part."""
        if not isinstance(data, dict):
            raise StateError(f"expected an object, got {type(data).__name__}", where=where)
        version = data.get("format_version")
        if isinstance(version, int) and _is_int(version) and version > FORMAT_VERSION:
            raise StateError(
                f"state format_version {version} is newer than this campaignctl "
                f"understands ({FORMAT_VERSION})",
                where=where,
                hint="upgrade campaignctl; the file was left untouched",
            )
        fast = _plain_state(data)
        if fast is not None:
            return fast
        try:
            doc = StateDocument.model_validate(data)
        except ValidationError as exc:
            raise _state_error(exc, data, where, record=False) from None
        if doc.format_version != FORMAT_VERSION:
            raise StateError(f"unsupported format_version {doc.format_version!r}", where=where)
        records: dict[str, ManagedRecord] = {}
        for key, raw in doc.campaigns.items():
            record = ManagedRecord._from_document(raw)
            if record.key != key:
                raise StateError(
                    f"key {key!r} does not match its record ({record.key!r})",
                    where=f"{where}: campaigns",
                )
            records[key] = record
        return cls(lineage=doc.lineage, serial=doc.serial, campaigns=records)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_STATE_KEYS: Final = frozenset(StateDocument.model_fields)
_RECORD_KEYS: Final = frozenset(RecordDocument.model_fields)
#: The ints the fast path takes as they are; any other goes to pydantic, which decides.
_SAFE_INT: Final = range(-(2**63), 2**63)


def _plain_state(data: dict[str, Any]) -> State | None:
    """The State of a well-formed document, checked by hand; None for anything else, which
    then goes through pydantic (StateDocument), whose error messages say what is wrong.

    A state of 10,000 campaigns took 0.15 s of CPU through pydantic (a validated copy of
    every record, then a dataclass built from it), on the plan's busiest phase. This takes
    exactly the documents pydantic takes without a complaint, or fewer: every field present
    and no other, of the exact JSON types, and each record under the key it names.
    """
    if data.keys() != _STATE_KEYS:
        return None
    version = data["format_version"]
    if type(version) is not int or version != FORMAT_VERSION:
        return None
    lineage, serial, campaigns = data["lineage"], data["serial"], data["campaigns"]
    if type(lineage) is not str or not lineage or type(serial) is not int or serial < 0:
        return None
    if type(campaigns) is not dict:
        return None
    records: dict[str, ManagedRecord] = {}
    for key, raw in campaigns.items():
        record = _plain_record(raw)
        if record is None or record.key != key:
            return None
        records[key] = record
    return State(lineage=lineage, serial=serial, campaigns=records)


def _plain_record(raw: Any) -> ManagedRecord | None:
    if type(raw) is not dict or raw.keys() != _RECORD_KEYS:
        return None
    kind, name, remote_id = raw["kind"], raw["name"], raw["remote_id"]
    applied_at, last_applied = raw["applied_at"], raw["last_applied"]
    fingerprint, status, touchpoints = raw["live_fingerprint"], raw["status"], raw["touchpoint_ids"]
    if not (type(kind) is str and type(name) is str and type(remote_id) is str):
        return None
    if type(applied_at) is not str or type(last_applied) is not dict:
        return None
    if fingerprint is not None and type(fingerprint) is not str:
        return None
    if not (status is None or type(status) is str or (type(status) is int and status in _SAFE_INT)):
        return None
    if type(touchpoints) is not dict or not all(type(v) is str for v in touchpoints.values()):
        return None
    # This document is ours: its values are shared with the live list's and each other's.
    share_fields(last_applied)
    return ManagedRecord(
        kind=share(kind),
        name=share(name),
        remote_id=share(remote_id),
        last_applied=last_applied,
        live_fingerprint=None if fingerprint is None else share(fingerprint),
        status=status,
        touchpoint_ids=touchpoints,
        applied_at=share(applied_at),
    )


def parse_state(raw: bytes, where: str) -> State:
    """The State in `raw` (a state document's bytes); StateError naming `where` if bad."""
    try:
        data = load_json(raw.decode("utf-8"), "state file", where)
    except UnicodeDecodeError as exc:
        raise StateError("state file is not UTF-8 text", where=where) from exc
    except json.JSONDecodeError as exc:
        raise StateError(
            f"state file is not valid JSON: {exc.msg}",
            where=f"{where}:{exc.lineno}:{exc.colno}",
            hint="restore it from git or a backup; campaignctl never overwrites a corrupt state",
        ) from exc
    return State.from_dict(data, where=where)
