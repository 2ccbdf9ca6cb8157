"""reconciler.calendar.findings: where sends clash or go out at night, and the plan's warnings.

Clashes: two sends of different campaigns within a window whose audiences may overlap;
quiet hours: sends at night in their own time zone (docs/reference/commands.md "calendar").
Cancelled sends never clash: they do not go out.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from reconciler.calendar.model import (
    Audience,
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
    "MAX_LISTED_CLASHES",
    "MAX_SCHEDULE_WARNINGS",
    "ClashFindings",
    "clashing_sends",
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
        for value in sorted(set(send.audience.values)):  # a YAML list may repeat one
            buckets.setdefault((send.audience.type, value), []).append(send)
    return timed, buckets, everyone


#: At most this many clash pairs are listed (calendar, plan); the rest are only counted.
#: N sends to one audience at one time are N(N-1)/2 clashes: 10,000 of them would be 50
#: million Clash objects (14 GB, minutes). 50,000 keeps every ordinary calendar whole (the
#: 10,000-campaign bench spread over a year has 36,736) and bounds memory and output (the
#: HTML's clash list stays a few MB); the earliest pairs in time order are the ones listed.
MAX_LISTED_CLASHES = 50_000


@dataclass(frozen=True)
class ClashFindings:
    """The first clashes in time order (at most the limit) and how many more there are."""

    listed: tuple[Clash, ...]
    unlisted: int = 0

    @property
    def total(self) -> int:
        return len(self.listed) + self.unlisted


def find_clashes(
    sends: Iterable[Send], window: timedelta, *, limit: int = MAX_LISTED_CLASHES
) -> ClashFindings:
    """The pairs of timed sends of different campaigns, less than `window` apart, whose
    audiences may overlap: each pair once, earlier send first, in time order; the first
    `limit` of them listed, the rest counted without being made.

    Sends are bucketed by audience value, and `list: all` sends are checked against every
    send; each send looks only at the later sends inside the window (bisect on sorted times),
    so 10,000 sends spread over months cost milliseconds, not 50 million comparisons, and
    10,000 sends at one time cost `limit` Clash objects and a count, not 50 million objects.
    """
    if window <= timedelta(0):
        return ClashFindings(())
    index = _Index(sends)
    listed = _first_clashes(index, window, limit)
    if len(listed) < limit:
        return ClashFindings(listed)
    return ClashFindings(listed, _count_clashes(index, window) - len(listed))


class _Index:
    """The timed sends in time order and, per audience bucket and for `list: all`, the
    positions (in that order) and times of their members: what both listing and counting
    bisect on. Linear in the number of sends."""

    def __init__(self, sends: Iterable[Send]) -> None:
        self.timed, buckets, everyone = _by_audience(sends)
        self.times = [_at(s) for s in self.timed]
        self.position = {id(s): i for i, s in enumerate(self.timed)}
        self.buckets = {key: self._positions(group) for key, group in buckets.items()}
        self.everyone = self._positions(everyone)
        # The same buckets without the `list: all` sends, which are counted on their own.
        self.plain = {
            key: self._positions([s for s in group if not _is_everyone(s)])
            for key, group in buckets.items()
        }

    def _positions(self, group: Sequence[Send]) -> tuple[list[int], list[datetime]]:
        return [self.position[id(s)] for s in group], [_at(s) for s in group]


def _later(
    member: tuple[list[int], list[datetime]], position: int, until: datetime
) -> tuple[int, int]:
    """The slice of a bucket's members after `position` (in time order) and before `until`."""
    positions, times = member
    low = bisect.bisect_right(positions, position)
    return low, max(low, bisect.bisect_left(times, until))


def _first_clashes(index: _Index, window: timedelta, limit: int) -> tuple[Clash, ...]:
    """The first `limit` clashes in (earlier send, later send) time order."""
    out: list[Clash] = []
    timed = index.timed
    for position, send in enumerate(timed):
        if len(out) >= limit:
            break
        until = _at(send) + window
        later: set[int] = set()
        if _is_everyone(send):
            later.update(range(position + 1, bisect.bisect_left(index.times, until)))
        else:
            members = [index.buckets[_key(send, v)] for v in _values(send)]
            for member in [index.everyone, *members]:
                low, high = _later(member, position, until)
                later.update(member[0][low:high])
        for other in sorted(later):
            if len(out) >= limit:
                break
            second = timed[other]
            if (second.kind, second.name) != (send.kind, send.name):
                out.append(Clash(send, second, _at(second) - _at(send)))
    return tuple(out)


def _count_clashes(index: _Index, window: timedelta) -> int:
    """How many clashes there are, from window sizes alone (no pair is made).

    Each send counts the later sends in its window: every later send if it goes to
    `list: all`; else the later `list: all` sends plus, per audience value, the later other
    sends with that value. A pair sharing k values is thus counted k times: the surplus
    of pairs sharing two or more values is taken off per pair of audiences
    (_shared_surplus), then the pairs of one campaign's own sends (_own_pairs).
    """
    total = 0
    for position, send in enumerate(index.timed):
        until = _at(send) + window
        if _is_everyone(send):
            total += max(0, bisect.bisect_left(index.times, until) - position - 1)
            continue
        members = [index.plain[_key(send, v)] for v in _values(send)]
        for member in [index.everyone, *members]:
            low, high = _later(member, position, until)
            total += high - low
    return total - _shared_surplus(index.timed, window) - _own_pairs(index.timed, window)


