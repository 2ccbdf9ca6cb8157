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

import contextlib
import dataclasses
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from dataclasses import replace as dc_replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from reconciler.canonical import hash_write_only
from reconciler.errors import (
    CampaignctlError,
    ExecutedError,
    NotFound,
    OutcomeUnknown,
)
from reconciler.live import MESSAGING_KIND, LiveCampaign, LiveTouchpoint
from reconciler.plan import ActionKind, Reason
from reconciler.planner import record_for_update, touchpoint_ids_after
from reconciler.state import ManagedRecord, utc_now

if TYPE_CHECKING:
    from reconciler.plan import Action, Plan, TouchpointAction
    from reconciler.providers import EmailProvider, TouchpointProvider
    from reconciler.state import StateStore

__all__ = [
    "ApplyResult",
    "Outcome",
    "ProgressCallback",
    "StepResult",
    "apply_plan",
    "steps_of",
]

#: Campaign actions that send something (a plan's no-ops are not steps, except adoptions).
_SENDING = frozenset({ActionKind.CREATE, ActionKind.UPDATE, ActionKind.REPLACE, ActionKind.DELETE})

#: How long the main thread waits for a finished step at a time (keeps Ctrl-C responsive).
_POLL_SECONDS = 0.2


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
) -> ApplyResult:
    """Execute the plan's steps, `parallelism` campaigns at a time; commit the state at the end.

    The caller holds the state lock. Setting `stop` (or Ctrl-C in the calling thread) starts
    no new step; steps in flight finish and are recorded; the state is committed either way.
    """
    if parallelism < 1:
        raise ValueError("parallelism must be at least 1")
    stop = stop or threading.Event()
    started = time.monotonic()
    actions = steps_of(plan)
    runner = _Runner(email=email, touchpoint=touchpoint, journal=_Journal(store))
    steps: list[StepResult] = []
    interrupted = False
    try:
        record_lifecycle_changes(plan, store)
        steps, interrupted = _run_all(actions, runner, parallelism, on_progress, stop)
    finally:
        store.commit()
    return ApplyResult(
        steps=steps,
        interrupted=interrupted or stop.is_set(),
        elapsed=time.monotonic() - started,
    )


def applied_fields(action: Action, previous: ManagedRecord | None) -> dict[str, Any]:
    """What the state records as applied: the desired form, write-only values hashed.

    A field in `lifecycle.ignore_changes` is sent on create only; an update keeps what the
    last apply recorded for it (or nothing), since the YAML's new value was never sent.
    """
    if action.action in (ActionKind.CREATE, ActionKind.REPLACE):
        return hash_write_only(_desired(action))
    return record_for_update(_desired(action), previous.last_applied if previous else None)


def record_lifecycle_changes(plan: Plan, store: StateStore) -> None:
    """Record `lifecycle.prevent_destroy` for unchanged campaigns whose flag changed.

    Setting or dropping the flag changes nothing remotely, so the plan is a no-op; but the
    state must learn it, or a campaign later removed from the YAML could not be protected.
    """
    state = store.read()
    for action in plan.actions:
        if action.action != ActionKind.NO_OP or action.desired is None:
            continue
        record = state.get(action.kind, action.name)
        if record is None or record.remote_id != action.remote_id:
            continue
        wanted = action.desired.get("lifecycle")
        if record.last_applied.get("lifecycle") == wanted:
            continue
        last_applied = {k: v for k, v in record.last_applied.items() if k != "lifecycle"}
        if wanted is not None:
            last_applied["lifecycle"] = wanted
        store.record(dataclasses.replace(record, last_applied=last_applied))


def _run_all(
    actions: Sequence[Action],
    runner: _Runner,
    parallelism: int,
    on_progress: ProgressCallback | None,
    stop: threading.Event,
) -> tuple[list[StepResult], bool]:
    """Run every action on the pool; the results in action order, and whether Ctrl-C came."""
    interrupted = False
    # Finished futures arrive on a queue: waiting on every pending future at each
    # completion (concurrent.futures.wait) costs O(N) per step, O(N^2) per run.
    finished: queue.SimpleQueue[Future[StepResult]] = queue.SimpleQueue()
    with ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="apply") as pool:
        futures = [pool.submit(runner.run_unless_stopped, a, stop) for a in actions]
        for future in futures:
            future.add_done_callback(finished.put)
        done_count = 0
        while done_count < len(futures):
            try:
                future = finished.get(timeout=_POLL_SECONDS)
                done_count += 1
                if on_progress is not None:
                    on_progress(done_count, len(futures), future.result())
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


