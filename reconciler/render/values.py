"""reconciler.render.values: how a plan's values, names and ids read in text and Markdown.

Shared by the plan's text and Markdown renderings (and the remedies), so a value, a quoted
name or an id reads the same in each. JSON keeps values whole; these shorten them for people.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from reconciler.plan import FieldChange

__all__ = [
    "NO_CHANGES",
    "NO_CHANGES_IN_TARGET",
    "UNMANAGED_SHOWN",
    "VALUE_WIDTH",
    "expanded",
    "id_suffix",
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


def expanded(changes: Iterable[FieldChange]) -> list[FieldChange]:
    """Whole objects set or cleared, one line per key or item: nested values stay readable."""
    out: list[FieldChange] = []
    for change in changes:
        out.extend(_expand(change))
    return out


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
