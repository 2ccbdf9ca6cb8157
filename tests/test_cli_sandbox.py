"""`campaignctl sandbox` as a user runs it: a real subprocess, its first line, signals, --data."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from reconciler.cli import run
from reconciler.cli.cmd_sandbox import banner_lines, sandbox_credentials

pytestmark = pytest.mark.slow

AUTH = ("demo-user", "demo-key")
EMAIL = "/v1/marketing/campaigns"
CAMPAIGNS = "/channel-service/v1/campaign"
DEMO_IMBRACE_KEY = {"x-api-key": "demo-imbrace-key"}
URL_LINE = re.compile(r"^http://127\.0\.0\.1:(\d+)$")


class Running:
    """A `campaignctl sandbox` subprocess whose stdout lines arrive on a queue."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def line(self, timeout: float = 10.0) -> str:
        item = self.lines.get(timeout=timeout)
        assert item is not None, "the sandbox exited before printing"
        return item

    def banner(self) -> tuple[str, list[str]]:
        """The URL line and the lines after it, up to the last banner line ("Stop with")."""
        url = self.line()
        rest: list[str] = []
        while len(rest) < 30 and not (rest and rest[-1].startswith("Stop with")):
            rest.append(self.line())
        assert rest[-1].startswith("Stop with"), rest
        return url, rest

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.proc.send_signal(signum)
        return self.proc.wait(timeout=10)


@contextmanager
def sandbox_process(*args: str, env: dict[str, str] | None = None) -> Iterator[Running]:
    command = [sys.executable, "-m", "reconciler", "sandbox", "--port", "0", *args]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    running = Running(proc)
    try:
        yield running
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_first_line_is_the_url_and_a_signal_exits_0(signum: int) -> None:
    with sandbox_process() as running:
        url, rest = running.banner()
        assert URL_LINE.match(url), url
        response = requests.get(url + EMAIL, auth=AUTH, timeout=10)
        assert response.json() == {"result": [], "total": 0}
        text = "\n".join(rest)
        assert "demo-user" in text and "demo-key" in text
        assert "iMBrace API (x-api-key): key demo-imbrace-key" in rest
        assert f"  export CAMPAIGNCTL_API_URL={url}" in rest
        assert f"  export CAMPAIGNCTL_TOUCHPOINT_API_URL={url}" in rest
        assert "  export ENGAGELAB_API_KEY=demo-key" in rest
        assert "  export IMBRACE_API_KEY=demo-imbrace-key" in rest
        assert "Bearer" not in text and "TOKEN" not in text
        assert (
            requests.get(url + CAMPAIGNS, headers=DEMO_IMBRACE_KEY, timeout=10).json()["data"] == []
        )
        assert running.stop(signum) == 0
        assert running.proc.stderr is not None
        assert "Traceback" not in running.proc.stderr.read()


def test_credentials_from_the_environment_are_used_and_masked() -> None:
    env = {
        "ENGAGELAB_API_USER": "ops-bot",
        "ENGAGELAB_API_KEY": "k3y-from-env-123",
        "IMBRACE_API_KEY": "t0ken-from-env-456",
    }
    with sandbox_process(env=env) as running:
        url, rest = running.banner()
        text = "\n".join([url, *rest])
        assert "k3y-from-env-123" not in text and "t0ken-from-env-456" not in text
        assert "ops-bot" in text and "********" in text
        assert requests.get(url + EMAIL, auth=("ops-bot", "k3y-from-env-123"), timeout=10).ok
        assert requests.get(url + EMAIL, auth=AUTH, timeout=10).status_code == 401
        imbrace = [line for line in rest if line.startswith("iMBrace API (x-api-key)")]
        assert imbrace == ["iMBrace API (x-api-key): key ******** (from IMBRACE_API_KEY)"]
        assert "  export IMBRACE_API_KEY=<the value set in this shell>" in rest
        key = {"x-api-key": "t0ken-from-env-456"}
        assert requests.get(url + CAMPAIGNS, headers=key, timeout=10).ok
        bearer = {"Authorization": "Bearer t0ken-from-env-456"}
        assert requests.get(url + CAMPAIGNS, headers=bearer, timeout=10).status_code == 401
        assert (
            requests.get(url + CAMPAIGNS, headers=DEMO_IMBRACE_KEY, timeout=10).status_code == 401
        )
        assert running.stop() == 0