def _skipped(action: Action) -> StepResult:
    return StepResult(
        kind=action.kind,
        name=action.name,
        action=str(action.action),
        outcome=Outcome.SKIPPED,
        message="not started: the run was interrupted",
        remote_id=action.remote_id,
    )


# --------------------------------------------------------------------------- state records


class _Journal:
    """The state store as the workers use it (StateStore is thread-safe)."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def record(self, record: ManagedRecord) -> None:
        self._store.record(record)

    def forget(self, kind: str, name: str) -> None:
        self._store.forget(kind, name)

    def previous(self, kind: str, name: str) -> ManagedRecord | None:
        return self._store.read().get(kind, name)

    def knows_remote_id(self, kind: str, remote_id: str) -> bool:
        return self._store.read().by_remote_id(kind, remote_id) is not None


# --------------------------------------------------------------------------- one campaign


class _StepFailed(Exception):
    """A step failed for a reason the applier found itself (e.g. touchpoint validation)."""


@dataclass
class _Step:
    """What one task has done so far: the effects and the campaign's remote id."""

    action: Action
    effects: list[str] = field(default_factory=list)
    remote_id: str | None = None
    message: str = ""


class _Runner:
    """Runs one campaign's step; safe to call from several threads at once."""

    def __init__(
        self,
        *,
        email: EmailProvider | None,
        touchpoint: TouchpointProvider | None,
        journal: _Journal,
    ) -> None:
        self._email = email
        self._touchpoint = touchpoint
        self._journal = journal

    def run_unless_stopped(self, action: Action, stop: threading.Event) -> StepResult:
        if stop.is_set():
            return _skipped(action)
        return self.run(action)

    def run(self, action: Action) -> StepResult:
        """Execute one campaign's action; never raises (a bug fails the step, not the run)."""
        step = _Step(action=action, remote_id=action.remote_id)
        if action.action == ActionKind.BLOCKED:
            return self._result(step, Outcome.BLOCKED, action.message or str(action.reason))
        if action.action == ActionKind.STATE_ONLY:
            return self._state_only(step)
        try:
            if action.kind == MESSAGING_KIND:
                self._messaging(step)
            else:
                self._email_step(step)
        except ExecutedError as exc:  # 32110 / 409 campaign_completed: it started sending
            return self._result(step, Outcome.BLOCKED, _message_of(exc))
        except (CampaignctlError, _StepFailed) as exc:
            return self._result(step, Outcome.FAILED, _message_of(exc))
        except Exception as exc:  # a bug must fail one step, never the run or the state
            return self._result(step, Outcome.FAILED, f"unexpected {type(exc).__name__}: {exc}")
        return self._result(step, Outcome.APPLIED, step.message)

    def _state_only(self, step: _Step) -> StepResult:
        """Change the record only (plan.ActionKind.STATE_ONLY): nothing is sent.

        Against the record as it is now: one that changed since the plan (another step of
        this run cannot touch it, a saved plan is checked for staleness) is left alone.
        """
        action = step.action
        previous = self._journal.previous(action.kind, action.name)
        if previous is None or previous.remote_id != action.remote_id:
            step.remote_id = None
            return self._result(step, Outcome.SKIPPED, "the state no longer has this record")
        if action.reason == Reason.FORGET_DELETED:
            self._journal.forget(action.kind, action.name)
            step.remote_id = None
            message = "forgotten: gone live and from the config"
        else:
            desired = _desired(action)
            lifecycle = desired.get("lifecycle") or {}
            ignored = "touchpoints" in (lifecycle.get("ignore_changes") or ())
            self._journal.record(
                dc_replace(
                    previous,
                    last_applied=record_for_update(desired, previous.last_applied),
                    live_fingerprint=action.live_fingerprint,
                    touchpoint_ids=(
                        touchpoint_ids_after(previous.touchpoint_ids, action.touchpoints, ignored)
                        if action.kind == MESSAGING_KIND
                        else {}
                    ),
                    applied_at=utc_now(),
                )
            )
            message = "record brought up to date with live (which matches the config)"
        step.effects.append("state_only")
        return self._result(step, Outcome.APPLIED, message)

    @staticmethod
    def _result(step: _Step, outcome: Outcome, message: str) -> StepResult:
        action = step.action
        return StepResult(
            kind=action.kind,
            name=action.name,
            action=str(action.action),
            outcome=outcome,
            message=message,
            remote_id=step.remote_id,
            effects=tuple(step.effects),
        )

    # ----------------------------------------------------------------- email

    def _email_provider(self) -> EmailProvider:
        if self._email is None:
            raise _StepFailed("no email provider configured")
        return self._email

    def _email_step(self, step: _Step) -> None:
        action, provider = step.action, self._email_provider()
        kind = action.action
        if kind in (ActionKind.DELETE, ActionKind.REPLACE):
            self._delete_remote(step, provider.delete_campaign)
        if kind in (ActionKind.CREATE, ActionKind.REPLACE):
            desired = _desired(action)
            live = self._create_adopting(
                step,
                create=lambda: provider.create_campaign(desired),
                lookup=lambda: provider.list_campaigns(name=action.name),
            )
            self._record_email(action, live.remote_id, live.status, live.fingerprint)
            step.effects.append("created")
        elif kind == ActionKind.UPDATE:
            remote_id = _remote_id(action)
            fields = update_fields(action)
            provider.update_campaign(remote_id, fields)
            self._record_email(action, remote_id, action.live_status, None)
            step.effects.append("updated")
        elif kind == ActionKind.NO_OP:
            self._record_email(
                action, _remote_id(action), action.live_status, action.live_fingerprint
            )
            step.effects.append("adopted")
            step.message = "recorded in state (adopted by name)"

    def _record_email(
        self, action: Action, remote_id: str, status: Any, fingerprint: str | None
    ) -> None:
        previous = self._journal.previous(action.kind, action.name)
        self._journal.record(
            ManagedRecord(
                kind=action.kind,
                name=action.name,
                remote_id=remote_id,
                last_applied=applied_fields(action, previous),
                live_fingerprint=fingerprint,
                status=status,
                touchpoint_ids={},
            )
        )

    # ----------------------------------------------------------------- shared

    def _delete_remote(self, step: _Step, delete: Callable[[str], Any]) -> None:
        """Delete the campaign (already gone counts as deleted) and forget it in state."""
        action = step.action
        if action.remote_id is not None:
            _delete_ignoring_missing(delete, action.remote_id)
        self._journal.forget(action.kind, action.name)
        step.effects.append("deleted")
        step.remote_id = None

    def _create_adopting(
        self,
        step: _Step,
        *,
        create: Callable[[], LiveCampaign],
        lookup: Callable[[], Sequence[LiveCampaign]],
    ) -> LiveCampaign:
        """Create once; on an unknown outcome adopt what it made, or create once more."""
        action = step.action
        for attempt in (1, 2):
            try:
                live = create()
            except OutcomeUnknown:
                found = self._adoptable(action.kind, action.name, lookup())
                if found is not None:
                    step.message = f"create outcome unknown; adopted {found.remote_id} by name"
                    step.remote_id = found.remote_id
                    return found
                if attempt == 2:
                    raise
                continue
            _check_created(action, live, self._journal.knows_remote_id(action.kind, live.remote_id))
            step.remote_id = live.remote_id
            return live
        raise AssertionError("unreachable")  # pragma: no cover

    def _adoptable(
        self, kind: str, name: str, candidates: Iterable[LiveCampaign]
    ) -> LiveCampaign | None:
        """The one live campaign of exactly this name that the state does not know yet."""
        # The vendor's name filter matches substrings: only an exact match counts.
        matches = [
            c
            for c in candidates
            if c.name == name and not self._journal.knows_remote_id(kind, c.remote_id)
        ]
        if len(matches) > 1:
            ids = ", ".join(c.remote_id for c in matches)
            raise _StepFailed(
                f"create outcome unknown and {len(matches)} live campaigns named {name!r} "
                f"are not in state ({ids}); resolve by hand, then rerun"
            )
        return matches[0] if matches else None

    # ----------------------------------------------------------------- messaging

    def _touchpoint_provider(self) -> TouchpointProvider:
        if self._touchpoint is None:
            raise _StepFailed("no touchpoint provider configured (IMBRACE_API_KEY)")
        return self._touchpoint

    def _messaging(self, step: _Step) -> None:
        action, provider = step.action, self._touchpoint_provider()
        kind = action.action
        if kind in (ActionKind.DELETE, ActionKind.REPLACE):
            if kind == ActionKind.DELETE:
                for tp in action.touchpoints:
                    if tp.action == ActionKind.DELETE and tp.remote_id is not None:
                        _delete_ignoring_missing(provider.delete_touchpoint, tp.remote_id)
            self._delete_remote(step, provider.delete_campaign)
        if kind in (ActionKind.CREATE, ActionKind.REPLACE):
            desired = _desired(action)
            live = self._create_adopting(
                step,
                create=lambda: provider.create_campaign(action.name, desired["channel_type"]),
                lookup=lambda: provider.list_campaigns(name=action.name),
            )
            progress = _TouchpointProgress.for_new(action, live, self._journal)
            progress.save()
            step.effects.append("created")
            self._sync_touchpoints(progress, _creates_for_new(action, live))
        elif kind == ActionKind.UPDATE:
            progress = _TouchpointProgress.for_existing(action, self._journal)
            try:
                self._sync_touchpoints(progress, _touchpoint_ops(action))
            finally:
                if progress.changed:  # counted even when a later call failed
                    step.effects.append("updated")
        elif kind == ActionKind.NO_OP:
            _TouchpointProgress.for_existing(action, self._journal).save()
            step.effects.append("adopted")
            step.message = "recorded in state (adopted by name)"

    def _sync_touchpoints(self, progress: _TouchpointProgress, ops: _TouchpointOps) -> None:
        """Deletes, then updates, then creates in the campaign's order; then validate."""
        provider = self._touchpoint_provider()
        for name, remote_id in ops.deletes:
            _delete_ignoring_missing(provider.delete_touchpoint, remote_id)
            progress.removed(name)
        touched: list[tuple[str, str]] = []
        for name, remote_id, desired in ops.updates:
            provider.update_touchpoint(remote_id, _touchpoint_body(desired, update=True))
            progress.applied(name, remote_id, desired)
            touched.append((name, remote_id))
        for desired in ops.creates:
            created = self._create_touchpoint(progress, desired)
            if created.remote_id in progress.ids.values():
                # Another touchpoint's id: recording it would make two names one object.
                raise _StepFailed(
                    f"the API answered the create of touchpoint {desired['name']!r} with "
                    f"{created.remote_id}, the id of another touchpoint of this campaign; "
                    "nothing recorded"
                )
            progress.applied(desired["name"], created.remote_id, desired, created)
            touched.append((desired["name"], created.remote_id))
        problems = []
        for name, remote_id in touched:
            valid, errors = provider.validate_touchpoint(remote_id)
            if not valid:
                problems.append(f"touchpoint {name!r}: {'; '.join(errors) or 'invalid'}")
        if problems:
            raise _StepFailed("touchpoint validation failed: " + " | ".join(problems))

    def _create_touchpoint(
        self, progress: _TouchpointProgress, desired: Mapping[str, Any]
    ) -> LiveTouchpoint:
        """Create one touchpoint; on an unknown outcome adopt it by name or create once more."""
        provider = self._touchpoint_provider()
        body = {"name": desired["name"], **_touchpoint_body(desired)}
        for attempt in (1, 2):
            try:
                return provider.create_touchpoint(progress.remote_id, body)
            except OutcomeUnknown:
                found = self._find_touchpoint(progress, desired["name"])
                if found is not None:
                    return found
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _find_touchpoint(self, progress: _TouchpointProgress, name: str) -> LiveTouchpoint | None:
        provider = self._touchpoint_provider()
        known = set(progress.ids.values())
        campaign = provider.get_campaign(progress.remote_id)
        return next(
            (tp for tp in campaign.touchpoints if tp.name == name and tp.remote_id not in known),
            None,
        )


