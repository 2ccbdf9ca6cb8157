"""reconciler.applier.steps: one campaign's step: the provider calls, in order, and records."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace as dc_replace
from typing import TYPE_CHECKING, Any, cast

from reconciler.errors import (
    CampaignctlError,
    ExecutedError,
    OutcomeUnknown,
)
from reconciler.live import MESSAGING_KIND, LiveCampaign, LiveTouchpoint
from reconciler.plan import ActionKind, Reason
from reconciler.planner import record_for_update, touchpoint_ids_after
from reconciler.state import ManagedRecord, utc_now

if TYPE_CHECKING:
    from reconciler.plan import Action
    from reconciler.providers import EmailProvider, TouchpointProvider
from reconciler.applier.common import (
    _check_created,
    _configured,
    _delete_ignoring_missing,
    _desired,
    _message_of,
    _remote_id,
    _Step,
    _StepFailed,
    _touchpoint_body,
    update_fields,
)
from reconciler.applier.journal import (
    _Journal,
    _Ordered,
    applied_fields,
)
from reconciler.applier.results import (
    Outcome,
    StepResult,
    _skipped,
)
from reconciler.applier.touchpoints import (
    _creates_for_new,
    _touchpoint_ops,
    _TouchpointOps,
    _TouchpointProgress,
)


class _Runner:
    """Runs one campaign's step; safe to call from several threads at once."""

    def __init__(
        self,
        *,
        email: EmailProvider | None,
        touchpoint: TouchpointProvider | None,
        journal: _Journal,
    ) -> None:
        # Every provider call waits for the campaign's last step to be stored first.
        self._email = cast("EmailProvider | None", email and _Ordered(email, journal))
        self._touchpoint = cast(
            "TouchpointProvider | None", touchpoint and _Ordered(touchpoint, journal)
        )
        self._journal = journal

    def run_unless_stopped(self, action: Action, stop: threading.Event) -> StepResult:
        if stop.is_set():
            return _skipped(action)
        return self.run(action)

    def run(self, action: Action) -> StepResult:
        """Execute one campaign's action; never raises (a bug fails the step, not the run)."""
        step = _Step(action=action, remote_id=action.remote_id)
        self._journal.begin(action.kind, action.name)
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

    def _email_step(self, step: _Step) -> None:
        action, provider = step.action, _configured(self._email, "no email provider configured")
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
        return _configured(self._touchpoint, "no touchpoint provider configured (IMBRACE_API_KEY)")

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
