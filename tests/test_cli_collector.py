"""The cyclic garbage collector is off for a whole command (issue 17), back on after it, and
on while `campaignctl sandbox` serves (it runs for hours).

Counted with gc.callbacks, not clocked.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.request

import pytest
from conftest import run_cli, wait_until

_COUNT_COLLECTIONS = """
import gc, io, json, contextlib
from reconciler.cli import run
collections = []
gc.callbacks.append(lambda phase, info: phase == "start" and collections.append(info))
with contextlib.redirect_stdout(io.StringIO()):
    code = run(["schema"])
print(json.dumps({"code": code, "collections": len(collections), "after": gc.isenabled()}))
"""


def test_no_collection_runs_during_a_command_and_the_collector_is_back_on_after() -> None:
    # A fresh interpreter: the command's imports and its JSON Schema build allocate enough
    # to trigger dozens of collections when the collector is on.
    done = subprocess.run(
        [sys.executable, "-c", _COUNT_COLLECTIONS],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(done.stdout)
    assert result == {"code": 0, "collections": 0, "after": True}


def test_a_caller_that_turned_the_collector_off_finds_it_still_off(
    capsys: pytest.CaptureFixture[str],
) -> None:
    gc.disable()
    try:
        code, _, _ = run_cli(capsys, "schema")
        assert code == 0
        assert not gc.isenabled()
    finally:
        gc.enable()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_sandbox_serves_with_the_collector_on(capsys: pytest.CaptureFixture[str]) -> None:
    port = _free_port()
    seen: list[object] = []
    before = signal.getsignal(signal.SIGINT)

    def while_serving() -> None:
        # The command's SIGINT handler is installed once it serves (see the foreground tests).
        if not wait_until(lambda: signal.getsignal(signal.SIGINT) is not before, 30):
            seen.append("the sandbox never started")
            return
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30):
                pass
        except OSError:
            pass  # any answer will do: the sandbox is serving
        seen.append(gc.isenabled())
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=while_serving)
    thread.start()
    code, out, err = run_cli(capsys, "sandbox", "--port", str(port))
    thread.join(30)
    assert code == 0, out + err
    assert seen == [True]
