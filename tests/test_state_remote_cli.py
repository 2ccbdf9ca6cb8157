"""Real `campaignctl` processes sharing one remote state (S3 on moto's server, PostgreSQL).

Two applies: one proceeds, the other names the holder, or waits with --lock-timeout; 20
plans and 2 applies at once lose no update; SIGKILL mid-apply then one plain rerun
converges with nothing kept on the local disk; a store that ignores conditional writes is
refused; no credential reaches the output. Runs are held and killed from the sandbox's
request log, never by sleeping.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from remote_engines import S3_ENV, S3Proxy, S3Server, StateBackends, s3_proxy
from test_kill9 import KILL_POINTS, MUTATING, KillOnRequest, assert_converged_after_one_rerun

from reconciler.sandbox import Sandbox

pytestmark = pytest.mark.slow

REMOTE = pytest.mark.parametrize("backend_kind", ["s3", "postgres"])
RUN_TIMEOUT_S = 90.0
EMAILS = ("Alpha", "Beta", "Gamma", "Delta")


def write_emails(names: tuple[str, ...]) -> None:
    config = Path("campaigns.d")
    config.mkdir(exist_ok=True)
    for name in names:
        (config / f"{name}.yaml").write_text(
            f"kind: EmailCampaign\nname: {name}\ncampaign_type: normal\n"
            "to: {type: tag, value: [t]}\nsender_id: 53\ntemplate_invoke_name: tpl\n"
            f"subject: {name}\n"
        )


@pytest.fixture
def remote_state(
    backend_kind: str,
    state_backends: StateBackends,
    sandbox_env: Sandbox,
    in_tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """A fresh remote state as CAMPAIGNCTL_STATE, the sandbox as the vendor APIs."""
    url = state_backends.location(backend_kind)
    monkeypatch.setenv("CAMPAIGNCTL_STATE", url)
    return url


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


class HoldFirstWrite:
    """Holds the sandbox's first mutating request (so its apply holds the lock) until
    `release()`; `held` is set once it is being held."""

    def __init__(self, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
        self.held = threading.Event()
        self.go = threading.Event()
        original = sandbox.log.record

        def record(entry: Any) -> None:
            if entry.method in MUTATING and not self.held.is_set():
                self.held.set()
                self.go.wait(RUN_TIMEOUT_S)
            original(entry)

        monkeypatch.setattr(sandbox.log, "record", record)

    def release(self) -> None:
        self.go.set()


def wait_for_stderr(proc: subprocess.Popen[str], needle: str) -> list[str]:
    """Read proc's stderr lines until one contains `needle` (bounded by the process)."""
    assert proc.stderr is not None
    lines: list[str] = []
    for line in proc.stderr:
        lines.append(line)
        if needle in line:
            return lines
        if len(lines) > 200:
            break
    raise AssertionError(f"{needle!r} never printed: {''.join(lines)}")


