"""Shared pytest fixtures: a clean environment per test and the sandbox on loopback.

`sandbox_server` starts one real sandbox (both APIs) on a free loopback port per test
session; `sandbox` resets it (data, faults, latency, log, quirks) before each test that
asks for it; `sandbox_env` also points the CLI at it through the environment.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, settings

if TYPE_CHECKING:
    from reconciler.sandbox import Sandbox
    from reconciler.settings import Settings

# GITHUB_: run under GitHub Actions, `plan --format markdown` would link to the run.
_ENV_PREFIXES = ("CAMPAIGNCTL_", "ENGAGELAB_", "IMBRACE_", "GITHUB_")

# CI must be repeatable: the same examples on every run, no wall-clock deadlines on a shared
# 2-core machine. Locally, hypothesis keeps exploring new examples.
settings.register_profile(
    "ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's credentials or settings."""
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[Sandbox]:
    """One sandbox for the whole session, on a free loopback port (not reset: use `sandbox`)."""
    from reconciler.sandbox import Sandbox

    server = Sandbox(port=0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sandbox(sandbox_server: Sandbox) -> Iterator[Sandbox]:
    """The session's sandbox, reset to empty, with no faults, latency or quirks."""
    sandbox_server.reset()
    yield sandbox_server
    sandbox_server.reset()


@pytest.fixture
def sandbox_env(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """The reset sandbox, with both API URLs and the three credentials pointing at it."""
    monkeypatch.setenv("CAMPAIGNCTL_API_URL", sandbox.url)
    monkeypatch.setenv("CAMPAIGNCTL_TOUCHPOINT_API_URL", sandbox.url)
    monkeypatch.setenv("ENGAGELAB_API_USER", sandbox.api_user)
    monkeypatch.setenv("ENGAGELAB_API_KEY", sandbox.api_key)
    monkeypatch.setenv("IMBRACE_API_KEY", sandbox.imbrace_api_key)
    yield sandbox


@pytest.fixture
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test from tmp_path, as a user runs campaignctl from their repository."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@dataclass(frozen=True)
class Workspace:
    """A test's own config directory (made, empty) and state file path (not made yet)."""

    root: Path
    config: Path
    state: Path

    def write(self, filename: str, text: str) -> Path:
        """Write one file into the config directory; return its path."""
        path = self.config / filename
        path.write_text(text, encoding="utf-8")
        return path


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """`campaigns.d/` and `state.json` under tmp_path: where a CLI test keeps its files."""
    config = tmp_path / "campaigns.d"
    config.mkdir()
    return Workspace(root=tmp_path, config=config, state=tmp_path / "state.json")


def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    """Poll condition until it holds (True) or timeout_s passes (False).

    A bounded wait for an event that has no notification (a request the sandbox logs once
    its answer is written, a file another process makes); never a measure of speed.
    """
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def run_python(
    code: str,
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter (no thread of this test process in it, so it may
    fork) with args; its output captured as text."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=check,
    )


def run_python_json(code: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """run_python, and the JSON object it prints."""
    result: dict[str, Any] = json.loads(run_python(code, *args, env=env).stdout)
    return result


def sandbox_settings(sandbox: Sandbox, config: Path, *, imbrace: bool = False) -> Settings:
    """Settings pointed at `sandbox` (email; iMBrace too with `imbrace`), no state file."""
    from pydantic import SecretStr

    from reconciler.settings import Settings

    return Settings(
        api_url=sandbox.url,
        touchpoint_api_url=sandbox.url,
        state_path=None,
        config_dir=config,
        api_user=sandbox.api_user,
        api_key=SecretStr(sandbox.api_key),
        imbrace_api_key=SecretStr(sandbox.imbrace_api_key) if imbrace else None,
    )


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run campaignctl in-process; return exit code, stdout and stderr."""
    from reconciler.cli import run

    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# The real state engines (S3 server, PostgreSQL cluster) for the backend contract tests.
from remote_engines import backend_kind, pg_cluster, s3_server, state_backends  # noqa: E402, F401


@pytest.fixture
def state_log() -> Iterator[list[str]]:
    """Messages logged by reconciler.state (the CLI may have turned propagation off)."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    logger = logging.getLogger("reconciler.state")
    handler, level = Collect(level=logging.DEBUG), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield messages
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
def context(sandbox: Sandbox) -> dict[str, str]:
    """The GitHub Actions expressions a CI recipe uses (`vars.*`, `secrets.*`): the sandbox's."""
    return {
        "vars.CAMPAIGNCTL_API_URL": sandbox.url,
        "vars.CAMPAIGNCTL_TOUCHPOINT_API_URL": sandbox.url,
        "secrets.ENGAGELAB_API_USER": sandbox.api_user,
        "secrets.ENGAGELAB_API_KEY": sandbox.api_key,
        "secrets.IMBRACE_API_KEY": sandbox.imbrace_api_key,
    }
