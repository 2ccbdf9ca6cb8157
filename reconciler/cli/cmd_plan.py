"""reconciler.cli.cmd_plan: the `plan` command (and `--sandbox`, the quick start)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.cli import EXIT_CHANGES, EXIT_OK, AppContext, Targeting, pass_app, target_options
from reconciler.cli.cmd_calendar import clash_window_option, quiet_hours_option
from reconciler.cli.policy_options import check_policy, policy_options, raise_if_blocking

if TYPE_CHECKING:
    from reconciler.calendar import QuietHours
    from reconciler.plan import Plan
    from reconciler.settings import Settings
    from reconciler.workflow import PlanContext

# The plan pipeline is imported inside the commands: `--help` and `validate` stay light.

__all__ = [
    "check_plan_out",
    "echo_plan",
    "render_plan",
    "settings_for",
    "use_color",
    "write_plan_file",
]

FORMATS = ("text", "json", "markdown")


def use_color() -> bool:
    """Colour only on a terminal, and never with --no-color or NO_COLOR set."""
    ctx = click.get_current_context(silent=True)
    app = ctx.find_object(AppContext) if ctx is not None else None
    if app is not None and app.no_color:
        return False
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def render_plan(plan: Plan, fmt: str) -> str:
    """Return the plan in one of FORMATS."""
    from reconciler.render import github_run_url, render_json, render_markdown, render_text

    if fmt == "json":
        return render_json(plan)
    if fmt == "markdown":
        return render_markdown(plan, run_url=github_run_url(os.environ))
    return render_text(plan, color=use_color())


def echo_plan(plan: Plan, fmt: str) -> None:
    """Print the plan in one of FORMATS, as click.echo(render_plan(plan, fmt)) would.

    JSON is written a batch of actions at a time (render.iter_json): a large plan's text is
    never held whole, so printing it costs no more memory than a batch.
    """
    if fmt != "json":
        click.echo(render_plan(plan, fmt).rstrip("\n"))
        return
    from reconciler.render import iter_json

    for chunk in iter_json(plan):  # the JSON never ends with a newline: nothing to strip
        click.echo(chunk, nl=False)
    click.echo("")


def check_plan_out(path: Path) -> None:
    """PlanError unless `path` can be a plan file: its directory exists (none is created, as
    with Terraform: a mistyped directory is an error, not a new tree), and it is not itself
    a directory. Checked before planning, so a bad --out costs no API call."""
    from reconciler.errors import PlanError
    from reconciler.state import real_path

    try:
        target = real_path(path)
    except NotADirectoryError:
        target = Path(os.path.realpath(path))  # a parent is a file: named just below
    except OSError as exc:
        raise PlanError(f"cannot write the plan file: {exc.strerror}", where=str(path)) from None
    parent = target.parent
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise PlanError(
            f"cannot write the plan file: directory {parent} {what}",
            where=str(path),
            hint="create the directory first, or give --out a path in an existing one",
        )
    if target.is_dir():
        raise PlanError("cannot write the plan file: it is a directory", where=str(path))


def write_plan_file(plan: Plan, path: Path) -> None:
    """Write a saved plan atomically (temp file, fsync, rename), as the state is written."""
    from reconciler.errors import PlanError
    from reconciler.render import iter_saved_json
    from reconciler.state import write_atomic

    check_plan_out(path)
    try:  # written a batch of actions at a time: a large plan is never held whole
        write_atomic(path, iter_saved_json(plan), create_parents=False)
    except OSError as exc:
        raise PlanError(
            f"cannot write the plan file: {exc.strerror or exc}", where=str(path)
        ) from None


@contextlib.contextmanager
def settings_for(app: AppContext, *, sandbox: bool) -> Iterator[Settings]:
    """Yield the run's settings; with `sandbox`, pointed at an embedded emulator."""
    from reconciler.workflow import sandbox_settings

    settings = app.settings()
    if sandbox:
        with sandbox_settings(settings) as sandboxed:
            yield sandboxed
    else:
        yield settings


