"""reconciler.state.journal: one line per finished step, folded into the state at commit.

Every backend keeps the same lines (a file's lines, an object per line on S3, a row per line
on PostgreSQL): `{"lineage", "serial", "op": "put"|"forget"|"move", ...}`. `fold` applies
the lines of a run that did not commit to the state they were written against.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from reconciler.errors import StateError
from reconciler.state.limits import load_json
from reconciler.state.model import ManagedRecord, State

__all__ = [
    "JournalEntry",
    "apply_entry",
    "encode_entry",
    "fold",
    "move_record",
    "parse_journal",
    "parse_journal_line",
]

log = logging.getLogger("reconciler.state")

_OP_FIELDS: dict[str, tuple[str, ...]] = {
    "forget": ("kind", "name"),
    "move": ("kind", "name", "new_name"),
}


@dataclass(frozen=True)
class JournalEntry:
    lineage: str
    serial: int
    op: str
    payload: dict[str, Any]


def encode_entry(state: State, op: str, payload: dict[str, Any], where: str) -> str:
    """The journal line (without a newline) recording `op` against `state`."""
    line = {"lineage": state.lineage, "serial": state.serial, "op": op, **payload}
    try:
        return json.dumps(line, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise StateError(f"cannot record {op} in state: {exc}", where=where) from exc


def parse_journal(raw: bytes, where: str, *, quiet: bool) -> list[JournalEntry]:
    """Every whole line of a journal file; an unfinished last line is dropped with a warning."""
    lines = raw.split(b"\n")
    tail = lines.pop()  # b"" when the journal ends with a newline
    entries = [parse_journal_line(line, f"{where}:{n}") for n, line in enumerate(lines, 1)]
    if tail.strip():
        try:
            entries.append(parse_journal_line(tail, f"{where}:{len(lines) + 1}"))
        except StateError:
            report = log.debug if quiet else log.warning
            report(
                "warning: ignoring the torn last line %d of %s (a step in flight at a crash)",
                len(lines) + 1,
                where,
            )
    return entries


def parse_journal_line(line: bytes, where: str) -> JournalEntry:
    """One journal line; StateError naming `where` when it is not a whole, valid line."""
    try:
        data = load_json(line.decode("utf-8"), "journal line", where)
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
    return JournalEntry(lineage, serial, data["op"], payload)


def apply_entry(state: State, entry: JournalEntry) -> None:
    payload = entry.payload
    if entry.op == "put":
        state.put(ManagedRecord.from_dict(payload["record"]))
    elif entry.op == "forget":
        state.remove(payload["kind"], payload["name"])
    else:
        move_record(state, payload["kind"], payload["name"], payload["new_name"])


def move_record(state: State, kind: str, name: str, new_name: str) -> ManagedRecord | None:
    record = state.remove(kind, name)
    if record is not None:
        record.name = new_name
        state.put(record)
    return record


def fold(state: State, entries: list[JournalEntry], where: str) -> bool:
    """Apply `entries` to `state` in place; True when any was applied.

    The journal is read before the state: a commit writes the state before it removes the
    journal, so a journal one serial older than the state is one that was already folded.
    """
    if not entries:
        return False
    base = entries[0]
    for number, entry in enumerate(entries, 1):
        if entry.lineage != state.lineage:
            raise StateError(
                f"journal belongs to another state (lineage {entry.lineage}, "
                f"the state file has {state.lineage})",
                where=f"{where}:{number}",
                hint=f"remove {where} if that state is gone; it was not applied",
            )
        if entry.serial != base.serial:
            raise StateError("journal mixes two state serials", where=f"{where}:{number}")
    if base.serial == state.serial - 1:
        return False  # crash between a commit's state write and the journal's removal
    if base.serial != state.serial:
        raise StateError(
            f"journal was written against serial {base.serial} but the state file is at "
            f"serial {state.serial}",
            where=where,
            hint=f"the state file was replaced during a run; check it, then remove {where}",
        )
    for entry in entries:
        apply_entry(state, entry)
    return True
