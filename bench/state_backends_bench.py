"""What a remote state costs: apply and plan on the file, S3 and PostgreSQL backends, one run.

Usage: python bench/state_backends_bench.py [N] [--latency-ms L] [--parallelism P]
                                           [--backends file,s3,postgres]

Starts the engines the tests use (moto's S3 server over HTTP on loopback, a throwaway
PostgreSQL cluster on a Unix socket; see tests/remote_engines.py), then per backend:

- apply: N email creates at L ms vendor latency with P workers (bench/apply_bench.py's
  run), every step made durable in the backend (a journal line, object or row) before the
  next call on its campaign (the file: before record() returns), and the final commit;
  wall time and the ratio to the file backend's;
- state read: reading the committed N-campaign state as `plan` does (unlocked): in a
  running process (median of 5), and in a new process that only reads it (imports, client,
  connection), minus the file backend's;
- plan overhead: a new `campaignctl plan` process on the result (the same YAML, the
  committed state, the sandbox holding the N campaigns: an empty plan; median of 5),
  minus the file backend's: what a CI job pays for the backend.
moto's S3 server runs in a process of its own; the sandbox runs in this one.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from pydantic import SecretStr

from reconciler.applier import Outcome, apply_plan
from reconciler.loader import load_directory
from reconciler.planner import compute_plan
from reconciler.providers import open_providers
from reconciler.sandbox import Sandbox
from reconciler.settings import Settings
from reconciler.state import StateStore
from reconciler.state.location import open_state
from reconciler.workflow import read_live

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_data import write_apply_tree
from remote_engines import S3_ENV, S3Server, running_postgres

READS = 5


def apply_and_plan(
    location: str, count: int, latency_ms: float, parallelism: int
) -> tuple[float, tuple[float, float]]:
    """Wall seconds of apply_plan (N creates + the commit) with the state at `location`,
    then the median wall and CPU milliseconds of a new `campaignctl plan` process on the result (an
    empty plan: the same YAML, the committed state, the same sandbox)."""
    with tempfile.TemporaryDirectory(prefix="backend-bench-") as tmp, Sandbox() as sandbox:
        config = Path(tmp) / "campaigns.d"
        write_apply_tree(config, count)
        settings = Settings(
            api_url=sandbox.url,
            touchpoint_api_url=sandbox.url,
            config_dir=config,
            api_user=sandbox.api_user,
            api_key=SecretStr(sandbox.api_key),
        )
        store = StateStore(backend=open_state(location))
        with store.lock("bench"), open_providers(settings, need_touchpoint=False) as providers:
            plan = compute_plan(
                load_directory(config).campaigns, store.read(), read_live(providers)
            )
            sandbox.set_latency(latency_ms)
            started = time.perf_counter()
            result = apply_plan(
                plan, email=providers.email, touchpoint=None, store=store, parallelism=parallelism
            )
            store.commit()
            wall = time.perf_counter() - started
        store.close()
        if any(step.outcome != Outcome.APPLIED for step in result.steps):
            raise SystemExit(f"bench run failed on {location}: {result.summary_line()}")
        sandbox.set_latency(0)
        return wall, plan_process_ms(location, config, sandbox)


def plan_process_ms(location: str, config: Path, sandbox: Sandbox) -> tuple[float, float]:
    """Median wall and CPU (user + sys) milliseconds of a new `campaignctl plan
    --detailed-exitcode` process (exit 0: nothing to change): everything a CI job pays,
    imports, YAML, state, vendor lists. CPU is steadier than wall on a loaded machine."""
    env = {
        **os.environ,
        "CAMPAIGNCTL_API_URL": sandbox.url,
        "ENGAGELAB_API_USER": sandbox.api_user,
        "ENGAGELAB_API_KEY": sandbox.api_key,
        "CAMPAIGNCTL_STATE": location,
    }
    env.pop("IMBRACE_API_KEY", None)
    argv = [sys.executable, "-m", "reconciler", "plan", "--detailed-exitcode", str(config)]
    walls, cpus = [], []
    for _ in range(READS):
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        assert proc.stderr is not None
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        walls.append((time.perf_counter() - started) * 1000)
        cpus.append((usage.ru_utime + usage.ru_stime) * 1000)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"plan on {location} exited {proc.returncode}: {err[-500:]}")
    return statistics.median(walls), statistics.median(cpus)


def read_ms(location: str, count: int) -> float:
    """Median milliseconds of an unlocked read of the N-campaign state (a new store each
    time, as each `plan` process makes one)."""
    times = []
    for _ in range(READS):
        started = time.perf_counter()
        store = StateStore(backend=open_state(location))
        state = store.read()
        times.append((time.perf_counter() - started) * 1000)
        store.close()
        if len(state.campaigns) != count:
            raise SystemExit(f"read {len(state.campaigns)} of {count} campaigns from {location}")
    return statistics.median(times)


@contextlib.contextmanager
def moto_process() -> Iterator[S3Server]:
    """moto's S3 server in its own process, as a real store is: in this one it would take
    the GIL from the applier's workers and bill its own CPU to the backend."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    os.environ.update(S3_ENV)
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):  # up to ~20 s for it to listen
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            time.sleep(0.1)
        yield S3Server(f"http://127.0.0.1:{port}")
    finally:
        server.terminate()
        server.wait(30)