def test_data_file_persists_across_restarts(tmp_path: Path) -> None:
    data = tmp_path / "sandbox.json"
    body = {"campaign_type": 2, "name": "kept", "to": [{"type": "tag", "value": ["t"]}]}
    with sandbox_process("--data", str(data)) as running:
        url, _ = running.banner()
        first = requests.post(url + EMAIL, auth=AUTH, json=body, timeout=10).json()["result"]
        campaign = requests.post(
            url + CAMPAIGNS,
            headers=DEMO_IMBRACE_KEY,
            json={"name": "journey", "channel_type": "sms"},
            timeout=10,
        ).json()
        assert running.stop() == 0
    assert data.is_file()
    with sandbox_process("--data", str(data)) as running:
        url, _ = running.banner()
        listed = requests.get(url + EMAIL, auth=AUTH, timeout=10).json()
        assert [c["name"] for c in listed["result"]] == ["kept"]
        assert listed["result"][0]["campaign_id"] == first["campaign_id"]
        fetched = requests.get(
            url + f"{CAMPAIGNS}/{campaign['_id']}", headers=DEMO_IMBRACE_KEY, timeout=10
        )
        assert fetched.json()["name"] == "journey"
        second = requests.post(url + EMAIL, auth=AUTH, json=body, timeout=10).json()["result"]
        assert second["campaign_id"] > first["campaign_id"]
        assert running.stop() == 0


def test_faults_and_latency_options_apply() -> None:
    spec = "GET /v1/marketing/campaigns 429 retry_after=4"
    with sandbox_process("--faults", spec, "--latency-ms", "150") as running:
        url, _ = running.banner()
        stats = requests.get(url + "/_admin/stats", timeout=10).json()
        assert stats["latency"] == {"ms": 150, "jitter_ms": 0}
        refused = requests.get(url + EMAIL, auth=AUTH, timeout=10)
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "4"
        assert requests.get(url + EMAIL, auth=AUTH, timeout=10).status_code == 200
        assert running.stop() == 0


def test_bad_faults_spec_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["sandbox", "--port", "0", "--faults", "GET /v1/ teapot"]) == 1
    err = capsys.readouterr().err
    assert "--faults" in err and "unknown fault" in err
    assert "Traceback" not in err


def test_corrupt_data_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "broken.json"
    data.write_text("{not json", encoding="utf-8")
    assert run(["sandbox", "--port", "0", "--data", str(data)]) == 1
    err = capsys.readouterr().err
    assert "--data" in err and "broken.json" in err
    assert data.read_text(encoding="utf-8") == "{not json"


def test_busy_port_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert run(["sandbox", "--port", str(port)]) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_banner_masks_only_secrets_that_came_from_the_environment() -> None:
    credentials = sandbox_credentials({"ENGAGELAB_API_KEY": "secret-key"})
    lines = "\n".join(banner_lines("http://127.0.0.1:1", credentials))
    assert "secret-key" not in lines
    assert "demo-user" in lines and "iMBrace API (x-api-key): key demo-imbrace-key" in lines
    assert credentials["IMBRACE_API_KEY"] == ("demo-imbrace-key", False)
    from_env = sandbox_credentials({"IMBRACE_API_KEY": "imbrace-secret"})
    env_lines = banner_lines("http://127.0.0.1:1", from_env)
    assert "imbrace-secret" not in "\n".join(env_lines)
    assert "  export CAMPAIGNCTL_TOUCHPOINT_API_URL=http://127.0.0.1:1" in env_lines
    assert credentials["ENGAGELAB_API_KEY"] == ("secret-key", True)
    assert credentials["ENGAGELAB_API_USER"] == ("demo-user", False)


def test_sandbox_env_points_the_cli_at_the_sandbox(sandbox_env: object) -> None:
    from reconciler.sandbox import Sandbox

    assert isinstance(sandbox_env, Sandbox)
    assert os.environ["CAMPAIGNCTL_API_URL"] == sandbox_env.url
    user, key = os.environ["ENGAGELAB_API_USER"], os.environ["ENGAGELAB_API_KEY"]
    response = requests.get(sandbox_env.url + EMAIL, auth=(user, key), timeout=10)
    assert response.status_code == 200
    assert os.environ["CAMPAIGNCTL_TOUCHPOINT_API_URL"] == sandbox_env.url
    key = {"x-api-key": os.environ["IMBRACE_API_KEY"]}
    assert requests.get(sandbox_env.url + CAMPAIGNS, headers=key, timeout=10).ok


def test_the_sandbox_imports_nothing_from_the_client_side() -> None:
    probe = (
        "import json, sys, reconciler.sandbox; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('reconciler'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    modules = json.loads(out)
    assert modules, out
    # reconciler.atomic and reconciler.collector: the shared atomic-write and collector-pause
    # helpers (standard library only, no client logic)
    shared = ("reconciler", "reconciler.atomic", "reconciler.collector")
    assert all(m in shared or m.startswith("reconciler.sandbox") for m in modules), modules
