"""reconciler.cli: the click group, global options, and the one place exit codes are decided.

Each command lives in its own module (`cmd_*.py`), imported only when that command runs or
its help is shown (lazy.COMMANDS): start-up imports click and little else. This module turns
every error into `error: <what> (<where>)` plus a hint, never a traceback.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

import click

from reconciler import __version__
from reconciler.cli.help import polish, single_dash_hint
from reconciler.cli.lazy import COMMANDS, LazyGroup
from reconciler.errors import CampaignctlError, ConfigError

if TYPE_CHECKING:
    from reconciler.settings import Settings

__all__ = [
    "EXIT_BLOCKED",
    "EXIT_CHANGES",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "AppContext",
    "TargetArgs",
    "Targeting",
    "cli",
    "lock_timeout_option",
    "main",
    "pass_app",
    "target_options",
]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_BLOCKED = 3
EXIT_INTERRUPTED = 130


@dataclass
class AppContext:
    """The global options as given; `settings()` builds (and checks) the Settings."""

    api_url: str | None
    touchpoint_api_url: str | None
    state: str | None
    no_state: bool
    config_dir: str | None
    verbose: int
    workspace: str = "default"
    #: Set by a command's --lock-timeout (see lock_timeout_option).
    lock_timeout: float = 0.0
    #: --no-color (NO_COLOR does the same; see cmd_plan.use_color).
    no_color: bool = False

    def settings(self, **overrides: Any) -> Settings:
        from reconciler.settings import Settings  # pydantic: only for commands that use it

        values: dict[str, Any] = {
            "api_url": self.api_url,
            "touchpoint_api_url": self.touchpoint_api_url,
            "state": self.state,
            "no_state": self.no_state,
            "config_dir": self.config_dir,
            "verbose": self.verbose,
            "workspace": self.workspace,
            "lock_timeout": self.lock_timeout,
        }
        values.update(overrides)
        return Settings.from_options(**values)


pass_app = click.make_pass_decorator(AppContext)


def _store_lock_timeout(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        from reconciler.state.location import parse_duration

        try:
            seconds = parse_duration(value)
        except CampaignctlError as exc:
            raise click.BadParameter(exc.message) from None
        ctx.ensure_object(AppContext).lock_timeout = seconds


def lock_timeout_option(command: Any) -> Any:
    """`--lock-timeout DURATION` for a command that takes the state lock: wait for it (with
    backoff, printing who holds it) instead of failing at once. Kept on the AppContext."""
    return click.option(
        "--lock-timeout",
        metavar="DURATION",
        expose_value=False,
        callback=_store_lock_timeout,
        help="Wait this long for the state lock (90s, 2m; default 0: fail at once).",
    )(command)


class TargetArgs(TypedDict):
    targets: tuple[str, ...]
    excludes: tuple[str, ...]


@dataclass(frozen=True)
class Targeting:
    """What `--target` and `--exclude` chose: the campaigns a run looks at."""

    targets: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.targets or self.excludes)

    def kwargs(self) -> TargetArgs:
        """As `build_plan`'s keyword arguments."""
        return {"targets": self.targets, "excludes": self.excludes}


