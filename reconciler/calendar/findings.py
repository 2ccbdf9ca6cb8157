"""reconciler.calendar.findings: where sends clash or go out at night, and the plan's warnings.

Clashes: two sends of different campaigns within a window whose audiences may overlap;
quiet hours: sends at night in their own time zone (docs/reference/commands.md "calendar").
Cancelled sends never clash: they do not go out.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from reconciler.calendar.model import (
    Calendar,
    Clash,
    Effect,
    QuietHours,
    Send,
    format_local,
    send_order,
)
from reconciler.plan import PlanWarning

__all__ = [
    "MAX_SCHEDULE_WARNINGS",
    "find_clashes",
    "is_quiet",
    "nearest_overlaps",
    "schedule_warnings",
]


def is_quiet(send: Send, hours: QuietHours) -> bool:
    """True when send goes out inside the quiet hours of its own time zone."""
    local = send.local()
    return send.goes_out and local is not None and hours.contains(local.hour)


_Buckets = dict[tuple[str, str], list[Send]]


def _by_audience(sends: Iterable[Send]) -> tuple[list[Send], _Buckets, list[Send]]:
    """The timed sends that go out to an audience, in time order; the same sends bucketed by
    (audience type, value), each bucket in time order; and those sent to `list: all`."""
    timed = sorted(
        (s for s in sends if s.at is not None and s.goes_out and s.audience is not None),
        key=send_order,
    )
    buckets: _Buckets = {}
    everyone: list[Send] = []
    for send in timed:
        assert send.audience is not None
        if send.audience.is_everyone:
            everyone.append(send)
        for value in send.audience.values:
            buckets.setdefault((send.audience.type, value), []).append(send)
    return timed, buckets, everyone


def find_clashes(sends: Iterable[Send], window: timedelta) -> tuple[Clash, ...]:
    """Every pair of timed sends of different campaigns, less than `window` apart, whose
    audiences may overlap; each pair once, earlier send first, in time order.

    Sends are bucketed by audience value, and `list: all` sends are checked against every
    send; each check looks only at the sends inside the window (bisect on sorted times), so
    10,000 sends spread over months cost milliseconds, not 50 million comparisons.
    """
    timed, buckets, everyone = _by_audience(sends)
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


def nearest_overlaps(sends: Sequence[Send]) -> dict[int, tuple[Send, timedelta]]:
    """For each timed send (by `id`), the closest send of another campaign whose audience
    may overlap, and how far apart they are. O(n log n): each send looks only at its
    neighbours in time in each of its audience buckets (and the `list: all` sends)."""
    timed, buckets, everyone = _by_audience(sends)
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
