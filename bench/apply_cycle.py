"""Where an apply's time goes, worker by worker: issue 17's apply figures taken apart.

Usage: python bench/apply_cycle.py [--count N] [--latency-ms L] [--parallelism 8,16]

For each P, `campaignctl apply` of N creates (the campaigns perf_bench applies) runs as its
own process against the sandbox (its own process, at L ms), instrumented from inside: when
its first create is sent (seconds since the process started), how long each create's
`send` takes, and how long a worker takes from one answer to its next create (reading and
decoding the answer, the journal line and its fsync, the progress lines, the next body).
Beside it, the same creates from P threads of plain `http.client` (the sandbox's own
floor), and what the two give as a bound: first create + rounds x (the sandbox's own round
+ the median gap), against the issue's target. Also a create's client CPU, measured alone
(one thread, no latency). Loopback only; every loop is bounded by N.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from perf_data import RAW_CREATE_CHILD, apply_ideal_s, write_apply_tree
from perf_proc import Side, checked, child_env, run_child, sandbox_process

REPO = Path(__file__).resolve().parent.parent
TARGETS = {8: 1.25, 16: 1.3}

#: `campaignctl <argv>` with the create calls timed from inside; the figures go to the file
#: named by argv[1] as the process ends (main() ends with os._exit, wrapped here).
_TIMED_APPLY = """
import json, os, sys, threading, time
with open('/proc/self/stat') as f:
    started_ticks = int(f.read().rsplit(')', 1)[1].split()[19])
with open('/proc/uptime') as f:
    uptime = float(f.read().split()[0])
t0 = time.monotonic() - (uptime - started_ticks / os.sysconf('SC_CLK_TCK'))
out, calls = sys.argv[1], {}
import reconciler.providers.http.session as session
real_send = session.TimeoutSession.send
def send(self, request, **kwargs):
    start = time.monotonic()
    try:
        return real_send(self, request, **kwargs)
    finally:
        if request.method == 'POST':
            calls.setdefault(threading.get_ident(), []).append((start - t0, time.monotonic() - t0))
session.TimeoutSession.send = send
real_exit = os._exit
def report(code):
    with open(out, 'w') as f:
        json.dump(list(calls.values()), f)
    real_exit(code)
os._exit = report
from reconciler.cli import main
sys.argv = ['campaignctl', *sys.argv[2:]]
main()
"""

#: A create's client CPU, alone: N creates from one thread through EmailProvider.
_CREATE_CPU = """
import sys, time
from pydantic import SecretStr
from reconciler.providers.engagelab.client import EmailProvider
url, user, key, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
provider = EmailProvider(url, user, SecretStr(key))
body = {'kind': 'EmailCampaign', 'campaign_type': 'normal', 'sender_id': '53',
        'to': {'type': 'tag', 'value': ['bench']}, 'template_invoke_name': 'bench_template',
        'subject': 'Bench subject', 'time_zone': 8}
for index in range(20):  # warm: connections, caches
    provider.create_campaign({**body, 'name': f'warm-{index:05d}'})
start = time.process_time()
for index in range(count):
    provider.create_campaign({**body, 'name': f'cpu-{index:05d}'})