def _check_created(action: Action, live: LiveCampaign, known: bool) -> None:
    """Trust a create's answer only when it names what was sent and an id that is new.

    An answer carrying an id the state already holds (another campaign's) or another name
    would record a second name for one live campaign: a later delete would remove the
    wrong one. The provider checks the name too; this is where the state is known.
    """
    if live.name != action.name:
        raise _StepFailed(
            f"the API answered the create of {action.name!r} with a campaign named "
            f"{live.name!r} ({live.remote_id}); nothing recorded"
        )
    if known:
        raise _StepFailed(
            f"the API answered the create of {action.name!r} with {live.remote_id}, the id "
            "of a campaign the state already manages; nothing recorded"
        )


def _delete_ignoring_missing(delete: Callable[[str], Any], remote_id: str) -> None:
    """Delete; an object that is already gone is what a delete wanted."""
    with contextlib.suppress(NotFound):
        delete(remote_id)


def _message_of(exc: BaseException) -> str:
    if isinstance(exc, CampaignctlError):
        return str(exc)
    return str(exc) or type(exc).__name__


def _desired(action: Action) -> dict[str, Any]:
    if action.desired is None:
        raise _StepFailed(f"the plan has no desired state for {action.kind}/{action.name}")
    return dict(action.desired)


def _remote_id(action: Action) -> str:
    if action.remote_id is None:
        raise _StepFailed(f"the plan has no remote id for {action.kind}/{action.name}")
    return action.remote_id


