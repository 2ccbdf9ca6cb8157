"""Child processes for perf_bench: one measured `campaignctl` run, and the sandbox process.

Every measured command is its own process, started by a small launcher process; its wall
time runs from spawn to reap, and its CPU (user+sys) and peak memory (max RSS) are its own,
read by the launcher from os.wait4() (not RUSAGE_CHILDREN, which sums every child the bench
ever reaped, nor through a fork of the bench, whose size Linux would count in). The sandbox
runs as `campaignctl sandbox --port 0` as a user starts it, is driven through its admin HTTP
API, and is always killed on the way out.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Variables a user's shell may hold that would change what the measured command does.
_SCRUBBED_PREFIXES = ("CAMPAIGNCTL_", "ENGAGELAB_", "IMBRACE_", "PYTHON")
CHILD_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class Side:
    """One checkout's code: run as `python -m reconciler` with PYTHONPATH=root."""

    name: str
    root: Path
    python: str

    @classmethod
    def of(cls, name: str, root: Path) -> Side:
        # A checkout with its own venv runs on it; one without (a bare `git worktree add`)
        # runs on this interpreter, its code first on the path.
        venv_python = root / ".venv" / "bin" / "python"
        python = str(venv_python) if venv_python.exists() else sys.executable
        return cls(name, root.resolve(), python)

    def argv(self, *args: str) -> list[str]:
        return [self.python, "-m", "reconciler", *args]


@dataclass(frozen=True)
class ChildRun:
    """What one child cost: wall from spawn to reap, its own CPU and max RSS."""

    exit_code: int
    wall_s: float
    cpu_s: float
    rss_mib: float
    stdout: str
    stderr: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "wall_s": round(self.wall_s, 4),
            "cpu_s": round(self.cpu_s, 4),
            "rss_mib": round(self.rss_mib, 1),
        }


def child_env(root: Path | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a child: the shell's minus campaignctl/Python settings, plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    env["NO_COLOR"] = "1"
    if root is not None:
        env["PYTHONPATH"] = str(root)
    env.update(extra or {})
    return env


#: Runs one measured command and reports its cost as JSON on the fd it is given. The
#: measured command is started by this small process, not by the bench: Linux counts in a
#: child's max RSS the memory of the process it was forked from (the hiwater of the copied
#: address space reaches the exec'd program's `maxrss`), so a child forked by a bench that
#: has grown to hundreds of MB would report the bench's size, not its own.
_LAUNCHER = """
import json, os, sys, time
report_fd, argv = int(sys.argv[1]), sys.argv[2:]
start = time.perf_counter()
pid = os.posix_spawnp(argv[0], argv, os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
report = {"status": status, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
          "maxrss_kib": usage.ru_maxrss}
os.write(report_fd, json.dumps(report).encode())
"""


def run_child(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float = CHILD_TIMEOUT_S,
) -> ChildRun:
    """Run argv to completion, through _LAUNCHER; killed after timeout_s (launcher and
    command: they are one process group), then its exit code is the signal's."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        read_fd, write_fd = os.pipe()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-c", _LAUNCHER, str(write_fd), *argv],
                cwd=cwd,
                env=dict(env),
                stdout=out,
                stderr=err,
                pass_fds=(write_fd,),
                start_new_session=True,
            )
        finally:
            os.close(write_fd)
        killer = threading.Timer(timeout_s, lambda: os.killpg(proc.pid, signal.SIGKILL))
        killer.start()
        try:
            with os.fdopen(read_fd, "rb") as reports:
                raw = reports.read()
            proc.wait()
        finally:
            killer.cancel()
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
        if not raw:  # the launcher was killed (timeout) or failed to start the command
            return ChildRun(proc.returncode or -9, timeout_s, 0.0, 0.0, stdout, stderr)
        report = json.loads(raw)
        return ChildRun(
            exit_code=os.waitstatus_to_exitcode(report["status"]),
            wall_s=report["wall"],
            cpu_s=report["cpu"],
            rss_mib=report["maxrss_kib"] / 1024,  # KiB on Linux
            stdout=stdout,
            stderr=stderr,
        )


def checked(run: ChildRun, what: str, codes: Sequence[int] = (0,)) -> ChildRun:
    """run, or SystemExit naming what failed and the tail of its stderr."""
    if run.exit_code not in codes:
        tail = (run.stderr or run.stdout).strip().splitlines()[-5:]
        raise SystemExit(f"bench: {what} exited {run.exit_code}: " + " | ".join(tail))
    return run


class SandboxProcess:
    """`campaignctl sandbox --port 0` in its own process, driven by its admin API."""

    API_USER = "demo-user"
    API_KEY = "demo-key"

    def __init__(self, url: str, pid: int) -> None:
        if not url.startswith("http://127.0.0.1:"):
            raise SystemExit(f"bench: the sandbox is not on loopback: {url!r}")
        self.url = url
        self.pid = pid

    def cpu_s(self) -> float:
        """The sandbox's CPU so far (user+sys): on 2 cores it competes with the client."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        # Fields 14 and 15 of proc(5) (utime, stime), counted after the ")" of the name.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def admin(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        data = None if method == "GET" else json.dumps(dict(body or {})).encode()
        request = urllib.request.Request(
            f"{self.url}/_admin/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as reply:
            return json.loads(reply.read() or b"null")

    def reset(self) -> None:
        self.admin("POST", "reset")

    def set_latency(self, ms: float) -> None:
        self.admin("POST", "latency", {"ms": ms, "jitter_ms": 0})

    def seed(self, count: int, prefix: str) -> None:
        created = self.admin("POST", "email/seed", {"count": count, "name_prefix": prefix})
        if created.get("created") != count:
            raise SystemExit(f"bench: seeding {count} gave {created}")

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self.admin("GET", "stats")
        return result

    def client_env(self) -> dict[str, str]:
        """What a user exports to point campaignctl at this sandbox (email only)."""
        return {
            "CAMPAIGNCTL_API_URL": self.url,
            "ENGAGELAB_API_USER": self.API_USER,
            "ENGAGELAB_API_KEY": self.API_KEY,
        }


@contextmanager
def sandbox_process(side: Side, workdir: Path) -> Iterator[SandboxProcess]:
    """Start the sandbox with side's code; yield it once it prints its URL; always kill it."""
    log = workdir / "sandbox.out"
    with log.open("wb") as out, (workdir / "sandbox.err").open("wb") as err:
        proc = subprocess.Popen(
            side.argv("sandbox", "--port", "0", "--latency-ms", "0"),
            cwd=workdir,
            env=child_env(side.root),
            stdout=out,
            stderr=err,
        )
    try:
        yield SandboxProcess(_first_line(log, proc), proc.pid)
    finally:
        _stop(proc)


def _first_line(log: Path, proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> str:
    """The sandbox's first stdout line (its URL), waited for at most timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = log.read_text(encoding="utf-8", errors="replace")
        if "\n" in text:
            return text.split("\n", 1)[0].strip()
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise SystemExit(f"bench: the sandbox printed no URL (exit {proc.poll()})")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
