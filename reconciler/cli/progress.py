"""reconciler.cli.progress: what `apply` prints while it runs, for a terminal or a CI log.

On a terminal: one counting line, rewritten in place (long runs only). Without one (a CI
log): a line as each step starts and ends, a "still ..." line for a slow step, and the
HTTP layer's retries (masked: method and path only) on stderr. See
docs/reference/commands.md "apply".
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import click

from reconciler.render import text_safe

if TYPE_CHECKING:
    from reconciler.applier import StepResult
    from reconciler.plan import Action

__all__ = ["PROGRESS_MIN_STEPS", "STILL_RUNNING_EVERY_S", "Progress", "retries_shown"]

#: Runs with more steps than this get a counting line on a terminal.
PROGRESS_MIN_STEPS = 10

#: How often a step still in flight is announced in a CI log (a test makes it small).
STILL_RUNNING_EVERY_S = 30.0

#: action -> (while running, once done); an adoption is a no-op step.
_VERBS = {
    "create": ("creating", "created"),
    "update": ("updating", "updated"),
    "replace": ("replacing", "replaced"),
    "delete": ("deleting", "deleted"),
    "state-only": ("recording in the state", "recorded in the state"),
    "no-op": ("adopting", "adopted"),
}

#: The logger the HTTP layer announces each retry on (providers/http/retries.py).
_RETRY_LOGGER = "reconciler.providers.http.retries"


def _label(kind: str, name: str) -> str:
    """`EmailCampaign "Spring sale"`: the name as a JSON string (quotes escaped)."""
    return f"{kind} {json.dumps(name, ensure_ascii=False)}"


def _seconds(elapsed: float) -> str:
    return f"{elapsed:.1f} s" if elapsed < 10 else f"{elapsed:.0f} s"


class Progress:
    """The apply_plan hooks (on_start, on_progress, on_wait) for one run.

    `tty` picks the form: the counting line (only above PROGRESS_MIN_STEPS steps) or the
    CI log lines. The clock is injectable so that a test decides what "elapsed" is.
    """

    def __init__(self, total: int, *, tty: bool, every_s: float | None = None) -> None:
        self.total = total
        self.counter = tty and total > PROGRESS_MIN_STEPS
        self.lines = not tty
        self.every_s = STILL_RUNNING_EVERY_S if every_s is None else every_s
        self.failed = 0
        self.blocked = 0
        self._lock = threading.Lock()
        #: step key -> (action word, started at, last announced at)
        self._running: dict[tuple[str, str], tuple[str, float, float]] = {}

    def _say(self, line: str) -> None:
        click.echo(text_safe(line), err=True)

    def on_start(self, action: Action) -> None:
        """A step starts (called in its worker thread)."""
        if not self.lines or action.action == "blocked":
            return
        doing = _VERBS.get(str(action.action), (str(action.action), str(action.action)))[0]
        now = time.monotonic()
        with self._lock:
            self._running[(action.kind, action.name)] = (str(action.action), now, now)
        self._say(f"{_label(action.kind, action.name)}: {doing}...")

    def on_wait(self) -> None:
        """The run is waiting: announce each step in flight for `every_s` since last said."""
        if not self.lines:
            return
        now = time.monotonic()
        due: list[str] = []
        with self._lock:
            for key, (what, started, said) in self._running.items():
                if now - said >= self.every_s:
                    self._running[key] = (what, started, now)
                    doing = _VERBS.get(what, (what, what))[0]
                    elapsed = f"{now - started:.0f} s"
                    due.append(f"{_label(*key)}: still {doing} ({elapsed} elapsed)")
        for line in due:
            self._say(line)

    def __call__(self, done: int, total: int, step: StepResult) -> None:
        """A step ended (on the applying thread)."""
        if step.outcome == "failed":
            self.failed += 1
        elif step.outcome == "blocked":
            self.blocked += 1
        if self.lines:
            self._ended(step)
        if self.counter:
            width = len(str(total))
            click.echo(
                f"\rApplying: {done:>{width}}/{total} done, {self.failed} failed, "
                f"{self.blocked} blocked",
                err=True,
                nl=False,
            )

    def _ended(self, step: StepResult) -> None:
        with self._lock:
            running = self._running.pop((step.kind, step.name), None)
        label = _label(step.kind, step.name)
        if step.outcome == "blocked":
            self._say(f"{label}: blocked")
            return
        if running is None:
            return  # skipped: never started
        took = _seconds(time.monotonic() - running[1])
        if step.outcome == "failed":
            self._say(f"{label}: failed after {took}")
            return
        done = _VERBS.get(step.action, (step.action, step.action))[1]
        suffix = f" [id={step.remote_id}]" if step.remote_id and step.action != "delete" else ""
        self._say(f"{label}: {done} in {took}{suffix}")

    def finish(self) -> None:
        if self.counter:
            click.echo("", err=True)


@contextlib.contextmanager
def retries_shown(shown: bool) -> Iterator[None]:
    """While applying for a CI log, each retry of the HTTP layer is a line on stderr.

    Without this they are -v detail, and a refused connection retried for 17 s is silence.
    The lines name the method, the path (no query) and the cause; never a header or body.
    """
    logger = logging.getLogger(_RETRY_LOGGER)
    previous = logger.level
    if shown and not logger.isEnabledFor(logging.INFO):
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.setLevel(previous)
