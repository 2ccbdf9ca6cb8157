"""reconciler.planner: (desired, state, live) -> Plan, the safety rule and the stale check.

Pure: no I/O, no clock, no environment. Every value it compares is canonical (the model and
the providers normalise on the way in), so an unchanged campaign plans `no-op` by plain
equality; DeepDiff is only asked to explain the pairs that differ.

Three-way diff (docs/reference/semantics.md "Three-way diff"):
- managed fields = fields of the desired canonical form ∪ fields of the state's last-applied
  record, minus `lifecycle.ignore_changes`; a field in neither is unmanaged and never diffed;
- readable fields compare desired against live; write-only fields (email `subject` and
  `attachments`, touchpoint `message`) compare the desired value's hash against last-applied;
- a field in last-applied but no longer desired is cleared (`after = None`).
With no last-applied record (a campaign adopted by name, or a touchpoint made out of band),
a desired write-only value is always a change: the API cannot tell us what it holds; apply
sends it and records its hash, so the next plan is a no-op. With no state at all
(`--no-state`), write-only values are not compared: there is nothing to compare them with,
and showing them changed would make every stateless plan non-empty forever.
"""

from __future__ import annotations

from reconciler.planner.compute import IMPORT_PLACEHOLDER, compute_plan
from reconciler.planner.diff import creation_changes, field_changes
from reconciler.planner.identity import ManagedRecordLike, StateLike
from reconciler.planner.records import record_for_update, touchpoint_ids_after
from reconciler.planner.safety import (
    MIN_MANAGED_FOR_RATIO,
    SAFE_DESTROY_RATIO,
    already_applied,
    check_safety,
    find_stale,
)
from reconciler.planner.touchpoints import plan_touchpoints

__all__ = [
    "IMPORT_PLACEHOLDER",
    "MIN_MANAGED_FOR_RATIO",
    "SAFE_DESTROY_RATIO",
    "ManagedRecordLike",
    "StateLike",
    "already_applied",
    "check_safety",
    "compute_plan",
    "creation_changes",
    "field_changes",
    "find_stale",
    "plan_touchpoints",
    "record_for_update",
    "touchpoint_ids_after",
]
