"""reconciler.planner.diff: the three-way field diff of one object (campaign or touchpoint)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from reconciler.canonical import comparable, is_empty
from reconciler.diff import diff_values
from reconciler.diff import unset as _unset
from reconciler.plan import (
    FieldChange,
)
from reconciler.providers.vendors import same_value

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
                out.extend(diff_values((name,), before, shown.get(name)))
            else:
                out.append(FieldChange((name,), _unset(before), _unset(shown.get(name))))
        else:
            before, after = live_fields.get(name), shown.get(name)
            # Equal values are the same value (same_value's first test), asked here first:
            # in a converged plan every readable field of every campaign is equal.
            if before == after or same_value(kind, name, before, after):
                continue
            out.extend(diff_values((name,), before, after))
    return tuple(out)


def creation_changes(desired: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    """What a create sets: every field but kind, name and touchpoints, from None.

    Not `lifecycle` either: campaignctl's own settings, never sent (renderers show them as
    settings, from the action's `desired`).
    """
    shown = comparable(desired)
    return tuple(
        FieldChange((key,), None, value)
        for key, value in shown.items()
        if key not in ("kind", "name", "touchpoints", "lifecycle") and not is_empty(value)
    )


def _same(a: Any, b: Any) -> bool:
    return (is_empty(a) and is_empty(b)) or a == b
