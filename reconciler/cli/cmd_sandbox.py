"""reconciler.cli.cmd_sandbox: `campaignctl sandbox`, the local API emulator in the foreground.

The first stdout line is the base URL alone (scripts read it); the lines after it say which
credentials the sandbox expects and how to export them in a second terminal. Runs until
SIGINT or SIGTERM, then exits 0.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import click

from reconciler.settings import ENV_API_KEY, ENV_API_USER, ENV_IMBRACE_API_KEY

DEFAULT_PORT = 8400
DEMO_API_USER = "demo-user"
DEMO_API_KEY = "demo-key"
DEMO_IMBRACE_API_KEY = "demo-imbrace-key"
MASK = "********"


def sandbox_credentials(environ: Mapping[str, str]) -> dict[str, tuple[str, bool]]:
    """Return each credential variable's value and whether it came from the environment."""
    demo = {
        ENV_API_USER: DEMO_API_USER,
        ENV_API_KEY: DEMO_API_KEY,
        ENV_IMBRACE_API_KEY: DEMO_IMBRACE_API_KEY,
    }
    return {
        name: (environ[name], True) if environ.get(name) else (value, False)
        for name, value in demo.items()
    }


def banner_lines(url: str, credentials: Mapping[str, tuple[str, bool]]) -> list[str]:
    """The lines after the URL: expected credentials (secrets from the env masked), exports."""

    def shown(name: str, secret: bool) -> str:
        value, from_env = credentials[name]
        if from_env and secret:
            return f"{MASK} (from {name})"
        return value if not from_env else f"{value} (from {name})"

    def exported(name: str) -> str:
        value, from_env = credentials[name]
        return "<the value set in this shell>" if from_env else value

    lines = [
        f"Email API (Basic auth): user {shown(ENV_API_USER, False)}, "
        f"key {shown(ENV_API_KEY, True)}",
        f"iMBrace API (x-api-key): key {shown(ENV_IMBRACE_API_KEY, True)}",
        "In a second terminal:",
        f"  export CAMPAIGNCTL_API_URL={url}",
        f"  export CAMPAIGNCTL_TOUCHPOINT_API_URL={url}",
    ]
    lines += [f"  export {name}={exported(name)}" for name in credentials]
    lines.append("Stop with Ctrl-C (SIGINT) or SIGTERM.")
    return lines


@click.command("sandbox")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port on 127.0.0.1 (0 picks a free one).",
)
@click.option(
    "--latency-ms",
    type=click.FloatRange(min=0),
    default=0,
    help="Delay every API request by this many milliseconds.",
)
@click.option(
    "--jitter-ms",
    type=click.FloatRange(min=0),
    default=0,
    help="Add a random 0..N ms on top of --latency-ms.",
)
@click.option(
    "--faults",
    "fault_specs",
    multiple=True,
    metavar="SPEC",
    help="Inject faults: 'METHOD PATH FAULT [xN|x*] [retry_after=S]; ...' (docs/sandbox.md).",
)
@click.option(
    "--data",
    "data_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Persist the sandbox's data in this JSON file across restarts.",
)
def sandbox_command(
    port: int,
    latency_ms: float,
    jitter_ms: float,
    fault_specs: tuple[str, ...],
    data_file: Path | None,
) -> int:
    """Run the local emulator of both campaign APIs in the foreground."""
    from reconciler.sandbox import Sandbox, parse_fault_spec

    # run() turned the garbage collector off for the command; this one serves for hours,
    # so the cycles its requests leave behind must be collected.
    gc.enable()
    from reconciler.sandbox.faults import Latency

    rules = []
    for spec in fault_specs:
        try:
            rules.extend(parse_fault_spec(spec))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--faults") from None
    try:  # nan, inf or more than a minute would make every request fail or hang
        Latency(latency_ms, jitter_ms)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--latency-ms / --jitter-ms") from None
    credentials = sandbox_credentials(os.environ)
    sandbox = Sandbox(
        port,
        latency_ms=latency_ms,
        jitter_ms=jitter_ms,
        data_file=data_file,
        api_user=credentials[ENV_API_USER][0],
        api_key=credentials[ENV_API_KEY][0],
        imbrace_api_key=credentials[ENV_IMBRACE_API_KEY][0],
    )
    for rule in rules:
        sandbox.faults.add_rule(rule)
    try:
        sandbox.start()
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--data") from None
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}"
        ) from None
    stop = threading.Event()
    try:
        with _stop_on_signals(stop):
            click.echo(sandbox.url)
            for line in banner_lines(sandbox.url, credentials):
                click.echo(line)
            sys.stdout.flush()
            while not stop.wait(0.2):
                pass
    finally:
        sandbox.stop()
    click.echo("sandbox stopped", err=True)
    return 0


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Make SIGINT and SIGTERM end the foreground loop cleanly; restore the old handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
