"""reconciler.calendar.model: a send, its effect and audience, a clash, quiet hours, a Calendar.

Plain values and their wording (docs/reference/commands.md "calendar"): what the builder
(calendar.build) makes and the findings (calendar.findings) and renderers read.

Effects: `new` (created), `moved` (send time changes: old and new time), `cancelled` (the
campaign is deleted), `unchanged`, and `locked` (the campaign is sending or sent: the vendor
refuses any change, so what is shown is what happens).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

__all__ = [
    "DEFAULT_CLASH_WINDOW",
    "DEFAULT_QUIET_HOURS",
    "Audience",
    "Calendar",
    "Clash",
    "Effect",
    "QuietHours",
    "Send",
    "format_local",
    "format_utc",
    "parse_duration",
    "parse_quiet_hours",
    "send_order",
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
        if not (type(to) is dict or isinstance(to, Mapping)) or not to.get("type"):
            return None
        values = to.get("value") or ()
        if isinstance(values, str):
            values = (values,)
        return cls(str(to["type"]), tuple(sorted(map(str, values))))


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
    #: Clashes beyond the listed ones (calendar.findings.MAX_LISTED_CLASHES): counted only.
    unlisted_clashes: int = 0

    @property
    def clash_count(self) -> int:
        """Every clash, listed or not."""
        return len(self.clashes) + self.unlisted_clashes

    def counts(self) -> dict[str, int]:
        out = {str(effect): 0 for effect in Effect}
        for send in self.sends:
            out[str(send.effect)] += 1
        return out

    def clashing(self) -> set[str]:
        """UIDs of sends in at least one clash (listed or not)."""
        listed = {s.uid for c in self.clashes for s in (c.first, c.second)}
        if not self.unlisted_clashes:
            return listed
        # Not every clash is listed: a send clashes when its nearest overlapping send is
        # inside the window. Imported here: findings builds on this module.
        from reconciler.calendar.findings import clashing_sends

        return listed | clashing_sends(self.sends, self.window)


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


# --------------------------------------------------------------------------- wording


#: Where sends on activation sort (after every timed one).
_FAR = datetime.max.replace(tzinfo=UTC)


def send_order(send: Send) -> tuple[int, datetime, str, str, int]:
    """Timed sends by time, then those on activation; ties by campaign and variant."""
    return (send.at is None, send.at or _FAR, send.kind, send.name, send.variant or 0)


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
