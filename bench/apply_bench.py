"""Apply N email campaign creates against the in-process sandbox with injected latency.

Usage: python bench/apply_bench.py N [--latency-ms L] [--parallelism P] [--repeat R]

Writes N YAML campaigns, plans them (not timed), then times `apply_plan`: N creates on a
pool of P workers, each step journalled (fsync'd) to a real state file, and the final
commit. Prints the requests the sandbox served, wall time, peak memory (RSS of this process,
sandbox included), and the ideal N x latency / P that perfect parallelism would give.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from perf_data import write_apply_tree  # the campaigns perf_bench applies
from pydantic import SecretStr

from reconciler.applier import ApplyResult, Outcome, apply_plan
from reconciler.loader import load_directory
from reconciler.planner import compute_plan
from reconciler.providers import open_providers
from reconciler.sandbox import Sandbox
from reconciler.settings import Settings
from reconciler.state import StateStore
from reconciler.workflow import read_live


def run_once(count: int, latency_ms: float, parallelism: int) -> tuple[ApplyResult, float, int]:
    """One full bench: fresh sandbox, config and state; returns (result, wall s, requests)."""
    with tempfile.TemporaryDirectory(prefix="apply-bench-") as tmp, Sandbox() as sandbox:
        root = Path(tmp)
        config = root / "campaigns.d"
        write_apply_tree(config, count)
        settings = Settings(
            api_url=sandbox.url,
            touchpoint_api_url=sandbox.url,
            state_path=root / "state.json",
            config_dir=config,
            api_user=sandbox.api_user,
            api_key=SecretStr(sandbox.api_key),
        )
        store = StateStore(settings.state_path)
        with store.lock("bench"), open_providers(settings, need_touchpoint=False) as providers:
            loaded = load_directory(config)
            plan = compute_plan(loaded.campaigns, store.read(), read_live(providers))
            sandbox.set_latency(latency_ms)
            before = sandbox.request_count()
            started = time.perf_counter()
            result = apply_plan(
                plan,
                email=providers.email,
                touchpoint=None,
                store=store,
                parallelism=parallelism,
            )
            wall = time.perf_counter() - started
            requests = sandbox.request_count() - before
        live = len(sandbox.email_campaigns())
    if live != count or any(step.outcome != Outcome.APPLIED for step in result.steps):
        raise SystemExit(f"bench run failed: {live} live of {count}; {result.summary_line()}")
    return result, wall, requests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int, help="number of campaigns to create")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--parallelism", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=1, help="runs; the best one is reported")
    args = parser.parse_args(argv)
    if args.count < 1 or args.parallelism < 1 or args.repeat < 1:
        parser.error("count, parallelism and repeat must be at least 1")

    runs = [run_once(args.count, args.latency_ms, args.parallelism) for _ in range(args.repeat)]
    result, wall, requests = min(runs, key=lambda r: r[1])
    ideal = args.count * args.latency_ms / 1000 / args.parallelism
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"apply {args.count} creates, latency {args.latency_ms:g} ms, "
        f"parallelism {args.parallelism}"
    )
    print(f"  {result.summary_line()}")
    print(f"  requests sent:  {requests}")
    print(f"  wall:           {wall:.2f} s (best of {args.repeat})")
    print(f"  ideal N*L/P:    {ideal:.2f} s")
    if ideal > 0:
        print(f"  ratio:          {wall / ideal:.2f}x ideal")
    print(f"  peak memory:    {peak_mib:.0f} MiB (RSS, sandbox included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