def cold_read_ms(location: str) -> float:
    """Median milliseconds of a new process that reads the state and exits: what `plan`
    pays for the backend, imports and connection included."""
    code = (
        "from reconciler.state import StateStore\n"
        "from reconciler.state.location import open_state\n"
        f"StateStore(backend=open_state({location!r})).read()\n"
    )
    times = []
    for _ in range(READS):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


@contextlib.contextmanager
def locations(backends: list[str], tmp: Path) -> Iterator[dict[str, str]]:
    with contextlib.ExitStack() as stack:
        found: dict[str, str] = {}
        for kind in backends:
            if kind == "file":
                found[kind] = str(tmp / "state" / "default.json")
            elif kind == "s3":
                s3 = stack.enter_context(moto_process())
                found[kind] = s3.url(s3.new_bucket())
            elif kind == "postgres":
                found[kind] = stack.enter_context(running_postgres()).url()
            else:
                raise SystemExit(f"unknown backend {kind!r}")
        yield found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int, nargs="?", default=1000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--parallelism", type=int, default=8)
    parser.add_argument("--backends", default="file,s3,postgres")
    args = parser.parse_args(argv)
    backends = args.backends.split(",")
    print(
        f"apply {args.count} creates, latency {args.latency_ms:g} ms, parallelism "
        f"{args.parallelism}; per-step durability on every backend"
    )
    with (
        tempfile.TemporaryDirectory(prefix="backend-bench-") as tmp,
        locations(backends, Path(tmp)) as where,
    ):
        runs = {
            k: apply_and_plan(v, args.count, args.latency_ms, args.parallelism)
            for k, v in where.items()
        }
        walls = {k: run[0] for k, run in runs.items()}
        plans = {k: run[1] for k, run in runs.items()}
        reads = {k: read_ms(v, args.count) for k, v in where.items()}
        colds = {k: cold_read_ms(v) for k, v in where.items()}
    base, cold_base = walls.get("file"), colds.get("file")
    plan_base = plans.get("file")
    print(
        f"  {'backend':<10} {'apply wall':>11} {'vs file':>8} {'state read':>11} "
        f"{'read, new process':>18} {'plan process wall/CPU':>22} {'plan overhead wall/CPU':>23}"
    )
    for kind in where:
        ratio = f"{walls[kind] / base:.2f}x" if base else "-"
        extra = f"+{colds[kind] - cold_base:.0f} ms" if cold_base is not None else "-"
        wall, cpu = plans[kind]
        over = (
            f"{wall - plan_base[0]:+.0f} / {cpu - plan_base[1]:+.0f} ms"
            if plan_base is not None
            else "-"
        )
        print(
            f"  {kind:<10} {walls[kind]:>9.2f} s {ratio:>8} {reads[kind]:>8.0f} ms "
            f"{extra:>18} {wall:>10.0f} / {cpu:>5.0f} ms {over:>23}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