#: Work (signature steps) above which _shared_surplus switches method: each method is
#: exact and linear on some hostile shapes, quadratic or exponential on others.
SURPLUS_BUDGET = 1_000_000

_Groups = list[tuple[str, tuple[str, ...], list[datetime]]]


def _shared_surplus(timed: Sequence[Send], window: timedelta) -> int:
    """Sum over pairs of sends (not to `list: all`) within the window of (shared values - 1)
    where they share two or more: what _count_clashes counted twice or more.

    Grouped by identical audience, so 10,000 sends to the same two tags are one group,
    and values held by the same audiences merged (_collapse).
    Per pair of audiences when few audiences share a value (cheap to tell beforehand);
    else by subsets of values shared by several sends, which is linear when many
    audiences share a common core of a few values (`[news, weekly, user-i]`).
    """
    groups, surplus = _collapse(_multi_value_groups(timed), window)
    having: dict[tuple[str, str], int] = {}
    for kind, values, _ in groups:
        for value in values:
            having[(kind, value)] = having.get((kind, value), 0) + 1
    if sum(n * n for n in having.values()) // 2 <= SURPLUS_BUDGET:
        return surplus + _surplus_by_pairs(groups, window)
    found = _surplus_by_subsets(groups, window, SURPLUS_BUDGET)
    return surplus + (_surplus_by_pairs(groups, window) if found is None else found)


def _collapse(groups: _Groups, window: timedelta) -> tuple[_Groups, int]:
    """The groups with the values held by exactly the same audiences merged into one, and
    the surplus that merging takes away: a pair sharing a merged set of w values shares w
    values but one merged value, so (w - 1) per pair of the holders' sends in the window.

    Sharing one value or more is sharing one merged value or more, so the pairs are the
    same; 10,000 audiences `[t1, ..., t20, user-i]` become `[t1, user-i]`."""
    holders: dict[tuple[str, str], list[int]] = {}
    for number, (kind, values, _) in enumerate(groups):
        for value in values:
            holders.setdefault((kind, value), []).append(number)
    merged: dict[tuple[str, tuple[int, ...]], list[str]] = {}
    for (kind, value), holding in holders.items():
        merged.setdefault((kind, tuple(holding)), []).append(value)
    kept: list[list[str]] = [[] for _ in groups]
    surplus = 0
    for (_, same_holders), same_values in merged.items():
        for number in same_holders:
            kept[number].append(min(same_values))
        if len(same_values) > 1:
            times = sorted(t for n in same_holders for t in groups[n][2])
            surplus += (len(same_values) - 1) * _pairs_within(times, times, window, same=True)
    collapsed = [(g[0], tuple(sorted(v)), g[2]) for g, v in zip(groups, kept, strict=True)]
    return collapsed, surplus


def _multi_value_groups(timed: Sequence[Send]) -> _Groups:
    """(type, distinct values, times in order) per audience of two or more values, but not
    `list: all`: the sends a pair of which may be counted more than once."""
    by_audience: dict[Audience, list[datetime]] = {}
    for send in timed:
        audience = send.audience
        if audience is not None and not audience.is_everyone and len(set(audience.values)) > 1:
            by_audience.setdefault(audience, []).append(_at(send))
    return [(a.type, tuple(sorted(set(a.values))), t) for a, t in by_audience.items()]


def _surplus_by_pairs(groups: _Groups, window: timedelta) -> int:
    """The surplus per pair of audiences sharing two or more values: (shared - 1) times the
    pairs of their sends within the window. Work: pairs of audiences sharing a value."""
    having: dict[tuple[str, str], list[int]] = {}
    for number, (kind, values, _) in enumerate(groups):
        for value in values:
            having.setdefault((kind, value), []).append(number)
    surplus = 0
    for number, (kind, values, times) in enumerate(groups):
        shared: dict[int, int] = {}
        for value in values:
            for other in having[(kind, value)]:
                if other > number:
                    shared[other] = shared.get(other, 0) + 1
        surplus += (len(values) - 1) * _pairs_within(times, times, window, same=True)
        for other, count in shared.items():
            if count > 1:
                surplus += (count - 1) * _pairs_within(times, groups[other][2], window)
    return surplus


