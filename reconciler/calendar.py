"""reconciler.calendar: every scheduled send of a plan, its effect, and where sends clash.

Pure: built from what `plan` already computed (the Plan, the loaded config, the live
campaigns), so the calendar shows exactly what apply would do to each send. One `Send` per
send time (an A/B test of send times has one per variant); a campaign with no send time
(every MessagingCampaign) is one send "on activation", with no time.

Effects: `new` (created), `moved` (send time changes: old and new time), `cancelled` (the
campaign is deleted), `unchanged`, and `locked` (the campaign is sending or sent: the vendor
refuses any change, so what is shown is what happens).

Clashes: two sends of different campaigns within `window` of each other whose audiences may
overlap (the same `to` type sharing a value, or either sending to `list: all`), and sends at
night in their own time zone (`QuietHours`). Cancelled sends never clash: they do not go out.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from reconciler.canonical import DEFAULT_TIME_ZONE, SEND_TIME_FORMAT
from reconciler.live import EMAIL_KIND, LiveCampaign
from reconciler.loader import LoadedCampaign
from reconciler.plan import Action, ActionKind, Plan, PlanWarning

__all__ = [
    "Audience",
    "Calendar",
    "Clash",
    "Effect",
    "QuietHours",
    "Send",
    "build_calendar",
    "config_calendar",
    "find_clashes",
    "nearest_overlaps",
    "parse_duration",
    "parse_quiet_hours",
    "schedule_warnings",
]

#: Default clash window and quiet hours (docs/reference/commands.md "calendar").
DEFAULT_CLASH_WINDOW = timedelta(hours=24)
DEFAULT_QUIET_HOURS = "21-08"


class Effect(StrEnum):
    """What the plan does to one send."""

    NEW = "new"
    MOVED = "moved"
    CANCELLED = "cancelled"
    UNCHANGED = "unchanged"
    LOCKED = "locked"


@dataclass(frozen=True, order=True)
class Audience:
    """A campaign's `to`: one type and its values (`list: all` reaches everyone)."""

    type: str
    values: tuple[str, ...]

    @property
    def is_everyone(self) -> bool:
        return self.type == "list" and "all" in self.values

    @property
    def label(self) -> str:
        return f"{self.type}: {', '.join(self.values)}"

    def overlaps(self, other: Audience) -> bool:
        """True when the two may reach one person: `list: all`, or a shared value of a type."""
        if self.is_everyone or other.is_everyone:
            return True
        return self.type == other.type and not set(self.values).isdisjoint(other.values)

    @classmethod
    def from_to(cls, to: Any) -> Audience | None:
        if isinstance(to, list):  # a list of one `to` entry (live or YAML forms)
            to = to[0] if to else None
        if not isinstance(to, Mapping) or not to.get("type"):
            return None
        values = to.get("value") or ()
        if isinstance(values, str):
            values = (values,)
        return cls(str(to["type"]), tuple(sorted(str(v) for v in values)))


@dataclass(frozen=True)
class Send:
    """One send of one campaign: when (UTC; None = on activation) and what the plan does.

    `previous` is the old time of a moved send. `variant` is the A/B send-time index (None
    for a single send). `file`/`line` locate the campaign's YAML (None when live only).
    """

    kind: str
    name: str
    effect: Effect
    at: datetime | None
    time_zone: int
    audience: Audience | None
    action: str
    previous: datetime | None = None
    variant: int | None = None
    file: str | None = None
    line: int | None = None
    remote_id: str | None = None
    unmanaged: bool = False

    @property
    def label(self) -> str:
        return self.name if self.variant is None else f"{self.name} (send time {self.variant + 1})"

    @property
    def uid(self) -> str:
        """Stable across runs and moves: a calendar app updates the event, never duplicates."""
        variant = "" if self.variant is None else f"/{self.variant}"
        return f"{self.kind}/{self.name}{variant}"

    @property
    def goes_out(self) -> bool:
        return self.effect != Effect.CANCELLED

    def local(self, moment: datetime | None = None) -> datetime | None:
        """`moment` (default: `at`) in the send's own time zone."""
        moment = self.at if moment is None else moment
        if moment is None:
            return None
        return moment + timedelta(hours=self.time_zone)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.file else f"{self.kind} {self.name} (live)"


@dataclass(frozen=True)
class Clash:
    """Two sends within the window whose audiences may overlap."""

    first: Send
    second: Send
    gap: timedelta

    @property
    def message(self) -> str:
        hours = self.gap.total_seconds() / 3600
        return (
            f"{self.first.kind} {self.first.label!r} ({_utc(self.first.at)}, "
            f"{_aud(self.first)}) and {self.second.kind} {self.second.label!r} "
            f"({_utc(self.second.at)}, {_aud(self.second)}) may reach the same people "
            f"{hours:g} h apart"
        )


