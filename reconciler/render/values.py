"""reconciler.render.values: how a plan's values, names and ids read in text and Markdown.

Shared by the plan's text and Markdown renderings (and the remedies), so a value, a quoted
name or an id reads the same in each. JSON keeps values whole; these shorten them for people.
A write-only value the state recorded as a hash reads `(write-only)`, never as the hash, and
`lifecycle` (campaignctl's own settings, never sent) is not listed as a field
(docs/plan-format.md "Write-only values and lifecycle in text and Markdown").
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from reconciler.plan import FieldChange

__all__ = [
    "NO_CHANGES",
    "NO_CHANGES_IN_TARGET",
    "UNMANAGED_SHOWN",
    "VALUE_WIDTH",
    "WRITE_ONLY",
    "expanded",
    "id_suffix",
    "is_recorded_hash",
    "lifecycle_text",
    "more_unmanaged",
    "no_changes_line",
    "quote",
    "short_hashes",
    "value_text",
]

#: A value longer than this is cut in text and Markdown output (JSON keeps everything).
VALUE_WIDTH = 120
_HASH = re.compile(r"(sha256:)?[0-9a-f]{64}")
#: The unmanaged section stays short: the first this many, then a count.
UNMANAGED_SHOWN = 20
NO_CHANGES = "No changes. The live campaigns match the configuration."

#: A targeted plan with nothing to do inside the target, but changes outside it: never
#: NO_CHANGES, which would say the live campaigns match when they do not.
NO_CHANGES_IN_TARGET = "No changes in the target (changes outside it are pending, not shown)."


def no_changes_line(outside_target: int | None) -> str:
    """What a plan with no change to show says: NO_CHANGES only when nothing is pending."""
    return NO_CHANGES_IN_TARGET if outside_target else NO_CHANGES


def more_unmanaged(count: int, prefix: str) -> list[str]:
    """The line that counts the unmanaged campaigns not listed, if any."""
    if count <= UNMANAGED_SHOWN:
        return []
    return [f"{prefix}… and {count - UNMANAGED_SHOWN} more (`--format json` lists them all)"]


@dataclass(frozen=True)
class _WriteOnly:
    """Stands for a write-only value the state holds only as a hash."""

    def __str__(self) -> str:
        return "(write-only)"


#: The `before` of a write-only field's change: the API never returns the value, the state
#: holds its hash, and a hash is no value a reviewer can read.
WRITE_ONLY: Final = _WriteOnly()
_RECORDED = re.compile(r"sha256:[0-9a-f]{64}")


def is_recorded_hash(path: Sequence[str | int], value: Any) -> bool:
    """True for the hash the state records of a write-only value (subject, message).

    An attachment's `sha256` is a file's content hash, shown as it is: the only thing to
    tell two files apart by.
    """
    if not isinstance(value, str) or _RECORDED.fullmatch(value) is None:
        return False
    return not path or path[-1] != "sha256"


def expanded(changes: Iterable[FieldChange]) -> list[FieldChange]:
    """Whole objects set or cleared, one line per key or item: nested values stay readable.

    `lifecycle` is left out (see lifecycle_text). A recorded hash becomes WRITE_ONLY, and a
    write-only object changed is expanded like one being set, so a touchpoint message reads
    `message.text` in an update as in a create.
    """
    out: list[FieldChange] = []
    for change in changes:
        if change.path[:1] == ("lifecycle",):
            continue
        if not is_recorded_hash(change.path, change.before):
            out.extend(_expand(change))
            continue
        if change.after is None or is_recorded_hash(change.path, change.after):
            after = None if change.after is None else WRITE_ONLY
            out.append(FieldChange(change.path, WRITE_ONLY, after))
            continue
        out.extend(
            FieldChange(leaf.path, WRITE_ONLY, leaf.after)
            for leaf in _expand(FieldChange(change.path, None, change.after))
        )
    return out


def lifecycle_text(desired: Mapping[str, Any] | None) -> str | None:
    """The campaign's `lifecycle` settings in one line, or None when it sets none."""
    settings = (desired or {}).get("lifecycle")
    if not isinstance(settings, Mapping) or not settings:
        return None
    parts = ", ".join(f"{key}: {value_text(value)}" for key, value in sorted(settings.items()))
    return f"lifecycle (campaignctl's settings, never sent): {parts}"


def _expand(change: FieldChange) -> list[FieldChange]:
    before, after = change.before, change.after
    value = after if before is None else before if after is None else None
    if isinstance(value, dict):
        parts: list[tuple[str | int, Any]] = list(value.items())
    elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        parts = list(enumerate(value))
    else:
        return [change]
    out: list[FieldChange] = []
    for key, part in parts:
        sub = (*change.path, key)
        out.extend(
            _expand(
                FieldChange(sub, None, part) if before is None else FieldChange(sub, part, None)
            )
        )
    return out


def value_text(value: Any) -> str:
    if value is WRITE_ONLY:
        return str(WRITE_ONLY)
    text = json.dumps(short_hashes(value), ensure_ascii=False, sort_keys=True, default=str)
    if len(text) > VALUE_WIDTH:
        return text[: VALUE_WIDTH - 1] + "…"
    return text


def quote(name: str) -> str:
    return json.dumps(name, ensure_ascii=False)


def id_suffix(remote_id: str | None) -> str:
    return f" [{remote_id}]" if remote_id else ""


def short_hashes(value: Any) -> Any:
    """Content hashes cut to 12 hex digits: enough to tell two apart on screen."""
    if isinstance(value, str) and _HASH.fullmatch(value):
        return value[: len(value) - 52] + "…"
    if isinstance(value, dict):
        return {k: short_hashes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [short_hashes(v) for v in value]
    return value
