"""reconciler.applier.results: what became of each step, and the run's counts and summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from reconciler.plan import Action


class Outcome(StrEnum):
    """What became of one campaign's step."""

    APPLIED = "applied"
    BLOCKED = "blocked"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class StepResult:
    """One campaign's step: the planned action, what happened, and what changed remotely.

    `effects` lists what was done even when the step did not finish (a replace whose delete
    succeeded and whose create failed has effects ("deleted",) and outcome failed).
    """

    kind: str
    name: str
    action: str
    outcome: Outcome
    message: str = ""
    remote_id: str | None = None
    effects: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "action": self.action,
            "outcome": str(self.outcome),
            "message": self.message,
            "remote_id": self.remote_id,
            "effects": list(self.effects),
        }


@dataclass
class ApplyResult:
    """Every step's result, in plan order, and whether the run was interrupted."""

    steps: list[StepResult] = field(default_factory=list)
    interrupted: bool = False
    elapsed: float = 0.0

    def counts(self) -> dict[str, int]:
        """Campaign counts (semantics.md "Counting"): a replace is one create and one delete."""
        out = {k: 0 for k in ("created", "updated", "deleted", "adopted", "state_only")}
        out.update({"blocked": 0, "failed": 0, "skipped": 0})
        for step in self.steps:
            for effect in step.effects:
                out[effect] += 1
            if step.outcome in (Outcome.BLOCKED, Outcome.FAILED, Outcome.SKIPPED):
                out[str(step.outcome)] += 1
        return out

    @property
    def failed(self) -> list[StepResult]:
        return [s for s in self.steps if s.outcome == Outcome.FAILED]

    @property
    def blocked(self) -> list[StepResult]:
        return [s for s in self.steps if s.outcome == Outcome.BLOCKED]

    def summary_line(self) -> str:
        c = self.counts()
        state_only = f", {c['state_only']} changed in the state only" if c["state_only"] else ""
        return (
            f"Apply complete: {c['created']} created, {c['updated']} updated, "
            f"{c['deleted']} deleted, {c['blocked']} blocked, {c['failed']} failed{state_only}."
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": 1,
            "summary": self.counts(),
            "summary_line": self.summary_line(),
            "interrupted": self.interrupted,
            "elapsed_seconds": round(self.elapsed, 3),
            "steps": [step.to_dict() for step in self.steps],
        }


class ProgressCallback(Protocol):
    def __call__(self, done: int, total: int, step: StepResult) -> None: ...


def _skipped(action: Action) -> StepResult:
    return StepResult(
        kind=action.kind,
        name=action.name,
        action=str(action.action),
        outcome=Outcome.SKIPPED,
        message="not started: the run was interrupted",
        remote_id=action.remote_id,
    )
