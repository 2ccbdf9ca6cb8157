"""reconciler.applier: Plan -> ordered provider calls, bounded parallelism, a record per step.

One campaign is one task; a campaign's own calls run in order inside its task (campaign before
its touchpoints on create, touchpoints before the campaign on delete, delete before create on
replace), and independent campaigns run concurrently on a thread pool. After every call that
changed something remotely, the state store gets a record of exactly what now exists, so a
crash loses at most the call in flight and a rerun converges. A create whose outcome is unknown
is resolved by listing by exact name and adopting what it made, never by sending it again
blindly. Nothing here prints or picks an exit code.
"""

from __future__ import annotations

from reconciler.applier.common import update_fields
from reconciler.applier.journal import applied_fields, record_lifecycle_changes
from reconciler.applier.results import ApplyResult, Outcome, ProgressCallback, StepResult
from reconciler.applier.run import apply_plan, steps_of

__all__ = [
    "ApplyResult",
    "Outcome",
    "ProgressCallback",
    "StepResult",
    "applied_fields",
    "apply_plan",
    "record_lifecycle_changes",
    "steps_of",
    "update_fields",
]
