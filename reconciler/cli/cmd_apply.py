"""reconciler.cli.cmd_apply: the `apply` command: plan (or a saved plan), confirm, execute.

The state lock is held from reading the state to the final commit, so the plan that is shown
is the plan that runs. A saved plan is checked whole before anything is sent: one stale
object, or a moved state serial, and nothing is applied.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler.cli import (
    EXIT_BLOCKED,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    AppContext,
    Targeting,
    lock_timeout_option,
    pass_app,
    target_options,
)
from reconciler.cli.progress import Progress, retries_shown
from reconciler.errors import CampaignctlError, PlanError, StalePlan
from reconciler.jsoncodec import loads
from reconciler.plan import ActionKind
from reconciler.render import Remedy, remedies_for, text_remedies, text_safe

if TYPE_CHECKING:
    from reconciler.applier import ApplyResult, StepResult
    from reconciler.plan import Plan
    from reconciler.providers import Providers
    from reconciler.settings import Settings
    from reconciler.state import State, StateStore

__all__ = ["CONFIRM_PROMPT", "exit_code_for", "is_saved_plan"]

CONFIRM_PROMPT = "Do you want to apply these changes? Only 'yes' will be accepted:"

FORMATS = ("text", "json")


def exit_code_for(result: ApplyResult) -> int:
    """130 interrupted, 1 any failure, 3 nothing failed but something blocked, else 0."""
    if result.interrupted:
        return EXIT_INTERRUPTED
    if result.failed:
        return EXIT_ERROR
    if result.blocked:
        return EXIT_BLOCKED
    return EXIT_OK


def is_saved_plan(path: Path | None) -> bool:
    """True for a file ending .json, or any file whose JSON carries `format_version`."""
    if path is None or not path.is_file():
        return False
    if path.suffix == ".json":
        return True
    try:
        with path.open("rb") as fh:  # the head only: the file may be huge
            head = fh.read(4096).decode("utf-8", errors="replace")
    except OSError:
        return False
    return head.lstrip().startswith("{") and '"format_version"' in head


def stdin_is_tty() -> bool:
    return sys.stdin.isatty()


def stderr_is_tty() -> bool:
    return sys.stderr.isatty()


@click.command("apply")
@click.argument("source", required=False, type=click.Path(path_type=Path), metavar="[DIR|PLANFILE]")
@click.option(
    "--auto-approve",
    is_flag=True,
    help="Apply without asking for confirmation (a saved PLANFILE never asks).",
)
@click.option("--prune", is_flag=True, help="Also delete live campaigns that were never managed.")
@click.option(
    "--parallelism",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Campaigns applied at the same time.",
)
@target_options
@click.option("--force", is_flag=True, help="Allow a plan past the safety threshold.")
@click.option(
    "--allow-delete-executed", is_flag=True, help="Allow deleting campaigns that already ran."
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--sandbox", is_flag=True, help="Apply to an embedded, empty sandbox (a demo).")
@lock_timeout_option
@pass_app
def apply_command(
    app: AppContext,
    source: Path | None,
    auto_approve: bool,
    prune: bool,
    parallelism: int,
    targeting: Targeting,
    force: bool,
    allow_delete_executed: bool,
    fmt: str,
    sandbox: bool,
) -> int:
    """Apply the changes a plan shows: YAML (DIR) or a saved plan (PLANFILE)."""
    from reconciler.cli.cmd_plan import settings_for

    saved = is_saved_plan(source)
    if saved and (prune or targeting or allow_delete_executed):
        raise click.UsageError(
            "--prune, --target, --exclude and --allow-delete-executed shape a plan; "
            "a saved plan already has them"
        )
    with settings_for(app, sandbox=sandbox) as settings, retries_shown(not stderr_is_tty()):
        options = _RunOptions(auto_approve, parallelism, force, fmt)
        if saved:
            assert source is not None
            # A saved plan is the approval (as Terraform's `apply tfplan`): it was reviewed
            # when it was made, and apply refuses it whole if anything moved since.
            return _apply_saved(settings, source, dataclasses.replace(options, auto_approve=True))
        return _apply_fresh(
            settings,
            source,
            options,
            prune=prune,
            targeting=targeting,
            allow_delete_executed=allow_delete_executed,
        )


@dataclasses.dataclass(frozen=True)
class _RunOptions:
    """The options that matter once the plan is known."""

    auto_approve: bool
    parallelism: int
    force: bool
    fmt: str


def _apply_fresh(
    settings: Settings,
    directory: Path | None,
    options: _RunOptions,
    *,
    prune: bool,
    targeting: Targeting,
    allow_delete_executed: bool,
) -> int:
    from reconciler.state import StateStore
    from reconciler.workflow import build_plan

    store = StateStore(settings.state_path)
    with (
        store.lock("apply", timeout=settings.lock_timeout),
        build_plan(
            settings,
            config_dir=directory,
            store=store,  # read under the lock this command holds
            prune=prune,
            allow_delete_executed=allow_delete_executed,
            **targeting.kwargs(),
        ) as context,
    ):
        return _confirm_and_run(context.plan, context.state, context.providers, store, options)


def load_saved_plan(path: Path) -> Plan:
    """Read a saved plan file; PlanError naming the file when it is not one.

    Capped as the state is (size before reading, nesting depth after): a plan file is
    input like any other.
    """
    from reconciler.plan import Plan
    from reconciler.state import MAX_JSON_DEPTH, json_too_deep, read_capped

    raw = read_capped(path, what="saved plan", error=PlanError)
    if raw is None:
        raise PlanError("cannot read the saved plan: No such file or directory", where=str(path))
    too_deep = PlanError(f"the saved plan nests more than {MAX_JSON_DEPTH} levels", where=str(path))
    try:
        data = loads(raw.decode("utf-8"))
    except RecursionError:
        raise too_deep from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PlanError(f"saved plan is not valid JSON: {exc}", where=str(path)) from None
    if json_too_deep(data):
        raise too_deep
    try:
        return Plan.from_json(data)
    except PlanError as exc:
        raise PlanError(exc.message, where=str(path), hint=exc.hint) from None


def _apply_saved(settings: Settings, path: Path, options: _RunOptions) -> int:
    from reconciler.live import EMAIL_KIND, MESSAGING_KIND
    from reconciler.planner import already_applied, find_stale
    from reconciler.providers import open_providers
    from reconciler.state import StateStore
    from reconciler.workflow import needs_email, needs_touchpoint, read_live

    plan = load_saved_plan(path)
    store = StateStore(settings.state_path)
    with store.lock("apply", timeout=settings.lock_timeout):
        state = store.read()
        need_tp = needs_touchpoint(None, state) or any(
            a.kind == MESSAGING_KIND for a in plan.actions
        )
        need_email = needs_email(settings, None, state) or any(
            a.kind == EMAIL_KIND for a in plan.actions
        )
        providers = open_providers(settings, need_email=need_email, need_touchpoint=need_tp)
        try:
            live = read_live(providers)
            with_state = settings.state_path is not None
            planned = _as_planned(plan, state) if with_state else None
            stale = find_stale(plan, planned, live)
            applied = already_applied(plan, planned, live) if stale else None
            if applied:
                raise StalePlan(
                    f"{applied}; nothing was applied again",
                    where=str(path),
                    hint="make a new plan (campaignctl plan --out FILE) to see what is left",
                    stale=[applied],
                )
            if stale:
                for line in stale:
                    click.echo(f"stale: {text_safe(line)}", err=True)
                raise StalePlan(
                    f"the saved plan is stale ({len(stale)} change"
                    f"{'s' if len(stale) != 1 else ''} since it was made); nothing was applied",
                    where=str(path),
                    hint="make a new plan (campaignctl plan --out FILE) and review it",
                    stale=stale,
                )
            return _confirm_and_run(plan, state, providers, store, options)
        finally:
            providers.close()


def _as_planned(plan: Plan, state: State) -> State:
    """The state to check a saved plan against.

    Before the first apply there is no state file, and each read makes a fresh State with a
    new lineage; a plan made then is still current if the state is still empty at serial 0.
    """
    fresh = state.serial == 0 and not state.campaigns
    if fresh and plan.state_serial == 0 and plan.state_lineage is not None:
        return dataclasses.replace(state, lineage=plan.state_lineage)
    return state


def _confirm_and_run(
    plan: Plan,
    state: State,
    providers: Providers,
    store: StateStore,
    options: _RunOptions,
) -> int:
    from reconciler.applier import record_lifecycle_changes, steps_of
    from reconciler.planner import check_safety
    from reconciler.render import render_text

    show = render_text(plan, color=_use_color())
    # With --format json stdout carries only the result; the plan goes to stderr.
    click.echo(show.rstrip("\n"), err=options.fmt == "json")
    check_safety(plan, state, force=options.force)
    if not steps_of(plan):
        record_lifecycle_changes(plan, store)  # state-only: nothing is sent for it
        store.commit()
        return _report_nothing(options.fmt)
    if not options.auto_approve and not _confirmed():
        click.echo("Apply cancelled.", err=True)
        return EXIT_ERROR
    result = _execute(plan, providers, store, options)
    _report(result, options.fmt, plan)
    return exit_code_for(result)


def _use_color() -> bool:
    from reconciler.cli.cmd_plan import use_color

    return use_color()


def _confirmed() -> bool:
    if not stdin_is_tty():
        raise CampaignctlError(
            "refusing to apply without confirmation: stdin is not a terminal",
            where="apply",
            hint="review the plan, then rerun with --auto-approve (as CI jobs do)",
        )
    answer = click.prompt(
        CONFIRM_PROMPT, default="", show_default=False, prompt_suffix=" ", err=True
    )
    return str(answer).strip() == "yes"


def _report_nothing(fmt: str) -> int:
    from reconciler.applier import ApplyResult

    result = ApplyResult()
    if fmt == "json":
        click.echo(json.dumps(result.to_json(), indent=2, sort_keys=True))
    else:
        click.echo(result.summary_line())
    return EXIT_OK


#: SIGTERM (a CI job cancelled, `kill`, a container stopped) is an interrupt like Ctrl-C:
#: the steps in flight finish, the state is committed, the lock released, exit 130.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def _sigint_sets(stop: threading.Event) -> Iterator[None]:
    """While applying, Ctrl-C or SIGTERM sets `stop` (a second one interrupts for real)."""
    from reconciler.state import Terminated

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt if signum == signal.SIGINT else Terminated
        stop.set()
        what = "Interrupt" if signum == signal.SIGINT else "Terminate signal"
        click.echo(
            f"\n{what} received: finishing the steps in flight, then saving state "
            "(Ctrl-C again to stop at once).",
            err=True,
        )

    previous = {signum: signal.signal(signum, handler) for signum in _STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _execute(plan: Plan, providers: Providers, store: StateStore, options: _RunOptions) -> Any:
    from reconciler.applier import apply_plan, steps_of

    progress = Progress(len(steps_of(plan)), tty=stderr_is_tty())
    stop = threading.Event()
    try:
        with _sigint_sets(stop):
            return apply_plan(
                plan,
                email=providers.email,
                touchpoint=providers.touchpoint,
                store=store,
                parallelism=options.parallelism,
                on_progress=progress,
                stop=stop,
                on_start=progress.on_start,
                on_wait=progress.on_wait,
            )
    finally:
        progress.finish()


def _remedies(plan: Plan, step: StepResult) -> list[Remedy]:
    """A blocked step's way forward, from its planned action (apply may find a campaign
    blocked that the plan was updating: it started sending in between)."""
    action = plan.get(step.kind, step.name)
    if action is None:
        return []
    return remedies_for(action, stateful=plan.state_lineage is not None)


def _report(result: ApplyResult, fmt: str, plan: Plan) -> None:
    if fmt == "json":
        data = result.to_json()
        for step, out in zip(result.steps, data["steps"], strict=True):
            if step.outcome == "blocked":
                out["remedies"] = [r.to_json() for r in _remedies(plan, step)]
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    for step in result.steps:
        if step.outcome in ("failed", "blocked"):
            line = f"{step.outcome}: {step.kind}/{step.name}: {step.message}"
            click.echo(text_safe(line), err=True)
        planned = plan.get(step.kind, step.name)
        if step.outcome == "blocked" and planned and planned.action != ActionKind.BLOCKED:
            # Blocked at apply time only (it started sending after the plan): the plan
            # shown above did not say how to go on.
            for line in text_remedies(_remedies(plan, step), indent="    "):
                click.echo(line, err=True)
    if result.interrupted:
        skipped = result.counts()["skipped"]
        click.echo(
            f"Interrupted: {skipped} step{'s' if skipped != 1 else ''} not started; "
            "state saved. Rerun apply to continue.",
            err=True,
        )
    click.echo(result.summary_line())
