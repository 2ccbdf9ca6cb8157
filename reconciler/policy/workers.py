"""reconciler.policy.workers: rules evaluated over bindings in forked workers, each rule timed.

CEL has no loops or recursion, but nested macros over long lists can still run for minutes,
and a Rust call cannot be interrupted from Python: rules run in a forked worker process,
each rule with a time limit; a rule over its limit is stopped (the worker killed) and
reported as an error, and the remaining rules go on in a new worker.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

__all__ = [
    "DEFAULT_TIME_LIMIT",
    "SHARD_MIN_BINDINGS",
    "Job",
    "Outcome",
    "evaluate",
    "time_limit_from_env",
]

#: Seconds one rule may run over all campaigns (env CAMPAIGNCTL_POLICY_TIME_LIMIT).
DEFAULT_TIME_LIMIT = 5.0


@dataclass
class Outcome:
    """A rule's result: the indexes of the bindings it failed on, or an error."""

    failed: list[int] = field(default_factory=list)
    error: str | None = None
    error_index: int | None = None


class _Contexts:
    """CEL contexts of the bindings, each converted once and shared by every rule (the
    conversion of nested data costs more than evaluating a rule)."""

    def __init__(self, bindings: Sequence[Mapping[str, Any]]) -> None:
        self.bindings = bindings
        self.cache: dict[int, Any] = {}

    def get(self, index: int) -> Any:
        import cel

        context = self.cache.get(index)
        if context is None:
            context = self.cache[index] = cel.Context(dict(self.bindings[index]))
        return context


def _run_rule(expr: str, indexes: Sequence[int], contexts: _Contexts) -> Outcome:
    """Evaluate one rule on the bindings at `indexes`; outcomes hold binding indexes."""
    import cel

    program = cel.compile(expr)
    outcome = Outcome()
    for index in indexes:
        try:
            result = program.execute(contexts.get(index))
        except Exception as exc:  # the library raises KeyError, TypeError, RuntimeError...
            detail = str(exc).splitlines()[0] if str(exc) else ""
            if isinstance(exc, KeyError):
                detail = f"no such key {detail} (test it with has() first)"
            outcome.error = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
            outcome.error_index = index
            return outcome
        if result is not True and result is not False:
            outcome.error = f"the expression gave {type(result).__name__} {result!r}, not a bool"
            outcome.error_index = index
            return outcome
        if result is False:
            outcome.failed.append(index)
    return outcome


Job = tuple[str, Sequence[int]]


def _worker(jobs: Sequence[Job], contexts: _Contexts, conn: Connection) -> None:
    for number, (expr, indexes) in enumerate(jobs):
        conn.send((number, _run_rule(expr, indexes, contexts)))
    conn.close()


#: Below this many bindings one worker does it all (a fork costs more than it saves).
SHARD_MIN_BINDINGS = 2000


def evaluate(
    jobs: Sequence[Job], bindings: Sequence[Mapping[str, Any]], time_limit: float
) -> list[Outcome]:
    """Run the jobs over the bindings split between up to one worker per core.

    Each shard gets every rule and a share of the bindings (converting them to CEL is half
    the cost), under the same time limit per rule; outcomes are merged back in order.
    """
    shards = min(os.cpu_count() or 1, 4) if len(bindings) >= SHARD_MIN_BINDINGS else 1
    if shards == 1:
        return _evaluate_shard(jobs, bindings, time_limit)
    from concurrent.futures import ThreadPoolExecutor

    parts = [
        [(expr, [i for i in indexes if i % shards == shard]) for expr, indexes in jobs]
        for shard in range(shards)
    ]
    with ThreadPoolExecutor(max_workers=shards) as pool:
        results = list(pool.map(lambda part: _evaluate_shard(part, bindings, time_limit), parts))
    merged: list[Outcome] = []
    for number in range(len(jobs)):
        outcomes = [result[number] for result in results]
        errors = [o for o in outcomes if o.error is not None]
        if errors:
            merged.append(min(errors, key=lambda o: -1 if o.error_index is None else o.error_index))
        else:
            merged.append(Outcome(sorted(i for o in outcomes for i in o.failed)))
    return merged


def _evaluate_shard(
    jobs: Sequence[Job], bindings: Sequence[Mapping[str, Any]], time_limit: float
) -> list[Outcome]:
    """Run each (expr, binding indexes) job; a job over `time_limit` seconds is stopped.

    A forked worker (it inherits the bindings: nothing is pickled) runs the jobs in order
    and sends each outcome back; when one is late the worker is killed (a CEL call in Rust
    cannot be interrupted otherwise) and a new one goes on with the next job. Without fork
    (not Linux/macOS), jobs run here, unbounded.
    """
    contexts = _Contexts(bindings)
    if "fork" not in multiprocessing.get_all_start_methods():
        return [_run_rule(expr, indexes, contexts) for expr, indexes in jobs]
    context = multiprocessing.get_context("fork")
    outcomes: list[Outcome] = []
    while len(outcomes) < len(jobs):
        remaining = jobs[len(outcomes) :]
        receiver, sender = context.Pipe(duplex=False)
        worker = context.Process(target=_worker, args=(remaining, contexts, sender), daemon=True)
        worker.start()
        sender.close()
        stuck = False
        try:
            while len(outcomes) < len(jobs):
                if not receiver.poll(time_limit):
                    stuck = True
                    outcomes.append(
                        Outcome(error=f"stopped after {time_limit:g} s (the time limit per rule)")
                    )
                    break
                _, outcome = receiver.recv()
                outcomes.append(outcome)
        except EOFError:
            outcomes.append(Outcome(error="the rule's evaluation crashed"))
        finally:
            # A worker that sent every outcome is ending on its own: let it (its exit writes
            # the coverage data of a test run); only one that is stuck in a rule is killed.
            worker.join(timeout=0 if stuck else 2)
            if worker.is_alive():
                worker.kill()
            worker.join()
            receiver.close()
    return outcomes


def time_limit_from_env() -> float:
    """CAMPAIGNCTL_POLICY_TIME_LIMIT in seconds, or the default when unset or not positive."""
    try:
        value = float(os.environ.get("CAMPAIGNCTL_POLICY_TIME_LIMIT", DEFAULT_TIME_LIMIT))
    except ValueError:
        return DEFAULT_TIME_LIMIT
    return value if value > 0 else DEFAULT_TIME_LIMIT