def target_options(command: Callable[..., Any]) -> Any:
    """`--target` and `--exclude` (each repeatable): a name, `Kind/Name`, or a glob of either.

    The command receives them as one `targeting: Targeting`. The plan warns for each one
    that matches nothing and counts the changes it leaves out.
    """

    @functools.wraps(command)
    def with_targeting(
        *args: Any, targets: tuple[str, ...], excludes: tuple[str, ...], **kwargs: Any
    ) -> Any:
        return command(*args, targeting=Targeting(targets, excludes), **kwargs)

    decorated = click.option(
        "--exclude",
        "excludes",
        multiple=True,
        metavar="PATTERN",
        help="Leave these out: NAME, Kind/Name or a glob ('Spring*'); repeatable.",
    )(with_targeting)
    return click.option(
        "--target",
        "targets",
        multiple=True,
        metavar="PATTERN",
        help="Only these: NAME, Kind/Name or a glob ('EmailCampaign/Spring*'); repeatable.",
    )(decorated)


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    prepare=polish,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="campaignctl")
@click.option(
    "--api-url",
    envvar="CAMPAIGNCTL_API_URL",
    metavar="URL",
    show_envvar=True,
    help="EngageLab Email API base URL, or a region: sg, tr (default sg).",
)
@click.option(
    "--touchpoint-api-url",
    envvar="CAMPAIGNCTL_TOUCHPOINT_API_URL",
    metavar="URL",
    show_envvar=True,
    help="iMBrace gateway URL, or an SDK environment: stable, prodv2, sandbox, develop "
    "(default stable).",
)
@click.option(
    "--state",
    envvar="CAMPAIGNCTL_STATE",
    show_envvar=True,
    metavar="PATH|URL",
    help="State file (default state/default.json), s3://BUCKET/KEY or postgres://USER@HOST/DB.",
)
@click.option(
    "--workspace",
    envvar="CAMPAIGNCTL_WORKSPACE",
    show_envvar=True,
    metavar="NAME",
    default="default",
    show_default=True,
    help="Which state of the backend (state/NAME.json with the default --state).",
)
@click.option(
    "--no-state",
    is_flag=True,
    envvar="CAMPAIGNCTL_NO_STATE",
    show_envvar=True,
    help="Run without a state file.",
)
@click.option(
    "--config-dir",
    metavar="DIR",
    envvar="CAMPAIGNCTL_CONFIG_DIR",
    show_envvar=True,
    help="Desired-state directory (default campaigns.d).",
)
@click.option(
    "-v",
    "--verbose",
    count=True,
    envvar="CAMPAIGNCTL_VERBOSE",
    show_envvar=True,
    help="Show HTTP exchanges on stderr (secrets masked); -vv adds the transport's log.",
)
@click.option(
    "--no-color",
    is_flag=True,
    # NO_COLOR is read by the renderers (any non-empty value, per no-color.org), not by
    # click, which would refuse a value that is not a boolean.
    help="No colour in the output.  [env var: NO_COLOR (any value)]",
)
@click.pass_context
def cli(
    ctx: click.Context,
    api_url: str | None,
    touchpoint_api_url: str | None,
    state: str | None,
    workspace: str,
    no_state: bool,
    config_dir: str | None,
    verbose: int,
    no_color: bool,
) -> None:
    """campaignctl: campaign-as-code for EngageLab email and touchpoint campaigns."""
    ctx.obj = AppContext(
        api_url, touchpoint_api_url, state, no_state, config_dir, verbose, workspace
    )
    ctx.obj.no_color = no_color
    _configure_logging(verbose)