def update_fields(action: Action) -> dict[str, Any]:
    """The body of an email update: each changed top-level field's desired value (None = clear).

    A field that the YAML no longer has is sent as its empty value; the provider maps None to
    the API's "clear" form (the API's PUT keeps keys that a body leaves out).
    """
    desired = _desired(action)
    return {name: desired.get(name) for name in action.fields_to_send()}


def _touchpoint_body(desired: Mapping[str, Any], *, update: bool = False) -> dict[str, Any]:
    """What a touchpoint create/update sends besides the name: its type and message.

    An update without a message sends the empty one: PATCH keeps what a body leaves out, and
    a message the last apply set and the YAML dropped is cleared (semantics.md "Managed fields").
    """
    body: dict[str, Any] = {"type": desired.get("type")}
    if desired.get("message") is not None:
        body["message"] = desired["message"]
    elif update:
        body["message"] = ""
    return body


# --------------------------------------------------------------------------- touchpoints


@dataclass
class _TouchpointOps:
    deletes: list[tuple[str, str]] = field(default_factory=list)
    updates: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    creates: list[dict[str, Any]] = field(default_factory=list)


def _desired_touchpoints(action: Action) -> list[dict[str, Any]]:
    return [dict(tp) for tp in _desired(action).get("touchpoints") or ()]


