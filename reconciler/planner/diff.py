"""reconciler.planner.diff: the three-way field diff of one object (campaign or touchpoint)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from deepdiff import DeepDiff
from deepdiff.helper import NotPresent

from reconciler.canonical import comparable, is_empty
from reconciler.plan import (
    ChangePath,
    FieldChange,
)
from reconciler.providers.vendors import same_value

if TYPE_CHECKING:
    pass


_NEVER_DIFFED = frozenset({"kind", "lifecycle"})


def field_changes(
    desired: Mapping[str, Any],
    desired_hashed: Mapping[str, Any],
    last_applied: Mapping[str, Any] | None,
    live_fields: Mapping[str, Any],
    *,
    ignore: Collection[str] = (),
    write_only: Collection[str] = (),
    kind: str = "",
) -> tuple[FieldChange, ...]:
    """The field-level changes of one object (campaign or touchpoint), three-way.

    `desired_hashed` is `desired` as the state records it (write-only values hashed);
    write-only fields compare it with `last_applied`, readable fields compare desired with
    `live_fields`. A write-only change shows the stored hash before and the new value after.
    A readable field unset on one side and at the vendor's default for `kind` on the other
    is no change (`providers.vendors.VENDOR_DEFAULTS`): clearing it would put that value back.
    """
    last = last_applied or {}
    shown = comparable(desired)
    names = dict.fromkeys([*shown, *sorted(last)])
    out: list[FieldChange] = []
    for name in names:
        if name in _NEVER_DIFFED or name in ignore:
            continue
        if name in write_only:
            before, now = last.get(name), desired_hashed.get(name)
            if _same(before, now):
                continue
            if name == "attachments":
                out.extend(_diff((name,), before, shown.get(name)))
            else:
                out.append(FieldChange((name,), _unset(before), _unset(shown.get(name))))
        else:
            before, after = live_fields.get(name), shown.get(name)
            if not same_value(kind, name, before, after):
                out.extend(_diff((name,), before, after))
    return tuple(out)


def creation_changes(desired: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    """What a create sets: every field but kind, name and touchpoints, from None."""
    shown = comparable(desired)
    return tuple(
        FieldChange((key,), None, value)
        for key, value in shown.items()
        if key not in ("kind", "name", "touchpoints") and not is_empty(value)
    )


def _same(a: Any, b: Any) -> bool:
    return (is_empty(a) and is_empty(b)) or a == b


def _unset(value: Any) -> Any:
    return None if is_empty(value) else value


def _diff(prefix: ChangePath, before: Any, after: Any) -> list[FieldChange]:
    """Explain a differing pair field by field (DeepDiff only for two dicts or two lists)."""
    before, after = _unset(before), _unset(after)
    comparable_shapes = (isinstance(before, dict) and isinstance(after, dict)) or (
        isinstance(before, list) and isinstance(after, list)
    )
    if not comparable_shapes:
        return [FieldChange(prefix, before, after)]
    tree = DeepDiff(before, after, view="tree", ignore_numeric_type_changes=True)
    out: list[FieldChange] = []
    for levels in tree.values():
        for level in levels:
            path = tuple(level.path(output_format="list"))
            out.append(FieldChange((*prefix, *path), _present(level.t1), _present(level.t2)))
    if not out:
        return [FieldChange(prefix, before, after)]
    return sorted(out, key=lambda change: _path_key(change.path))


def _present(value: Any) -> Any:
    return None if isinstance(value, NotPresent) else value


def _path_key(path: ChangePath) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, part, "") if isinstance(part, int) else (1, 0, part) for part in path)