@dataclass(frozen=True)
class QuietHours:
    """Local hours when nothing should go out: `start`-`end`, wrapping midnight (21-08)."""

    start: int
    end: int

    def contains(self, hour: int) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= hour < self.end
        return hour >= self.start or hour < self.end

    def __str__(self) -> str:
        return f"{self.start:02d}-{self.end:02d}"


@dataclass(frozen=True)
class Calendar:
    """The sends in a window (timed ones by time, then those on activation), and findings."""

    sends: tuple[Send, ...]
    clashes: tuple[Clash, ...] = ()
    quiet: tuple[Send, ...] = ()
    window: timedelta = DEFAULT_CLASH_WINDOW
    quiet_hours: QuietHours = field(default_factory=lambda: parse_quiet_hours(DEFAULT_QUIET_HOURS))
    start: date | None = None
    end: date | None = None

    def counts(self) -> dict[str, int]:
        out = {str(effect): 0 for effect in Effect}
        for send in self.sends:
            out[str(send.effect)] += 1
        return out

    def clashing(self) -> set[str]:
        """UIDs of sends in at least one clash."""
        return {s.uid for c in self.clashes for s in (c.first, c.second)}


# --------------------------------------------------------------------------- options


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "": 3600}


def parse_duration(text: str) -> timedelta:
    """`24h`, `90m`, `2d`, `1w` (a bare number is hours); ValueError otherwise."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration such as 24h, 90m or 2d")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def parse_quiet_hours(text: str) -> QuietHours:
    """`21-08`: local hours from 21:00 to 08:00; ValueError otherwise."""
    match = re.fullmatch(r"\s*(\d{1,2})\s*-\s*(\d{1,2})\s*", text)
    if not match or not all(0 <= int(g) <= 24 for g in match.groups()):
        raise ValueError(f"{text!r} is not a range of hours such as 21-08")
    return QuietHours(int(match.group(1)) % 24, int(match.group(2)) % 24)


# --------------------------------------------------------------------------- building


def build_calendar(
    plan: Plan,
    campaigns: Sequence[LoadedCampaign],
    live: Sequence[LiveCampaign],
    *,
    start: date | None = None,
    end: date | None = None,
    window: timedelta = DEFAULT_CLASH_WINDOW,
    quiet_hours: QuietHours | None = None,
) -> Calendar:
    """The calendar of `plan`: each action's sends with their effect, then the findings.

    `start`/`end` (UTC days, both included) keep only the sends in that range (a moved send
    is kept when either its old or its new time is in it); sends on activation are always
    kept. Clashes and quiet hours are computed over the kept sends.
    """
    quiet_hours = quiet_hours or parse_quiet_hours(DEFAULT_QUIET_HOURS)
    sources = {c.key: c.source for c in campaigns}
    live_by_id = {(c.kind, c.remote_id): c for c in live}
    sends: list[Send] = []
    for action in plan.actions:
        live_campaign = live_by_id.get((action.kind, action.remote_id or ""))
        source = sources.get((action.kind, action.name))
        for send in _sends_of(action, live_campaign):
            if source is not None:
                send = _with_source(send, source.file, source.line)
            if _in_range(send, start, end):
                sends.append(send)
    sends.sort(key=_send_order)
    clashes = find_clashes(sends, window)
    quiet = tuple(s for s in sends if _is_quiet(s, quiet_hours))
    return Calendar(tuple(sends), clashes, quiet, window, quiet_hours, start, end)


def _with_source(send: Send, file: str, line: int) -> Send:
    return replace(send, file=file, line=line)


def _send_order(send: Send) -> tuple[int, datetime, str, str, int]:
    far = datetime.max.replace(tzinfo=UTC)
    return (send.at is None, send.at or far, send.kind, send.name, send.variant or 0)


def _in_range(send: Send, start: date | None, end: date | None) -> bool:
    if send.at is None:
        return True
    moments = [m for m in (send.at, send.previous) if m is not None]
    return any(
        (start is None or m.date() >= start) and (end is None or m.date() <= end) for m in moments
    )


_Time = tuple[int | None, datetime | None, int, Audience | None]


def _sends_of(action: Action, live: LiveCampaign | None) -> list[Send]:
    """The sends of one planned campaign, each with the plan's effect on it."""
    desired = action.desired
    live_fields = dict(live.fields) if live is not None else None
    locked = (live is not None and not live.is_pristine) or action.action == ActionKind.BLOCKED

    def send(effect: Effect, time: _Time, previous: datetime | None = None) -> Send:
        variant, at, time_zone, audience = time
        return Send(
            kind=action.kind,
            name=action.name,
            effect=effect,
            at=at,
            time_zone=time_zone,
            audience=audience,
            action=str(action.action),
            previous=previous,
            variant=variant,
            remote_id=action.remote_id,
            unmanaged=action.is_unmanaged,
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
        old_times = _times(action.kind, live_fields)
    out: list[Send] = []
    for index in range(max(len(new_times), len(old_times))):
        new = new_times[index] if index < len(new_times) else None
        old = old_times[index] if index < len(old_times) else None
        if new is None:
            assert old is not None
            out.append(send(Effect.CANCELLED, old))
        elif old is None:
            out.append(send(Effect.NEW, new))
        elif old[1] != new[1]:
            out.append(send(Effect.MOVED, new, previous=old[1]))
        else:
            out.append(send(Effect.UNCHANGED, new))
    return out


def _times(kind: str, fields: Mapping[str, Any] | None) -> list[_Time]:
    """(variant, UTC time or None, time zone, audience) for each send of a canonical form."""
    fields = fields or {}
    tz = fields.get("time_zone")
    time_zone = int(tz) if isinstance(tz, int) else DEFAULT_TIME_ZONE
    audience = Audience.from_to(fields.get("to"))
    if kind != EMAIL_KIND:
        return [(None, None, time_zone, audience)]
    ab = fields.get("ab_test")
    texts: list[Any] = []
    if isinstance(ab, Mapping) and ab.get("send_times"):
        texts = list(ab["send_times"])
        return [(i, _to_utc(text, time_zone), time_zone, audience) for i, text in enumerate(texts)]
    return [(None, _to_utc(fields.get("send_time"), time_zone), time_zone, audience)]


def _to_utc(text: Any, time_zone: int) -> datetime | None:
    """A canonical local send_time (`YYYY-MM-DD HH:MM:SS`) as an aware UTC datetime."""
    if not isinstance(text, str) or not text:
        return None
    try:
        local = datetime.strptime(text, SEND_TIME_FORMAT)
    except ValueError:
        return None
    return (local - timedelta(hours=time_zone)).replace(tzinfo=UTC)


# --------------------------------------------------------------------------- findings


def _is_quiet(send: Send, hours: QuietHours) -> bool:
    local = send.local()
    return send.goes_out and local is not None and hours.contains(local.hour)


def find_clashes(sends: Iterable[Send], window: timedelta) -> tuple[Clash, ...]:
    """Every pair of timed sends of different campaigns, less than `window` apart, whose
    audiences may overlap; each pair once, earlier send first, in time order.

    Sends are bucketed by audience value, and `list: all` sends are checked against every
    send; each check looks only at the sends inside the window (bisect on sorted times), so
    10,000 sends spread over months cost milliseconds, not 50 million comparisons.
    """
    timed = sorted(
        (s for s in sends if s.at is not None and s.goes_out and s.audience is not None),
        key=_send_order,
    )
    buckets: dict[tuple[str, str], list[Send]] = {}
    everyone: list[Send] = []
    for send in timed:
        assert send.audience is not None
        if send.audience.is_everyone:
            everyone.append(send)
        for value in send.audience.values:
            buckets.setdefault((send.audience.type, value), []).append(send)
    pairs: dict[tuple[int, int], Clash] = {}
    index = {id(s): i for i, s in enumerate(timed)}

    def check(group: list[Send], against: list[Send]) -> None:
        times = [s.at for s in against if s.at is not None]
        for send in group:
            assert send.at is not None
            low = bisect.bisect_right(times, send.at - window)
            high = bisect.bisect_left(times, send.at + window)
            for other in against[low:high]:
                if (other.kind, other.name) == (send.kind, send.name):
                    continue
                a, b = sorted((index[id(send)], index[id(other)]))
                if (a, b) not in pairs:
                    first, second = timed[a], timed[b]
                    assert first.at is not None and second.at is not None
                    pairs[(a, b)] = Clash(first, second, abs(second.at - first.at))

    for group in buckets.values():
        check(group, group)
    if everyone:
        check(everyone, timed)
    return tuple(pairs[key] for key in sorted(pairs))


def _utc(moment: datetime | None) -> str:
    return "on activation" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def _aud(send: Send) -> str:
    return send.audience.label if send.audience else "no audience"


def format_local(send: Send, moment: datetime | None = None) -> str:
    """`2027-04-01 09:30 (+8)`: a time in the send's own zone."""
    local = send.local(moment)
    if local is None:
        return "on activation"
    return f"{local:%Y-%m-%d %H:%M} ({send.time_zone:+d})"


def format_utc(moment: datetime | None) -> str:
    return _utc(moment)


#: Plan warnings about the schedule stop here; the calendar lists every one.
MAX_SCHEDULE_WARNINGS = 50


def schedule_warnings(calendar: Calendar) -> tuple[PlanWarning, ...]:
    """Clashes and night sends as plan warnings (`send_clash`, `quiet_hours`).

    Only what the plan can still change: a clash of two locked sends, or a locked send at
    night, is history, not a warning. At most MAX_SCHEDULE_WARNINGS of each code, then one
    warning with the count of the rest.
    """
    out: list[PlanWarning] = []
    clashes = [
        c for c in calendar.clashes if Effect.LOCKED not in (c.first.effect, c.second.effect)
    ]
    for clash in clashes[:MAX_SCHEDULE_WARNINGS]:
        out.append(
            PlanWarning(
                "send_clash",
                f"send clash: {clash.message} (within {_window_text(calendar.window)})",
                (_ref(clash.first), _ref(clash.second)),
            )
        )
    out += _more("send_clash", len(clashes), "clashes")
    quiet = [s for s in calendar.quiet if s.effect != Effect.LOCKED]
    for send in quiet[:MAX_SCHEDULE_WARNINGS]:
        out.append(
            PlanWarning(
                "quiet_hours",
                f"quiet hours: {send.kind} {send.label!r} sends at {format_local(send)}, "
                f"inside quiet hours {calendar.quiet_hours} of its time zone",
                (_ref(send),),
            )
        )
    out += _more("quiet_hours", len(quiet), "sends in quiet hours")
    return tuple(out)


def _more(code: str, total: int, what: str) -> list[PlanWarning]:
    if total <= MAX_SCHEDULE_WARNINGS:
        return []
    rest = total - MAX_SCHEDULE_WARNINGS
    return [PlanWarning(code, f"... and {rest} more {what}: campaignctl calendar lists them all")]


def _ref(send: Send) -> dict[str, Any]:
    return {"kind": send.kind, "name": send.name, "file": send.file, "line": send.line}


def _window_text(window: timedelta) -> str:
    return f"{window.total_seconds() / 3600:g} h"


def config_calendar(campaigns: Sequence[LoadedCampaign]) -> Calendar:
    """The sends of the YAML alone, each `new` (offline: `validate --policy` has no live)."""
    sends: list[Send] = []
    for campaign in campaigns:
        for variant, at, time_zone, audience in _times(campaign.kind, campaign.canonical()):
            sends.append(
                Send(
                    kind=campaign.kind,
                    name=campaign.name,
                    effect=Effect.NEW,
                    at=at,
                    time_zone=time_zone,
                    audience=audience,
                    action=str(ActionKind.CREATE),
                    variant=variant,
                    file=campaign.source.file,
                    line=campaign.source.line,
                )
            )
    sends.sort(key=_send_order)
    return Calendar(tuple(sends))


def nearest_overlaps(sends: Sequence[Send]) -> dict[int, tuple[Send, timedelta]]:
    """For each timed send (by `id`), the closest send of another campaign whose audience
    may overlap, and how far apart they are. O(n log n): each send looks only at its
    neighbours in time in each of its audience buckets (and the `list: all` sends)."""
    timed = sorted(
        (s for s in sends if s.at is not None and s.goes_out and s.audience), key=_send_order
    )
    buckets: dict[tuple[str, str], list[Send]] = {}
    everyone: list[Send] = []
    for send in timed:
        assert send.audience is not None
        if send.audience.is_everyone:
            everyone.append(send)
        for value in send.audience.values:
            buckets.setdefault((send.audience.type, value), []).append(send)
    times: dict[int, list[datetime]] = {}

    def times_of(group: list[Send]) -> list[datetime]:
        if id(group) not in times:
            times[id(group)] = [s.at for s in group if s.at is not None]
        return times[id(group)]

    out: dict[int, tuple[Send, timedelta]] = {}
    for send in timed:
        assert send.audience is not None
        groups = [buckets[(send.audience.type, v)] for v in send.audience.values]
        groups.append(timed if send.audience.is_everyone else everyone)
        for group in groups:
            found = _nearest_in(group, times_of(group), send)
            if found is not None and (id(send) not in out or found[1] < out[id(send)][1]):
                out[id(send)] = found
    return out


def _nearest_in(
    group: Sequence[Send], times: Sequence[datetime], send: Send
) -> tuple[Send, timedelta] | None:
    """The send of `group` closest in time to `send` that belongs to another campaign."""
    assert send.at is not None
    position = bisect.bisect_left(times, send.at)
    best: tuple[Send, timedelta] | None = None
    for step in (-1, 1):
        index = position if step == 1 else position - 1
        while 0 <= index < len(group):
            other = group[index]
            if (other.kind, other.name) != (send.kind, send.name):
                assert other.at is not None
                gap = abs(other.at - send.at)
                if best is None or gap < best[1]:
                    best = (other, gap)
                break
            index += step
    return best