def with_schedule_warnings(
    context: PlanContext, window: timedelta, quiet_hours: QuietHours
) -> Plan:
    """The plan with its send clashes and night sends as coded warnings (see calendar)."""
    from reconciler.calendar import schedule_warnings
    from reconciler.cli.cmd_calendar import calendar_of

    # Clashes and night sends need a time: sends on activation are not built.
    calendar = calendar_of(context, window=window, quiet_hours=quiet_hours, timed_only=True)
    found = schedule_warnings(calendar)
    if not found:
        return context.plan
    return replace(context.plan, coded_warnings=(*context.plan.coded_warnings, *found))


def with_policy(
    context: PlanContext,
    policy_file: Path | None,
    overrides: tuple[str, ...],
    reasons: tuple[str, ...],
    directory: Path | None,
) -> Plan:
    """The plan with its policy violations (none without a policy file)."""
    from reconciler.cli.cmd_calendar import calendar_of
    from reconciler.policy import default_policy_path

    config_dir = directory or context.settings.config_dir
    has_policy = policy_file is not None or overrides
    if not has_policy and default_policy_path(config_dir) is None:
        return context.plan
    violations = check_policy(
        policy_file,
        config_dir,
        context.loaded.campaigns,
        overrides,
        reasons,
        calendar=calendar_of(context),
        plan=context.plan,
    )
    return replace(context.plan, policy=tuple(violations))


@click.command("plan")
@click.argument("directory", required=False, type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(path_type=Path), help="Save the plan as JSON.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes, 0 when none."
)
@click.option("--prune", is_flag=True, help="Also delete live campaigns that were never managed.")
@target_options
@click.option("--force", is_flag=True, help="Allow a plan past the safety threshold.")
@click.option(
    "--allow-delete-executed", is_flag=True, help="Allow deleting campaigns that already ran."
)
@click.option(
    "--sandbox", is_flag=True, help="Plan against an embedded, empty sandbox (no account)."
)
@clash_window_option
@quiet_hours_option
@policy_options
@pass_app
def plan_command(
    app: AppContext,
    directory: Path | None,
    out: Path | None,
    fmt: str,
    detailed_exitcode: bool,
    prune: bool,
    targeting: Targeting,
    force: bool,
    allow_delete_executed: bool,
    sandbox: bool,
    clash_window: timedelta,
    quiet_hours: QuietHours,
    policy_file: Path | None,
    overrides: tuple[str, ...],
    reasons: tuple[str, ...],
) -> int:
    """Show what apply would change: desired YAML vs state file vs live API."""
    from reconciler.planner import check_safety
    from reconciler.workflow import build_plan

    if sandbox and out is not None:
        # A plan against the emulator must never be applied to a real account.
        raise click.UsageError("--out cannot be used with --sandbox")
    if out is not None:
        check_plan_out(out)

    with (
        settings_for(app, sandbox=sandbox) as settings,
        build_plan(
            settings,
            config_dir=directory,
            prune=prune,
            allow_delete_executed=allow_delete_executed,
            **targeting.kwargs(),
        ) as context,
    ):
        context.plan = with_schedule_warnings(context, clash_window, quiet_hours)
        context.plan = with_policy(context, policy_file, overrides, reasons, directory)
        echo_plan(context.plan, fmt)
        # Shown first, refused after: a plan past the safety threshold, or one that
        # breaks a policy rule at error level, is never saved.
        check_safety(context.plan, context.state, force=force)
        raise_if_blocking(context.plan.policy)
        if out is not None:
            write_plan_file(context.plan, out)
            click.echo(f"Saved the plan to {out}; apply it with: campaignctl apply {out}", err=True)
    if detailed_exitcode and context.plan.has_changes:
        return EXIT_CHANGES
    return EXIT_OK
