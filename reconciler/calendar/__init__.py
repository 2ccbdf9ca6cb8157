"""reconciler.calendar: every scheduled send of a plan, its effect, and where sends clash.

Pure: built from what `plan` already computed (the Plan, the loaded config, the live
campaigns), so the calendar shows exactly what apply would do to each send
(docs/reference/commands.md "calendar"). Three modules, every name importable from here:

- model: Send, its Effect and Audience, Clash, QuietHours, Calendar, option parsing, wording;
- build: build_calendar (a plan's sends) and config_calendar (the YAML's alone);
- findings: clashes, quiet hours, nearest overlaps and the plan's schedule warnings.
"""

from __future__ import annotations

from reconciler.calendar import build, findings, model
from reconciler.calendar.build import *  # noqa: F403 (each module's __all__, re-exported)
from reconciler.calendar.findings import *  # noqa: F403
from reconciler.calendar.model import *  # noqa: F403

__all__ = [*model.__all__, *build.__all__, *findings.__all__]