@REMOTE
def test_two_applies_one_proceeds_the_other_names_the_holder_or_waits(
    remote_state: str,
    sandbox_env: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_emails(EMAILS)
    hold = HoldFirstWrite(sandbox_env, monkeypatch)
    first = start("apply", "--auto-approve")
    waiter: subprocess.Popen[str] | None = None
    try:
        assert hold.held.wait(RUN_TIMEOUT_S), "the first apply never wrote"
        refused = start("apply", "--auto-approve")
        _, err = refused.communicate(timeout=RUN_TIMEOUT_S)
        assert refused.returncode == 1, err
        assert f"is locked by pid {first.pid} on this host" in err
        assert "campaignctl state unlock" in err and "Traceback" not in err
        waiter = start("apply", "--auto-approve", "--lock-timeout", "90s")
        waited = wait_for_stderr(waiter, "waiting for the state lock")
        assert f"is locked by pid {first.pid}" in waited[-1]
        assert waiter.poll() is None
    finally:
        hold.release()
    out, err = first.communicate(timeout=RUN_TIMEOUT_S)
    assert first.returncode == 0, out + err
    assert waiter is not None
    out, err = waiter.communicate(timeout=RUN_TIMEOUT_S)
    assert waiter.returncode == 0, out + err
    assert "Apply complete: 0 created" in out, out + err
    assert Counter(c["name"] for c in sandbox_env.email_campaigns()) == Counter(EMAILS)
    assert run_cli(capsys, "plan", "--detailed-exitcode")[0] == 0


@REMOTE
def test_twenty_plans_and_two_applies_lose_no_update(
    remote_state: str, sandbox_env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    write_emails(EMAILS)
    sandbox_env.set_latency(5)
    applies = [
        start("apply", "--auto-approve", "--lock-timeout", "120s", *targets)
        for targets in (
            ("--target", "Alpha", "--target", "Beta"),
            ("--target", "Gamma", "--target", "Delta"),
        )
    ]
    plans = [start("plan", "--detailed-exitcode") for _ in range(20)]
    for proc in [*applies, *plans]:
        out, err = proc.communicate(timeout=RUN_TIMEOUT_S * 2)
        expected = (0,) if proc in applies else (0, 2)
        assert proc.returncode in expected, out + err
        assert "Traceback" not in err
    code, out, err = run_cli(capsys, "state", "list")
    assert code == 0 and sorted(line.split()[1] for line in out.splitlines()[1:]) == sorted(EMAILS)
    assert Counter(c["name"] for c in sandbox_env.email_campaigns()) == Counter(EMAILS)
    code, out, err = run_cli(capsys, "state", "pull")
    assert '"serial": 2' in out, out
    assert run_cli(capsys, "plan", "--detailed-exitcode")[0] == 0


@REMOTE
@pytest.mark.parametrize("at", KILL_POINTS)
def test_kill9_mid_apply_on_a_remote_state_then_one_rerun_converges(
    at: int,
    remote_state: str,
    sandbox_env: Sandbox,
    in_tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    names = (*EMAILS, "Epsilon", "Zeta")  # more creates than the last kill point
    write_emails(names)
    sandbox_env.set_latency(20)
    killer = KillOnRequest(sandbox_env, monkeypatch, at)
    assert killer.run("apply", "--auto-approve") == -signal.SIGKILL
    assert not (in_tmp_path / "state").exists(), "a remote state keeps nothing on the runner"
    assert_converged_after_one_rerun(sandbox_env, capsys, {})
    assert sorted(c["name"] for c in sandbox_env.email_campaigns()) == sorted(names)


# --------------------------------------------------------------------------- conditional writes


class _StripConditions(S3Proxy):
    """Drops If-None-Match and If-Match, as S3 clones that do not implement conditional
    writes behave."""

    dropped_headers = frozenset({"host", "if-none-match", "if-match"})


@pytest.fixture
def unconditional_proxy(s3_server: S3Server) -> Iterator[str]:
    with s3_proxy(s3_server, _StripConditions) as endpoint:
        yield endpoint


def test_a_store_that_ignores_conditional_writes_is_refused(
    s3_server: S3Server,
    unconditional_proxy: str,
    sandbox_env: Sandbox,
    in_tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bucket = s3_server.new_bucket()
    url = f"s3://{bucket}/state.json?endpoint={unconditional_proxy}&region=us-east-1"
    write_emails(EMAILS[:1])
    code, out, err = run_cli(capsys, "--state", url, "apply", "--auto-approve")
    assert code == 1, out + err
    assert "ignores conditional writes (If-None-Match was not enforced)" in err
    assert sandbox_env.email_campaigns() == [], "nothing is applied without a lock"
    keys = s3_server.client().list_objects_v2(Bucket=bucket).get("Contents", [])
    assert keys == [], "no lock, probe or state object left behind"
    # the same bucket straight from the S3 server (which enforces them) is fine
    direct = s3_server.url(bucket, "state.json")
    assert run_cli(capsys, "--state", direct, "apply", "--auto-approve")[0] == 0


# --------------------------------------------------------------------------- secrets


def test_a_password_in_a_postgres_url_is_refused_and_never_printed(
    in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for url in (
        "postgres://ci:hunter2-secret@db.example/campaigns",
        "postgresql://ci@db.example/campaigns?password=hunter2-secret",
    ):
        code, out, err = run_cli(capsys, "--state", url, "state", "list")
        assert code == 1
        assert "password inside the --state URL is refused" in err and "PGPASSWORD" in err
        assert "hunter2" not in out + err


@pytest.mark.parametrize("backend_kind", ["s3"])
def test_s3_credentials_never_reach_the_output(
    remote_state: str, sandbox_env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    write_emails(EMAILS[:2])
    code, out, err = run_cli(capsys, "-v", "apply", "--auto-approve")
    assert code == 0, out + err
    assert S3_ENV["AWS_SECRET_ACCESS_KEY"] not in out + err
    code, out, err = run_cli(capsys, "state", "history")
    assert code == 1 and "is not versioned" in err


# --------------------------------------------------------------------------- history


@pytest.mark.parametrize("backend_kind", ["s3", "postgres"])
def test_history_lists_each_committed_serial(
    backend_kind: str,
    state_backends: StateBackends,
    sandbox_env: Sandbox,
    in_tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = state_backends.location(backend_kind, versioned=True)
    write_emails(EMAILS[:1])
    assert run_cli(capsys, "--state", url, "apply", "--auto-approve")[0] == 0
    write_emails(EMAILS[:2])
    assert run_cli(capsys, "--state", url, "apply", "--auto-approve")[0] == 0
    code, out, err = run_cli(capsys, "--state", url, "state", "history")
    assert code == 0, err
    assert [line.split("serial ")[1].split()[0] for line in out.splitlines()] == ["2", "1"]