def _configure_logging(verbose: int) -> None:
    root = logging.getLogger("reconciler")
    root.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_SafeFormatter("%(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    root.propagate = False
    # urllib3 announces each retry at WARNING; our own -v log already says it, masked.
    transport = logging.getLogger("urllib3")
    transport.handlers.clear()
    if verbose:
        transport.addHandler(handler)
    transport.setLevel(logging.DEBUG if verbose > 1 else logging.ERROR)
    transport.propagate = False


def _safe(text: str) -> str:
    """render.text_safe, imported on first use: the renderers are not needed to start."""
    from reconciler.render import text_safe

    return text_safe(text)


class _SafeFormatter(logging.Formatter):
    """Log lines with their data made safe: a path or API message holding a newline or an
    escape sequence cannot forge a line or repaint the terminal (see render.text_safe)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return _safe(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return "\n".join(_safe(line) for line in super().formatException(ei).splitlines())


def print_error(error: CampaignctlError) -> None:
    """Write one `error: <what> (<where>)` line (one per issue for a ConfigError) and a hint.

    Messages quote names, keys, values, file names and API answers: each line is made safe
    (render.text_safe), so none of them can end the line or emit an escape sequence.
    """
    if isinstance(error, ConfigError):
        for issue in error.issues:
            click.echo(_safe(f"{issue.severity}: {issue}"), err=True)
    click.echo(_safe(f"error: {error}"), err=True)
    if error.hint:
        click.echo(_safe(f"hint: {error.hint}"), err=True)


def _show_click_error(exc: click.ClickException) -> None:
    """click's own error print, with its message made safe: it quotes what was typed."""
    message = exc.format_message
    exc.format_message = lambda: _safe(message())  # type: ignore[method-assign]
    exc.show()


polish(cli)


def _hint_global_option(error: click.UsageError) -> None:
    """A global option given after the subcommand: say where it goes."""
    if not isinstance(error, click.NoSuchOption):
        return
    globals_ = {name for param in cli.params for name in getattr(param, "opts", ())}
    if error.option_name in globals_:
        click.echo(
            f"hint: {error.option_name} is a global option: put it before the subcommand, "
            f"e.g. campaignctl {error.option_name} ... plan",
            err=True,
        )


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI and exit with a campaignctl exit code (usage errors are 1, never 2).

    Once the output is flushed the process ends with `os._exit`: the interpreter's own
    teardown would run a last full garbage collection and free, one by one, every object
    the command built (0.05 s after a 10,000-campaign plan, more after a larger one), with
    nothing left to do. Every state write is durable before its call returns and the lock
    is released before `run` does; logging writes to stderr, flushed here. A flush that
    fails (a closed pipe) takes the ordinary exit, whose message and status stay Python's,
    and so does a run under a profiler or tracer (`python -m cProfile -o`, a debugger),
    which writes its results at exit.
    """
    code = run(argv)
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # the ordinary exit reports it as before
        sys.exit(code)
    os._exit(code)


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code; never raises, never prints a traceback.

    The cyclic garbage collector is off for the command (and restored after it, for callers
    in-process): a command builds many small trees (YAML nodes, dicts, models, plan parts)
    that reference counting frees, and the collector would walk every one of them again and
    again, more often the larger the run (measured -11% CPU at 10,000 campaigns, -21% at
    50,000, same memory). A command is short-lived; the long-running `sandbox` turns the
    collector back on.
    """
    # Inline, not reconciler.collector's context manager: made before the collector is off,
    # that object alone could be the allocation that starts a collection.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _run(argv)
    finally:
        if collecting:
            gc.enable()


def _terminated() -> type[BaseException] | None:
    """The state lock's Terminated, if its module is loaded (only then can one be raised)."""
    lock = sys.modules.get("reconciler.state.lock")
    return getattr(lock, "Terminated", None)


def _run(argv: Sequence[str] | None) -> int:
    terminated = _terminated()
    if terminated is not None:
        terminated.raised = False  # type: ignore[attr-defined]
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None,
            standalone_mode=False,
            prog_name="campaignctl",
        )
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.UsageError as exc:
        _show_click_error(exc)
        _hint_global_option(exc)
        meant = single_dash_hint(cli, list(argv) if argv is not None else sys.argv[1:])
        if meant:
            click.echo(_safe(f"hint: {meant}"), err=True)
        return EXIT_ERROR
    except click.Abort:
        # click turns Ctrl-C into Abort: an interrupted run is 130, never "error" (1).
        click.echo("Aborted.", err=True)
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        _show_click_error(exc)
        return EXIT_ERROR
    except CampaignctlError as exc:
        print_error(exc)
        return EXIT_ERROR
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_ERROR
    except Exception as exc:
        terminated = _terminated()
        if terminated is not None and getattr(terminated, "raised", False):
            # A SIGTERM that a library caught and reported as its own error.
            click.echo("interrupted", err=True)
            return EXIT_INTERRUPTED
        logging.getLogger("reconciler").debug("unexpected error", exc_info=True)
        click.echo(_safe(f"error: unexpected {type(exc).__name__}: {exc} (internal)"), err=True)
        click.echo("hint: rerun with -v for details and report this as a bug", err=True)
        return EXIT_ERROR
    return int(result or EXIT_OK)