def _surplus_by_subsets(groups: _Groups, window: timedelta, budget: int) -> int | None:
    """The surplus by inclusion-exclusion: sum over value sets S of two or more values of
    (-1)^|S| times the pairs within the window of sends whose audience holds all of S
    (a pair sharing s values gets s - 1). Only sets held by two or more sends are grown
    (apriori): None once the work passes `budget` (many values shared by all)."""
    level: dict[tuple[str, tuple[str, ...]], list[int]] = {}
    for number, (kind, values, _) in enumerate(groups):
        for value in values:
            level.setdefault((kind, (value,)), []).append(number)
    surplus, size, work = 0, 1, 0
    while level:
        grown: dict[tuple[str, tuple[str, ...]], list[int]] = {}
        for (kind, subset), members in level.items():
            if sum(len(groups[m][2]) for m in members) < 2:
                continue  # held by one send: no pair, nor in any larger set
            if size > 1:
                times = sorted(t for m in members for t in groups[m][2])
                sign = 1 if size % 2 == 0 else -1
                surplus += sign * _pairs_within(times, times, window, same=True)
            for member in members:
                for value in groups[member][1]:
                    if value > subset[-1]:
                        grown.setdefault((kind, (*subset, value)), []).append(member)
                        work += 1
            if work > budget:
                return None
        level, size = grown, size + 1
    return surplus


def _pairs_within(
    left: Sequence[datetime], right: Sequence[datetime], window: timedelta, *, same: bool = False
) -> int:
    """Pairs (one time of each sorted list) less than `window` apart; with `same`, the
    unordered pairs of two different entries of one list."""
    found = sum(
        bisect.bisect_left(right, t + window) - bisect.bisect_right(right, t - window) for t in left
    )
    return (found - len(left)) // 2 if same else found


def _own_pairs(timed: Sequence[Send], window: timedelta) -> int:
    """Pairs of one campaign's sends (A/B send times) that _count_clashes counted once:
    within the window, audiences overlapping. A campaign has a handful of sends."""
    by_campaign: dict[tuple[str, str], list[Send]] = {}
    for send in timed:
        by_campaign.setdefault((send.kind, send.name), []).append(send)
    count = 0
    for own in by_campaign.values():
        for i, first in enumerate(own):
            for second in own[i + 1 :]:
                near = abs(_at(second) - _at(first)) < window
                if near and _overlap(first, second):
                    count += 1
    return count


def _overlap(first: Send, second: Send) -> bool:
    assert first.audience is not None and second.audience is not None
    return first.audience.overlaps(second.audience)


def _at(send: Send) -> datetime:
    assert send.at is not None
    return send.at


def _is_everyone(send: Send) -> bool:
    return send.audience is not None and send.audience.is_everyone


def _values(send: Send) -> list[str]:
    """The distinct values of a send's audience (a YAML list may repeat one)."""
    return sorted(set(send.audience.values)) if send.audience is not None else []


def _key(send: Send, value: str) -> tuple[str, str]:
    assert send.audience is not None
    return (send.audience.type, value)


def clashing_sends(sends: Sequence[Send], window: timedelta) -> set[str]:
    """UIDs of the sends in at least one clash, listed or not: those whose nearest
    overlapping send of another campaign is less than `window` away. O(n log n)."""
    nearest = nearest_overlaps(sends)
    return {s.uid for s in sends if id(s) in nearest and nearest[id(s)][1] < window}


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


#: Plan warnings about the schedule stop here; the calendar lists up to MAX_LISTED_CLASHES.
MAX_SCHEDULE_WARNINGS = 50


def schedule_warnings(calendar: Calendar) -> tuple[PlanWarning, ...]:
    """Clashes and night sends as plan warnings (`send_clash`, `quiet_hours`).

    Only what the plan can still change: a clash of two locked sends, or a locked send at
    night, is history, not a warning. At most MAX_SCHEDULE_WARNINGS of each code, then one
    warning with the count of the rest.
    """
    out: list[PlanWarning] = []
    # The clashes of the sends the plan can change, found afresh (the first few listed, the
    # rest counted): the calendar lists only the first MAX_LISTED_CLASHES of all its clashes.
    open_sends = [s for s in calendar.sends if s.effect != Effect.LOCKED]
    clashes = find_clashes(open_sends, calendar.window, limit=MAX_SCHEDULE_WARNINGS)
    for clash in clashes.listed:
        out.append(
            PlanWarning(
                "send_clash",
                f"send clash: {clash.message} (within {_window_text(calendar.window)})",
                (_ref(clash.first), _ref(clash.second)),
            )
        )
    where = "campaignctl calendar lists them all"
    if calendar.unlisted_clashes:
        where = f"campaignctl calendar lists the first {len(calendar.clashes)}"
    out += _more("send_clash", clashes.total, "clashes", where)
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


def _more(
    code: str, total: int, what: str, where: str = "campaignctl calendar lists them all"
) -> list[PlanWarning]:
    if total <= MAX_SCHEDULE_WARNINGS:
        return []
    rest = total - MAX_SCHEDULE_WARNINGS
    return [PlanWarning(code, f"... and {rest} more {what}: {where}")]


def _ref(send: Send) -> dict[str, Any]:
    return {"kind": send.kind, "name": send.name, "file": send.file, "line": send.line}


def _window_text(window: timedelta) -> str:
    return f"{window.total_seconds() / 3600:g} h"
