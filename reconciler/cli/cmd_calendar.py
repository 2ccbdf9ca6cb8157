"""reconciler.cli.cmd_calendar: `calendar`, every scheduled send with the plan's effect on it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from reconciler.cli import EXIT_OK, AppContext, Targeting, pass_app, target_options

if TYPE_CHECKING:
    from reconciler.calendar import Calendar, QuietHours
    from reconciler.workflow import PlanContext

__all__ = ["calendar_of"]

FORMATS = ("html", "markdown", "ics", "json")
F = TypeVar("F", bound=Callable[..., Any])


def _date(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date such as 2027-04-01") from None


def _duration(text: str) -> timedelta:
    from reconciler.calendar import parse_duration

    window = parse_duration(text)
    if window <= timedelta(0):
        raise ValueError("the clash window must be longer than 0")
    return window


def _quiet(text: str) -> QuietHours:
    from reconciler.calendar import parse_quiet_hours

    return parse_quiet_hours(text)


def _parsed_option(
    flag: str, default: str, parse: Callable[[str], Any], metavar: str, help: str
) -> Callable[[F], F]:
    """An option whose text `parse` turns into a value; its ValueError is a usage error."""

    def callback(ctx: click.Context, param: click.Parameter, value: str) -> Any:
        try:
            return parse(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None

    return click.option(
        flag, default=default, show_default=True, callback=callback, metavar=metavar, help=help
    )


#: The schedule options `plan` shares (its clash and quiet-hour warnings).
clash_window_option = _parsed_option(
    "--clash-window",
    "24h",
    _duration,
    "DURATION",
    "Two sends to audiences that may overlap closer than this clash (24h, 90m, 2d).",
)
quiet_hours_option = _parsed_option(
    "--quiet-hours",
    "21-08",
    _quiet,
    "H-H",
    "Local hours (in each campaign's time zone) when a send is a warning.",
)


def calendar_of(
    context: PlanContext,
    *,
    start: date | None = None,
    end: date | None = None,
    window: timedelta | None = None,
    quiet_hours: QuietHours | None = None,
    timed_only: bool = False,
) -> Calendar:
    """The calendar of a computed plan (what `plan` warns about and `calendar` shows)."""
    from reconciler.calendar import DEFAULT_CLASH_WINDOW, build_calendar

    return build_calendar(
        context.plan,
        context.loaded.campaigns,
        context.live,
        start=start,
        end=end,
        window=window or DEFAULT_CLASH_WINDOW,
        quiet_hours=quiet_hours,
        timed_only=timed_only,
    )


@click.command("calendar")
@click.argument("directory", required=False, type=click.Path(path_type=Path))
@click.option("--from", "start", callback=_date, metavar="DATE", help="First UTC day shown.")
@click.option("--to", "end", callback=_date, metavar="DATE", help="Last UTC day shown.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="html", show_default=True)
@click.option("--out", "out", type=click.Path(path_type=Path), help="Write to FILE, not stdout.")
@clash_window_option
@quiet_hours_option
@click.option(
    "--prune", is_flag=True, help="Show unmanaged campaigns as cancelled (as plan --prune)."
)
@target_options
@click.option("--sandbox", is_flag=True, help="Against an embedded, empty sandbox (no account).")
@pass_app
def calendar_command(
    app: AppContext,
    directory: Path | None,
    start: date | None,
    end: date | None,
    fmt: str,
    out: Path | None,
    clash_window: timedelta,
    quiet_hours: QuietHours,
    prune: bool,
    targeting: Targeting,
    sandbox: bool,
) -> int:
    """Every scheduled send (YAML and live) with what the plan does to it, and clashes.

    Each send is shown in UTC and in its campaign's time zone, as new, moved, cancelled,
    unchanged or locked (already sending or sent). Two sends whose audiences may overlap
    within --clash-window, and sends inside --quiet-hours, are flagged.
    """
    from reconciler.calendar_render import render_calendar
    from reconciler.cli.cmd_plan import settings_for
    from reconciler.render import text_safe
    from reconciler.workflow import build_plan

    if start is not None and end is not None and end < start:
        raise click.BadParameter("--to is before --from", param_hint="--to")
    with (
        settings_for(app, sandbox=sandbox) as settings,
        build_plan(settings, config_dir=directory, prune=prune, **targeting.kwargs()) as context,
    ):
        calendar = calendar_of(
            context, start=start, end=end, window=clash_window, quiet_hours=quiet_hours
        )
    text = render_calendar(calendar, fmt)
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
    n_clash = calendar.clash_count
    click.echo(
        f"{len(calendar.sends)} sends, {n_clash} clash{'es' if n_clash != 1 else ''}, "
        f"{len(calendar.quiet)} in quiet hours"
        + (f"; wrote {text_safe(str(out))}" if out is not None else ""),
        err=True,
    )
    return EXIT_OK
