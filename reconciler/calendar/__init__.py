"""reconciler.calendar: every scheduled send of a plan, its effect, and where sends clash.

Pure: built from what `plan` already computed (the Plan, the loaded config, the live
campaigns), so the calendar shows exactly what apply would do to each send
(docs/reference/commands.md "calendar"). Three modules, every name importable from here:

- model: Send, its Effect and Audience, Clash, QuietHours, Calendar, option parsing, wording;
- build: build_calendar (a plan's sends) and config_calendar (the YAML's alone);
- findings: clashes, quiet hours, nearest overlaps and the plan's schedule warnings.
"""

from __future__ import annotations

from reconciler.calendar.build import build_calendar, config_calendar
from reconciler.calendar.findings import (
    MAX_SCHEDULE_WARNINGS,
    find_clashes,
    nearest_overlaps,
    schedule_warnings,
)
from reconciler.calendar.model import (
    DEFAULT_CLASH_WINDOW,
    DEFAULT_QUIET_HOURS,
    Audience,
    Calendar,
    Clash,
    Effect,
    QuietHours,
    Send,
    format_local,
    format_utc,
    parse_duration,
    parse_quiet_hours,
)

__all__ = [
    "DEFAULT_CLASH_WINDOW",
    "DEFAULT_QUIET_HOURS",
    "MAX_SCHEDULE_WARNINGS",
    "Audience",
    "Calendar",
    "Clash",
    "Effect",
    "QuietHours",
    "Send",
    "build_calendar",
    "config_calendar",
    "find_clashes",
    "format_local",
    "format_utc",
    "nearest_overlaps",
    "parse_duration",
    "parse_quiet_hours",
    "schedule_warnings",
]