print((time.process_time() - start) / count * 1000)
"""


def cycle_figures(calls: list[list[list[float]]]) -> dict[str, float]:
    """First create, median and mean send and gap (ms) from each worker's (start, end) list."""
    sends = [end - start for worker in calls for start, end in worker]
    gaps = [b[0] - a[1] for worker in calls for a, b in itertools.pairwise(worker)]
    return {
        "first_create_s": min(start for worker in calls for start, _ in worker),
        "send_median_ms": statistics.median(sends) * 1000,
        "send_mean_ms": statistics.fmean(sends) * 1000,
        "gap_median_ms": statistics.median(gaps) * 1000 if gaps else 0.0,
        "gap_mean_ms": statistics.fmean(gaps) * 1000 if gaps else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--parallelism", default="8,16")
    parser.add_argument("--cpu-count", type=int, default=500, help="creates for the CPU figure")
    opts = parser.parse_args(argv)
    if not 1 <= opts.count <= 10_000 or not 1 <= opts.cpu_count <= 10_000:
        parser.error("--count and --cpu-count: 1..10000")
    side = Side.of("this", REPO)
    with tempfile.TemporaryDirectory(prefix="apply-cycle-") as tmp:
        work = Path(tmp)
        tree = work / "tree"
        write_apply_tree(tree, opts.count)
        with sandbox_process(side, work) as sandbox:
            credentials = [sandbox.url, sandbox.API_USER, sandbox.API_KEY]
            sandbox.reset()
            cpu = checked(
                run_child(
                    [side.python, "-c", _CREATE_CPU, *credentials, str(opts.cpu_count)],
                    cwd=work,
                    env=child_env(side.root),
                ),
                "create CPU",
            )
            print(f"a create's client CPU, alone: {float(cpu.stdout.split()[-1]):.3f} ms")
            for parallelism in (int(p) for p in opts.parallelism.split(",")):
                rounds = math.ceil(opts.count / parallelism)
                sandbox.reset()
                sandbox.set_latency(opts.latency_ms)
                raw_argv = [side.python, "-c", RAW_CREATE_CHILD, *credentials]
                raw = checked(
                    run_child(
                        [*raw_argv, str(opts.count), str(parallelism)],
                        cwd=work,
                        env=child_env(None),
                    ),
                    "raw creates",
                )
                floor_s = float(raw.stdout.split()[-1])
                sandbox.reset()
                sandbox.set_latency(opts.latency_ms)
                home = work / f"apply-{parallelism}"
                home.mkdir()
                figures_file = home / "calls.json"
                apply_argv = ["--state", "state.json", "apply", str(tree), "--auto-approve"]
                run = checked(
                    run_child(
                        [side.python, "-c", _TIMED_APPLY, str(figures_file), *apply_argv,
                         "--parallelism", str(parallelism)],
                        cwd=home,
                        env=child_env(side.root, sandbox.client_env()),
                    ),
                    f"apply at P={parallelism}",
                )  # fmt: skip
                print_row(
                    parallelism,
                    rounds,
                    opts,
                    run.wall_s,
                    floor_s,
                    cycle_figures(json.loads(figures_file.read_text())),
                )
    return 0


def print_row(
    parallelism: int,
    rounds: int,
    opts: Any,
    wall_s: float,
    floor_s: float,
    figures: dict[str, float],
) -> None:
    ideal = apply_ideal_s(opts.count, opts.latency_ms, parallelism)
    floor_round_ms = floor_s / rounds * 1000
    bound = figures["first_create_s"] + rounds * (floor_round_ms + figures["gap_median_ms"]) / 1000
    target = TARGETS.get(parallelism)
    aim = f", target {target}x = {target * ideal:.3f} s" if target else ""
    print(
        f"P={parallelism}: apply {wall_s:.3f} s ({wall_s / ideal:.2f}x of {ideal:.2f} s{aim})\n"
        f"  first create at {figures['first_create_s']:.3f} s; {rounds} rounds\n"
        f"  a create's call: median {figures['send_median_ms']:.2f} ms, "
        f"mean {figures['send_mean_ms']:.2f} ms (latency {opts.latency_ms:g} ms)\n"
        f"  a worker from an answer to its next call: median {figures['gap_median_ms']:.2f} ms,"
        f" mean {figures['gap_mean_ms']:.2f} ms\n"
        f"  the sandbox alone (plain http.client): {floor_s:.3f} s, "
        f"{floor_round_ms:.2f} ms a round\n"
        f"  bound: first create + rounds x (sandbox round + median gap) = {bound:.3f} s "
        f"({bound / ideal:.2f}x)"
    )


if __name__ == "__main__":
    sys.exit(main())
