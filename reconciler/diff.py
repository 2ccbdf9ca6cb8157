"""reconciler.diff: the one diff engine, two canonical values in, their leaf changes out.

Pure. Plan (desired vs live) and drift (last apply vs live) both explain a differing value
with `diff_values`, so they agree on every shape, lists that grow, shrink or get an item
inserted included. Compare first (docs/reference/semantics.md "Three-way diff"): plain
equality settles most pairs at a thousandth of DeepDiff's cost, and DeepDiff is only asked
to explain a pair that differs. Unset spellings (None, "", [], {}) are one value
(semantics.md "Unset values") and show as None.
"""

from __future__ import annotations

from typing import Any

from reconciler.canonical import is_empty
from reconciler.plan import ChangePath, FieldChange

__all__ = ["diff_values", "unset"]


def unset(value: Any) -> Any:
    """None for any unset spelling, else the value itself."""
    return None if is_empty(value) else value


def diff_values(prefix: ChangePath, before: Any, after: Any) -> list[FieldChange]:
    """The changes from `before` to `after`, each at `prefix` + the path inside the value.

    Equal (or both unset) values have none. Two dicts or two lists are explained leaf by
    leaf by DeepDiff: a list item added or removed is one change of its own, at its index,
    with None on the side it is missing from. Any other differing pair is one change.
    Changes come sorted by path (indices before keys, then in order).
    """
    before, after = unset(before), unset(after)
    if before == after:
        return []
    comparable_shapes = (isinstance(before, dict) and isinstance(after, dict)) or (
        isinstance(before, list) and isinstance(after, list)
    )
    if not comparable_shapes:
        return [FieldChange(prefix, before, after)]
    out: list[FieldChange] = []
    _explain(prefix, before, after, out)
    if not out:
        return [FieldChange(prefix, before, after)]
    return sorted(out, key=lambda change: _path_key(change.path))


#: Pairs of these types that differ are one change at their path, as DeepDiff says
#: (values_changed, or type_changes for None against a value), without asking it.
_PLAIN_SCALARS = frozenset({str, int, type(None)})


def _same_keys(before: dict[Any, Any], after: dict[Any, Any]) -> bool:
    """Two dicts DeepDiff compares key by key, each key's values on their own: the same
    str keys, none private to it (DeepDiff skips `__` keys)."""
    return before.keys() == after.keys() and all(
        type(key) is str and not key.startswith("__") for key in before
    )


def _explain(prefix: ChangePath, before: Any, after: Any, out: list[FieldChange]) -> None:
    """Append DeepDiff's leaf changes of a differing pair, asking DeepDiff only about the
    values that differ (it costs ~100 µs a call, most of it whatever the values).

    Two dicts with the same keys are walked here, as DeepDiff walks them: equal values
    have no change (DeepDiff agrees on JSON-like values: 1 and 1.0, True and 1), differing
    plain scalars are one change. Anything else (lists, dicts whose keys differ, where
    DeepDiff may report the whole dict, floats) is DeepDiff's, at its own path.
    """
    if type(before) is dict and type(after) is dict and _same_keys(before, after):
        for key, value in before.items():
            other = after[key]
            if value != other:
                _explain((*prefix, key), value, other, out)
        return
    if type(before) in _PLAIN_SCALARS and type(after) in _PLAIN_SCALARS:
        out.append(FieldChange(prefix, before, after))
        return
    from deepdiff import DeepDiff  # imported on the first differing pair: ~30 ms otherwise

    tree = DeepDiff(before, after, view="tree", ignore_numeric_type_changes=True)
    for levels in tree.values():
        for level in levels:
            path = tuple(level.path(output_format="list"))
            out.append(FieldChange((*prefix, *path), _present(level.t1), _present(level.t2)))


def _present(value: Any) -> Any:
    from deepdiff.helper import NotPresent

    return None if isinstance(value, NotPresent) else value


def _path_key(path: ChangePath) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, part, "") if isinstance(part, int) else (1, 0, part) for part in path)
