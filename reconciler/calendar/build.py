"""reconciler.calendar.build: a Plan's sends, each with the plan's effect on it, as a Calendar.

Built from what `plan` already computed (the Plan, the loaded config, the live campaigns),
so the calendar shows exactly what apply would do to each send. One `Send` per send time
(an A/B test of send times has one per variant); a campaign with no send time (every
MessagingCampaign) is one send "on activation", with no time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from reconciler.calendar.findings import find_clashes, is_quiet
from reconciler.calendar.model import (
    DEFAULT_CLASH_WINDOW,
    DEFAULT_QUIET_HOURS,
    Audience,
    Calendar,
    Effect,
    QuietHours,
    Send,
    parse_quiet_hours,
    send_order,
)
from reconciler.canonical import DEFAULT_TIME_ZONE, SEND_TIME_FORMAT
from reconciler.live import EMAIL_KIND, LiveCampaign
from reconciler.loader import LoadedCampaign
from reconciler.plan import Action, ActionKind, Plan

if TYPE_CHECKING:
    from reconciler.modelbase import Source

__all__ = ["build_calendar", "config_calendar"]


def build_calendar(
    plan: Plan,
    campaigns: Sequence[LoadedCampaign],
    live: Sequence[LiveCampaign],
    *,
    start: date | None = None,
    end: date | None = None,
    window: timedelta = DEFAULT_CLASH_WINDOW,
    quiet_hours: QuietHours | None = None,
    timed_only: bool = False,
) -> Calendar:
    """The calendar of `plan`: each action's sends with their effect, then the findings.

    `start`/`end` (UTC days, both included) keep only the sends in that range (a moved send
    is kept when either its old or its new time is in it); sends on activation are always
    kept. Clashes and quiet hours are computed over the kept sends. `timed_only` leaves
    out the campaigns none of whose sends has a time, neither in the plan nor live (what
    `plan` warns about, clashes and night sends, needs a time; a 10,000-campaign plan
    without send times spent a tenth of a second building their sends).
    """
    quiet_hours = quiet_hours or parse_quiet_hours(DEFAULT_QUIET_HOURS)
    sources = {c.key: c.source for c in campaigns}
    live_by_id = {(c.kind, c.remote_id): c for c in live}
    sends: list[Send] = []
    for action in plan.actions:
        live_campaign = live_by_id.get((action.kind, action.remote_id or ""))
        if timed_only and not _may_have_a_time(action, live_campaign):
            continue
        source = sources.get((action.kind, action.name))
        for send in _sends_of(action, live_campaign, source):
            if _in_range(send, start, end):
                sends.append(send)
    sends.sort(key=send_order)
    clashes = find_clashes(sends, window)
    quiet = tuple(s for s in sends if is_quiet(s, quiet_hours))
    return Calendar(
        tuple(sends), clashes.listed, quiet, window, quiet_hours, start, end, clashes.unlisted
    )


def _may_have_a_time(action: Action, live: LiveCampaign | None) -> bool:
    """False when neither the planned nor the live fields hold a send time: every send of
    the campaign is then on activation (no time), whatever the plan does to it."""
    if action.kind != EMAIL_KIND:
        return False
    for fields in (action.desired, live.fields if live is not None else None):
        if fields and (fields.get("send_time") or fields.get("ab_test")):
            return True
    return False


def _in_range(send: Send, start: date | None, end: date | None) -> bool:
    if send.at is None or (start is None and end is None):
        return True
    moments = [m for m in (send.at, send.previous) if m is not None]
    return any(
        (start is None or m.date() >= start) and (end is None or m.date() <= end) for m in moments
    )


def config_calendar(campaigns: Sequence[LoadedCampaign]) -> Calendar:
    """The sends of the YAML alone, each `new` (offline: `validate --policy` has no live)."""
    sends: list[Send] = []
    for campaign in campaigns:
        source, create = campaign.source, str(ActionKind.CREATE)
        for time in _times(campaign.kind, campaign.canonical()):
            sends.append(_send(campaign.kind, campaign.name, Effect.NEW, time, create, source))
    sends.sort(key=send_order)
    return Calendar(tuple(sends))


_Time = tuple[int | None, datetime | None, int, Audience | None]


def _sends_of(action: Action, live: LiveCampaign | None, source: Source | None) -> list[Send]:
    """The sends of one planned campaign, each with the plan's effect on it, placed at its
    YAML's `source` (None: live only)."""
    desired = action.desired
    live_fields = live.fields if live is not None else None
    locked = (live is not None and not live.is_pristine) or action.action == ActionKind.BLOCKED
    action_text, unmanaged = str(action.action), action.is_unmanaged

    def send(effect: Effect, time: _Time, previous: datetime | None = None) -> Send:
        return _send(
            action.kind,
            action.name,
            effect,
            time,
            action_text,
            source,
            previous=previous,
            remote_id=action.remote_id,
            unmanaged=unmanaged,
        )

    if locked or desired is None or action.action == ActionKind.DELETE:
        # What runs is what is live: locked sends as they are, deleted ones cancelled, and
        # unmanaged ones (nothing in the plan touches them) unchanged.
        fields = live_fields if live_fields is not None else (desired or {})
        if locked:
            effect = Effect.LOCKED
        elif action.action == ActionKind.NO_OP:
            effect = Effect.UNCHANGED
        else:
            effect = Effect.CANCELLED
        return [send(effect, time) for time in _times(action.kind, fields)]
    new_times = _times(action.kind, desired)
    # A replace deletes the old campaign and creates a new one: its sends are all new.
    old_times: list[_Time] = []
    if action.action != ActionKind.REPLACE and live_fields is not None:
        # Only the times are compared; an old audience is shown only for a cancelled send.
        old_times = _times(action.kind, live_fields, audience=False)
    out: list[Send] = []
    for index in range(max(len(new_times), len(old_times))):
        new = new_times[index] if index < len(new_times) else None
        old = old_times[index] if index < len(old_times) else None
        if new is None:
            assert live_fields is not None
            out.append(send(Effect.CANCELLED, _times(action.kind, live_fields)[index]))
        elif old is None:
            out.append(send(Effect.NEW, new))
        elif old[1] != new[1]:
            out.append(send(Effect.MOVED, new, previous=old[1]))
        else:
            out.append(send(Effect.UNCHANGED, new))
    return out