def _creates_for_new(action: Action, live: LiveCampaign) -> _TouchpointOps:
    """A new campaign gets every desired touchpoint (an adopted one: those it lacks)."""
    have = {tp.name for tp in live.touchpoints}
    return _TouchpointOps(
        creates=[tp for tp in _desired_touchpoints(action) if tp["name"] not in have]
    )


def _touchpoint_ops(action: Action) -> _TouchpointOps:
    """Split a messaging update's touchpoint lines into deletes, updates and creates.

    A move is a delete and a create: the API's order is creation order, so recreating from
    the first differing position (as the planner chose) puts each in place. Creates follow
    the desired order.
    """
    ops = _TouchpointOps()
    by_name: dict[str, TouchpointAction] = {tp.name: tp for tp in action.touchpoints}
    to_create: set[str] = set()
    for tp in action.touchpoints:
        if tp.action in (ActionKind.DELETE, ActionKind.MOVE) and tp.remote_id is not None:
            ops.deletes.append((tp.name, tp.remote_id))
        if tp.action in (ActionKind.CREATE, ActionKind.MOVE):
            to_create.add(tp.name)
    for desired in _desired_touchpoints(action):
        line = by_name.get(desired["name"])
        if line is None:
            continue
        if desired["name"] in to_create:
            ops.creates.append(desired)
        elif line.action == ActionKind.UPDATE and line.remote_id is not None:
            ops.updates.append((line.name, line.remote_id, desired))
    return ops


