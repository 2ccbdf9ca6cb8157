"""`campaignctl sandbox` run in-process in the main thread, as a terminal runs it: it serves
with the credentials of the environment and the faults given, prints the banner with the
secrets masked, and stops cleanly on a real SIGINT, restoring the signal handlers.

A helper thread waits for the command's own SIGINT handler to be installed (so the signal
can only end the loop), talks to the served API, then sends SIGINT.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import run_cli, wait_until

from reconciler.cli.cmd_sandbox import banner_lines, sandbox_credentials

USER, KEY, IMBRACE = "env-user", "env-key-not-to-be-printed", "env-imbrace-not-to-be-printed"
LIST = "/v1/marketing/campaigns"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, user: str, key: str) -> int:
    token = base64.b64encode(f"{user}:{key}".encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _in_background(port: int, talk: Callable[[str], list[int]]) -> tuple[threading.Thread, list]:
    """Once the command's SIGINT handler is in place: talk to the sandbox, then SIGINT."""
    seen: list = []
    before = signal.getsignal(signal.SIGINT)

    def run() -> None:
        if not wait_until(lambda: signal.getsignal(signal.SIGINT) is not before, 30):
            seen.append("the sandbox never installed its SIGINT handler")
            return  # it failed to start: there is no loop to stop
        try:
            seen.extend(talk(f"http://127.0.0.1:{port}"))
        finally:
            os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, seen


def test_sandbox_serves_the_env_credentials_and_faults_then_stops_on_sigint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ENGAGELAB_API_USER", USER)
    monkeypatch.setenv("ENGAGELAB_API_KEY", KEY)
    monkeypatch.setenv("IMBRACE_API_KEY", IMBRACE)
    port = _free_port()

    def talk(url: str) -> list[int]:
        return [
            _get(url + LIST, USER, KEY),  # the injected fault, once
            _get(url + LIST, USER, KEY),
            _get(url + LIST, "demo-user", "demo-key"),  # the demo values are not accepted
        ]

    thread, seen = _in_background(port, talk)
    default_int, default_term = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    code, out, err = run_cli(
        capsys, "sandbox", "--port", str(port), "--faults", f"GET {LIST} 503 x1",
        "--data", str(tmp_path / "data.json"),
    )  # fmt: skip
    thread.join(30)
    assert seen == [503, 200, 401], seen
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0] == f"http://127.0.0.1:{port}"
    assert f"user {USER} (from ENGAGELAB_API_USER)" in out
    assert "key ******** (from ENGAGELAB_API_KEY)" in out
    assert KEY not in out + err and IMBRACE not in out + err
    assert "sandbox stopped" in err
    assert (tmp_path / "data.json").exists(), "--data is written at exit"
    assert signal.getsignal(signal.SIGINT) is default_int
    assert signal.getsignal(signal.SIGTERM) is default_term


def test_sandbox_with_impossible_latency_is_refused_before_listening(
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = _free_port()
    code, out, err = run_cli(capsys, "sandbox", "--port", str(port), "--latency-ms", "1e9")
    assert code == 1, out + err
    assert "--latency-ms / --jitter-ms" in err
    assert out == ""
    with socket.socket() as sock:  # nothing listens there
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_banner_shows_demo_values_in_full_and_env_values_by_name() -> None:
    demo = sandbox_credentials({})
    assert all(not from_env for _, from_env in demo.values())
    lines = banner_lines("http://127.0.0.1:1", demo)
    assert lines[0] == "Email API (Basic auth): user demo-user, key demo-key"
    assert "  export ENGAGELAB_API_KEY=demo-key" in lines
    mixed = sandbox_credentials({"ENGAGELAB_API_KEY": "s3cret", "IMBRACE_API_KEY": ""})
    assert mixed["ENGAGELAB_API_KEY"] == ("s3cret", True)
    assert mixed["IMBRACE_API_KEY"] == ("demo-imbrace-key", False)  # empty counts as unset
    text = "\n".join(banner_lines("http://127.0.0.1:1", mixed))
    assert "s3cret" not in text
    assert "  export ENGAGELAB_API_KEY=<the value set in this shell>" in text
    assert "  export IMBRACE_API_KEY=demo-imbrace-key" in text
