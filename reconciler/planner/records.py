"""reconciler.planner.records: what the state records once an update or a catch-up is done."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reconciler.canonical import hash_write_only
from reconciler.plan import (
    TouchpointAction,
)

if TYPE_CHECKING:
    pass


def record_for_update(
    desired: Mapping[str, Any], previous: Mapping[str, Any] | None
) -> dict[str, Any]:
    """What the state records as applied once an update (or a catch-up) is done.

    The desired form with write-only values hashed, except the fields listed in
    `lifecycle.ignore_changes`: an update never sends them, so the record keeps what the
    last apply recorded for them (or nothing). The applier records exactly this.
    """
    applied = hash_write_only(desired)
    ignored = (applied.get("lifecycle") or {}).get("ignore_changes") or ()
    before = previous or {}
    for name in ignored:
        if name in before:
            applied[name] = before[name]
        else:
            applied.pop(name, None)
    return applied


def touchpoint_ids_after(
    previous: Mapping[str, str], touchpoints: Sequence[TouchpointAction], ignored: bool
) -> dict[str, str]:
    """The touchpoint ids an unchanged campaign's record holds: those the plan matched live.

    With `touchpoints` in `ignore_changes` the plan did not look at them: keep the record's.
    """
    if ignored:
        return dict(previous)
    return {tp.name: tp.remote_id for tp in touchpoints if tp.remote_id is not None}