def _send(
    kind: str,
    name: str,
    effect: Effect,
    time: _Time,
    action: str,
    source: Source | None,
    *,
    previous: datetime | None = None,
    remote_id: str | None = None,
    unmanaged: bool = False,
) -> Send:
    """One send of a campaign at one of its `_times`, placed at `source` when it has one.

    Built once, with its place (a `replace` per send afterwards was a third of a 10,000
    plan's calendar)."""
    variant, at, time_zone, audience = time
    file, line = (source.file, source.line) if source is not None else (None, None)
    return Send(
        kind, name, effect, at, time_zone, audience, action, previous, variant, file, line,
        remote_id, unmanaged,
    )  # fmt: skip


def _times(kind: str, fields: Mapping[str, Any] | None, *, audience: bool = True) -> list[_Time]:
    """(variant, UTC time or None, time zone, audience) for each send of a canonical form
    (the audience None without `audience`)."""
    fields = fields or {}
    tz = fields.get("time_zone")
    time_zone = int(tz) if isinstance(tz, int) else DEFAULT_TIME_ZONE
    to = Audience.from_to(fields.get("to")) if audience else None
    if kind != EMAIL_KIND:
        return [(None, None, time_zone, to)]
    ab = fields.get("ab_test")
    texts: list[Any] = []
    if isinstance(ab, Mapping) and ab.get("send_times"):
        texts = list(ab["send_times"])
        return [(i, _to_utc(text, time_zone), time_zone, to) for i, text in enumerate(texts)]
    return [(None, _to_utc(fields.get("send_time"), time_zone), time_zone, to)]


def _to_utc(text: Any, time_zone: int) -> datetime | None:
    """A canonical local send_time (`YYYY-MM-DD HH:MM:SS`) as an aware UTC datetime."""
    if not isinstance(text, str) or not text:
        return None
    try:
        local = datetime.strptime(text, SEND_TIME_FORMAT)
    except ValueError:
        return None
    return (local - timedelta(hours=time_zone)).replace(tzinfo=UTC)
