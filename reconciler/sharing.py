"""reconciler.sharing: one object for equal values of a run's state, live list and config.

A plan of N campaigns holds each campaign up to four times: the state's record, the live
object, the loaded model and the plan's desired form. Their values are mostly equal (a
converged campaign's kind, sender, template, audience and time zone are the same in all of
them, and often across campaigns), yet each read makes its own strings, dicts and lists:
about 1.2 KB per campaign, a fifth of a 50,000-campaign plan's memory. Values passed
through `share` come back as the first equal object seen in this run.

Only values nobody changes are shared: strings always (immutable), and the small flat
dicts and lists of a state record or a live object (`to`, `google_track`...), which the
planner and the applier only read. The memo lives for one `build_plan` (`scope`); the
values stay shared after it ends. Outside a scope nothing is shared nor remembered, so a
long-lived process decoding outside a plan keeps no memo. Thread-safe: `dict.setdefault`
on str and tuple keys runs no Python code, so it is atomic under the interpreter lock, and
the list thread and the main thread share one memo.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Final

__all__ = ["scope", "share", "share_fields", "share_strings"]

_memo: Final[dict[Any, Any]] = {}
#: How many `scope`s are open (build_plan may be entered by a command inside another).
_open_scopes = 0


def share(text: str) -> str:
    """The first string equal to `text` seen in this scope (`text` itself if none)."""
    if not _open_scopes:
        return text
    return _memo.setdefault(text, text)  # type: ignore[no-any-return]


def _flat_key(value: dict[str, Any] | list[Any]) -> tuple[Any, ...] | None:
    """A hashable key for a dict or list of str/int (lists of str allowed one level down);
    None for anything deeper or of other types, which is then shared inside instead."""
    if type(value) is list:
        return ("list", *value) if all(type(item) is str for item in value) else None
    items: list[Any] = ["dict"]
    for key, item in value.items():  # type: ignore[union-attr]
        kind = type(item)
        if kind is list:
            if not all(type(entry) is str for entry in item):
                return None
            item = ("list", *item)
        elif kind is not str and kind is not int:  # bool and float: their own equality
            return None
        items.append((key, item))
    return tuple(items)


def share_fields(fields: dict[str, Any]) -> None:
    """Replace, in place, `fields`' strings and flat dicts and lists by shared equal ones.

    For a freshly decoded state record's `last_applied` or a live object's `fields`: the
    caller owns the dict, and what it holds is read-only from then on.
    """
    if _open_scopes:
        _share_fields(fields)


def _share_fields(fields: dict[str, Any]) -> None:
    for key, value in fields.items():
        kind = type(value)
        if kind is str:
            fields[key] = _memo.setdefault(value, value)
        elif kind is dict or kind is list:
            flat = _flat_key(value)
            if flat is not None:
                fields[key] = _memo.setdefault(flat, value)
            elif kind is dict:
                _share_fields(value)
            else:
                _share_items(value)


def _share_items(items: list[Any]) -> None:
    for index, item in enumerate(items):
        kind = type(item)
        if kind is str:
            items[index] = _memo.setdefault(item, item)
        elif kind is dict:
            _share_fields(item)


def share_strings(value: Any) -> None:
    """Replace, in place, the strings inside `value` (parsed YAML: dicts and lists) by
    shared equal ones; containers stay its own (strings are immutable: always safe)."""
    if _open_scopes:
        _share_strings(value)


def _share_strings(value: Any) -> None:
    if type(value) is dict:
        for key, item in value.items():
            if type(item) is str:
                value[key] = _memo.setdefault(item, item)
            else:
                _share_strings(item)
    elif type(value) is list:
        for index, item in enumerate(value):
            if type(item) is str:
                value[index] = _memo.setdefault(item, item)
            else:
                _share_strings(item)


@contextlib.contextmanager
def scope() -> Iterator[None]:
    """Share values while the block runs, then forget the memo (not the sharing)."""
    global _open_scopes
    _open_scopes += 1
    try:
        yield
    finally:
        _open_scopes -= 1
        if not _open_scopes:
            _memo.clear()
