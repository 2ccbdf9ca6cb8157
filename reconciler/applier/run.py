"""reconciler.applier.run: Plan -> steps on a bounded thread pool, Ctrl-C, final commit."""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from reconciler.plan import ActionKind, Reason

if TYPE_CHECKING:
    from reconciler.plan import Action, Plan
    from reconciler.providers import EmailProvider, TouchpointProvider
    from reconciler.state import StateStore
from reconciler.applier.journal import (
    _Journal,
    record_lifecycle_changes,
)
from reconciler.applier.results import (
    ApplyResult,
    Outcome,
    ProgressCallback,
    StepResult,
)
from reconciler.applier.steps import (
    _Runner,
)

#: Campaign actions that send something (a plan's no-ops are not steps, except adoptions).
_SENDING = frozenset({ActionKind.CREATE, ActionKind.UPDATE, ActionKind.REPLACE, ActionKind.DELETE})


#: How long the main thread waits for a finished step at a time (keeps Ctrl-C responsive).
_POLL_SECONDS = 0.2


def steps_of(plan: Plan) -> list[Action]:
    """The actions of a plan that apply acts on: sends, blocked ones, and adoptions."""
    return [a for a in plan.actions if _is_step(a)]


def _is_step(action: Action) -> bool:
    if action.action in _SENDING or action.action == ActionKind.BLOCKED:
        return True
    if action.action == ActionKind.STATE_ONLY:
        return True
    return action.action == ActionKind.NO_OP and action.reason == Reason.ADOPTED_BY_NAME


def apply_plan(
    plan: Plan,
    *,
    email: EmailProvider | None,
    touchpoint: TouchpointProvider | None,
    store: StateStore,
    parallelism: int = 4,
    on_progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
    on_start: Callable[[Action], None] | None = None,
    on_wait: Callable[[], None] | None = None,
) -> ApplyResult:
    """Execute the plan's steps, `parallelism` campaigns at a time; commit the state at the end.

    The caller holds the state lock. Setting `stop` (or Ctrl-C in the calling thread) starts
    no new step; steps in flight finish and are recorded; the state is committed either way.
    Hooks for progress (none prints here): `on_start(action)` runs in the step's worker as
    the step starts, `on_progress` on the calling thread as each ends, `on_wait()` there
    at least every `_POLL_SECONDS` while steps run (a "still running" line's clock).
    """
    if parallelism < 1:
        raise ValueError("parallelism must be at least 1")
    stop = stop or threading.Event()
    started = time.monotonic()
    actions = steps_of(plan)
    journal = _Journal(store)
    runner = _Runner(email=email, touchpoint=touchpoint, journal=journal)
    steps: list[StepResult] = []
    interrupted = False
    try:
        record_lifecycle_changes(plan, store)
        hooks = _Hooks(on_progress, on_start, on_wait)
        steps, interrupted = _run_all(actions, runner, parallelism, hooks, stop)
        steps = _unstored_failed(steps, journal.failures())
    finally:
        store.commit()
    return ApplyResult(
        steps=steps,
        interrupted=interrupted or stop.is_set(),
        elapsed=time.monotonic() - started,
    )


class _Hooks:
    """The progress hooks of one run (see apply_plan); each may be None."""

    def __init__(
        self,
        on_progress: ProgressCallback | None,
        on_start: Callable[[Action], None] | None,
        on_wait: Callable[[], None] | None,
    ) -> None:
        self.on_progress = on_progress
        self.on_start = on_start
        self.on_wait = on_wait

    def run_one(self, runner: _Runner, action: Action, stop: threading.Event) -> StepResult:
        if self.on_start is not None and not stop.is_set():
            # A progress line that cannot be written (a closed stderr) fails no step.
            with contextlib.suppress(OSError):
                self.on_start(action)
        return runner.run_unless_stopped(action, stop)


def _unstored_failed(
    steps: list[StepResult], failed: dict[tuple[str, str], str]
) -> list[StepResult]:
    """A step whose journal write failed fails, even though its calls succeeded: the run
    must not pass while a record is not stored (the commit may still store it)."""
    if not failed:
        return steps
    out = []
    for step in steps:
        error = failed.get((step.kind, step.name))
        if error is not None and step.outcome != Outcome.FAILED:
            message = f"done remotely, but its state journal write failed: {error}"
            step = dataclasses.replace(step, outcome=Outcome.FAILED, message=message)
        out.append(step)
    return out


def _run_all(
    actions: Sequence[Action],
    runner: _Runner,
    parallelism: int,
    hooks: _Hooks,
    stop: threading.Event,
) -> tuple[list[StepResult], bool]:
    """Run every action on the pool; the results in action order, and whether Ctrl-C came."""
    interrupted = False
    # Finished futures arrive on a queue: waiting on every pending future at each
    # completion (concurrent.futures.wait) costs O(N) per step, O(N^2) per run.
    finished: queue.SimpleQueue[Future[StepResult]] = queue.SimpleQueue()
    with ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="apply") as pool:
        futures = [pool.submit(hooks.run_one, runner, a, stop) for a in actions]
        for future in futures:
            future.add_done_callback(finished.put)
        done_count = 0
        while done_count < len(futures):
            try:
                if hooks.on_wait is not None:
                    hooks.on_wait()
                future = finished.get(timeout=_POLL_SECONDS)
                done_count += 1
                if hooks.on_progress is not None:
                    hooks.on_progress(done_count, len(futures), future.result())
            except queue.Empty:
                continue
            except KeyboardInterrupt:
                # First Ctrl-C: start nothing new; the steps in flight finish and are recorded.
                # A second one (or one after `stop` was set) stops waiting at once.
                if interrupted or stop.is_set():
                    raise
                interrupted = True
                stop.set()
    return [future.result() for future in futures], interrupted