class _TouchpointProgress:
    """What a messaging campaign has remotely right now, and its state record.

    Recorded after every touchpoint call, so the state says exactly which touchpoints exist
    (names, ids, hashed messages) even when the step stops half way.
    """

    def __init__(
        self,
        action: Action,
        journal: _Journal,
        *,
        remote_id: str,
        status: Any,
        live: LiveCampaign | None,
        ids: dict[str, str],
        entries: dict[str, dict[str, Any]],
    ) -> None:
        self.action = action
        self.name = action.name
        self.remote_id = remote_id
        self.status = status
        self.live = live
        self.ids = ids
        self.entries = entries
        self._journal = journal
        self._live_tps: dict[str, LiveTouchpoint] = {}
        #: True once a touchpoint call of this run changed something remotely.
        self.changed = False

    @classmethod
    def for_new(cls, action: Action, live: LiveCampaign, journal: _Journal) -> _TouchpointProgress:
        ids = {tp.name: tp.remote_id for tp in live.touchpoints}
        progress = cls(
            action,
            journal,
            remote_id=live.remote_id,
            status=live.status,
            live=live,
            ids=ids,
            entries={name: {"name": name} for name in ids},
        )
        progress._live_tps = {tp.name: tp for tp in live.touchpoints}
        return progress

    @classmethod
    def for_existing(cls, action: Action, journal: _Journal) -> _TouchpointProgress:
        previous = journal.previous(action.kind, action.name)
        if previous is not None and previous.remote_id != action.remote_id:
            previous = None  # adopted by name: the record describes a campaign that is gone
        ids = dict(previous.touchpoint_ids) if previous is not None else {}
        old_entries = {
            tp["name"]: dict(tp)
            for tp in ((previous.last_applied.get("touchpoints") or ()) if previous else ())
            if isinstance(tp, Mapping) and "name" in tp
        }
        desired = {tp["name"]: tp for tp in _desired_touchpoints(action)}
        entries: dict[str, dict[str, Any]] = {}
        for line in action.touchpoints:
            if line.action == ActionKind.CREATE or line.remote_id is None:
                continue
            ids[line.name] = line.remote_id
            if line.name in old_entries:
                entries[line.name] = old_entries[line.name]
            elif line.action == ActionKind.NO_OP and line.name in desired:
                entries[line.name] = _hashed_touchpoint(desired[line.name])
            else:
                entries[line.name] = {"name": line.name}
        for name in ids:
            entries.setdefault(name, old_entries.get(name) or {"name": name})
        return cls(
            action,
            journal,
            remote_id=_remote_id(action),
            status=action.live_status,
            live=None,
            ids=ids,
            entries=entries,
        )

    def removed(self, name: str) -> None:
        self.changed = True
        self.ids.pop(name, None)
        self.entries.pop(name, None)
        self._live_tps.pop(name, None)
        self.save()

    def applied(
        self,
        name: str,
        remote_id: str,
        desired: Mapping[str, Any],
        live: LiveTouchpoint | None = None,
    ) -> None:
        self.changed = True
        self.ids[name] = remote_id
        self.entries[name] = _hashed_touchpoint(desired)
        if live is not None:
            self._live_tps[name] = live
        self.save()

    def _ordered_names(self) -> list[str]:
        """Desired order first (the remote order once the step is done), then leftovers."""
        desired = [tp["name"] for tp in _desired_touchpoints(self.action)]
        names = [n for n in desired if n in self.ids]
        return names + [n for n in self.ids if n not in names]

    def save(self) -> None:
        desired = _desired(self.action)
        names = self._ordered_names()
        last_applied = hash_write_only({**desired, "touchpoints": []})
        last_applied["touchpoints"] = [self.entries[n] for n in names]
        self._journal.record(
            ManagedRecord(
                kind=self.action.kind,
                name=self.action.name,
                remote_id=self.remote_id,
                last_applied=last_applied,
                live_fingerprint=self._fingerprint(names),
                status=self.status,
                touchpoint_ids={n: self.ids[n] for n in names},
            )
        )

    def _fingerprint(self, names: Sequence[str]) -> str | None:
        """The fingerprint a list would give now, when every touchpoint was seen this run."""
        if self.live is None or any(n not in self._live_tps for n in names):
            return None
        touchpoints = tuple(self._live_tps[n] for n in names)
        return dc_replace(self.live, touchpoints=touchpoints).fingerprint


def _hashed_touchpoint(desired: Mapping[str, Any]) -> dict[str, Any]:
    """A touchpoint as last_applied records it (message hashed), via hash_write_only."""
    hashed = hash_write_only({"touchpoints": [dict(desired)]})
    return dict(hashed["touchpoints"][0])
