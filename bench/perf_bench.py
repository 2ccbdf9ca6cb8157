"""Issue 17's bench: each figure of campaignctl beside its network floor or baseline, with ratios.

Usage (from the repository root, with the project's venv):
  .venv/bin/python bench/perf_bench.py [--sizes 1000,10000,50000] [--before DIR]
      [--profile PATH] [--repeat R] [--json | --json-out FILE] [--show FILE]
      [--only plan,validate,apply,startup]

Every measured command is a separate `python -m reconciler ...` process; its wall (spawn to
reap), CPU (user+sys) and peak memory (max RSS) are its own, from os.wait4(). The sandbox
runs as its own process (`campaignctl sandbox --port 0`), seeded through its admin API.
Set-up (seeding, `campaignctl import`, writing YAML trees) is not measured.

Figures (the targets are issue 17's):
- plan, N converged campaigns at --latency-ms: beside issue 17's network floor
  (1 + ceil((pages - 1) / 4)) x latency, pages = ceil(N / PAGE_LIMIT) with PAGE_LIMIT read
  from the code under test; the JSON also has `code_floor_s`, the same with W = LIST_WORKERS
  (reconciler/providers/http/paging.py), the pages the client really fetches at once.
- plan, every campaign differing from live in one field: beside the same side's converged plan.
- validate, N files: beside the time PyYAML's C loader takes to read and parse the same files,
  timed inside its own child (the loop only: start-up excluded from the baseline, included
  in campaignctl's wall, so the ratio is what a user waits against pure parsing).
- apply, --apply-count creates at --apply-latency-ms, parallelism 8 and 16, whole command:
  beside the ideal ceil(N / P) x latency.
- start-up: `--help` and `validate` of an empty directory, best and median of --startup-runs,
  beside the 0.1 s target.
With --before DIR every figure is also taken with DIR's code (PYTHONPATH=DIR, DIR/.venv's
Python if it has one), side by side in the same run (interleaved when --repeat R keeps the
least wall of R runs), and after/before ratios of wall and CPU are printed. On a shared
machine, judge by the CPU columns: the wall includes waiting for the other processes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import perf_data as data
import perf_profile
from perf_proc import (
    ChildRun,
    SandboxProcess,
    Side,
    checked,
    child_env,
    run_child,
    sandbox_process,
)
from perf_report import Figure, Row, render

REPO = Path(__file__).resolve().parent.parent
FIGURES = ("plan", "validate", "apply", "startup")
STARTUP_TARGET_S = 0.1
PROFILE_SIZE = 10_000
#: One measured child and what else was read about it (requests sent, sandbox CPU...).
Measured = tuple[ChildRun, dict[str, Any]]


@dataclass(frozen=True)
class Options:
    sizes: list[int]
    latency_ms: float
    apply_count: int
    apply_latency_ms: float
    parallelism: list[int]
    startup_runs: int
    repeat: int
    only: frozenset[str]
    profile: Path | None
    workdir: Path


def paging_of(side: Side, workdir: Path) -> tuple[int, int]:
    """(PAGE_LIMIT, LIST_WORKERS) of side's code: the floor follows the code, not a guess."""
    run = checked(
        run_child([side.python, "-c", data.PAGING_CHILD], cwd=workdir, env=child_env(side.root)),
        f"reading the paging constants of {side.root}",
    )
    page_limit, workers = (int(word) for word in run.stdout.split())
    return page_limit, workers


def plan_summary(run: ChildRun) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads(run.stdout).get("summary", {})
    return summary


def bench_plan(
    sandbox: SandboxProcess,
    sides: Sequence[Side],
    n: int,
    opts: Options,
    paging: dict[str, tuple[int, int]],
    profile_lines: list[str],
) -> list[Row]:
    """The converged and the all-differing plan of n campaigns, each side in turn."""
    home = opts.workdir / f"plan-{n}"
    (home / "campaigns.d").mkdir(parents=True)
    sandbox.reset()
    sandbox.seed(n, "bench-")
    env_by_side = {s.name: child_env(s.root, sandbox.client_env()) for s in sides}
    # Set up with the oldest code: newer code reads an older state file, not always the reverse.
    setup = sides[0]
    args = ("--state", "state.json", "--config-dir", "campaigns.d")
    checked(
        run_child(setup.argv(*args, "import"), cwd=home, env=env_by_side[setup.name]),
        f"import of {n} campaigns",
    )
    sandbox.set_latency(opts.latency_ms)
    plan = (*args, "plan", "campaigns.d", "--format", "json", "--detailed-exitcode")
    trips = {s.name: data.list_round_trips(n, *paging[s.name]) for s in sides}
    converged = Row(
        f"plan converged @{opts.latency_ms:g}ms",
        n,
        "floor (4 pages/trip)",
        "<=1.5x <300MB" if n >= 50_000 else "<=1.3x",
    )

    def converged_once(side: Side) -> Measured:
        before, sandbox_cpu = sandbox.stats()["requests"], sandbox.cpu_s()
        run = checked(
            run_child(side.argv(*plan), cwd=home, env=env_by_side[side.name]),
            f"{side.name}: converged plan of {n}",
        )
        summary = plan_summary(run)
        if summary.get("no_op") != n or summary.get("has_changes"):
            raise SystemExit(f"bench: {side.name}: the converged plan is not empty: {summary}")
        return run, {
            "requests": sandbox.stats()["requests"] - before,
            "round_trips_floor": trips[side.name],
            "sandbox_cpu_s": round(sandbox.cpu_s() - sandbox_cpu, 3),
        }

    for name, (run, extra) in measure_sides(sides, opts.repeat, converged_once).items():
        # The target's floor is issue 17's: page one, then the rest ISSUE_FLOOR_WORKERS at a
        # time. The client fetches LIST_WORKERS at once, so its own network floor is lower;
        # the JSON keeps that one too.
        page_limit, workers = paging[name]
        floor = data.plan_floor_s(n, opts.latency_ms, page_limit, data.ISSUE_FLOOR_WORKERS)
        extra["code_floor_s"] = data.plan_floor_s(n, opts.latency_ms, page_limit, workers)
        converged.sides[name] = Figure(run, floor, extra=extra)
    if opts.profile is not None and n == profile_size(opts.sizes):
        side = sides[-1]
        profile_lines += profile_plan(side, plan, home, env_by_side[side.name], opts.profile)
    changed = data.make_every_campaign_differ(home / "campaigns.d")
    if changed != n:
        raise SystemExit(f"bench: only {changed} of {n} imported files could be changed")
    differ = Row("plan all differ", n, "converged plan (own)", "<=2x")

    def differ_once(side: Side) -> Measured:
        sandbox_cpu = sandbox.cpu_s()
        run = checked(
            run_child(side.argv(*plan), cwd=home, env=env_by_side[side.name]),
            f"{side.name}: all-differing plan of {n}",
            codes=(2,),
        )
        summary = plan_summary(run)
        if summary.get("update") != n:
            raise SystemExit(f"bench: {side.name}: expected {n} updates, got {summary}")
        return run, {"sandbox_cpu_s": round(sandbox.cpu_s() - sandbox_cpu, 3)}

    for name, (run, extra) in measure_sides(sides, opts.repeat, differ_once).items():
        differ.sides[name] = Figure(run, converged.sides[name].run.wall_s, extra=extra)
    shutil.rmtree(home, ignore_errors=True)
    return [converged, differ]


def measure_sides(
    sides: Sequence[Side], repeat: int, once: Callable[[Side], Measured]
) -> dict[str, Measured]:
    """Each side's least-wall run of `repeat`, the sides interleaved (before, after, before...)
    so that a burst of load elsewhere on the machine falls on both."""
    results: dict[str, list[Measured]] = {side.name: [] for side in sides}
    for _ in range(repeat):
        for side in sides:
            results[side.name].append(once(side))
    best = {name: min(runs, key=lambda r: r[0].wall_s) for name, runs in results.items()}
    return {name: (run, {**extra, "runs": repeat}) for name, (run, extra) in best.items()}


def profile_size(sizes: Sequence[int]) -> int:
    return PROFILE_SIZE if PROFILE_SIZE in sizes else max(sizes)


def profile_plan(
    side: Side, plan: Sequence[str], home: Path, env: dict[str, str], out: Path
) -> list[str]:
    """Profile one more converged plan (not a figure); return its summary's lines."""
    out = out.resolve()
    tool, argv = perf_profile.profiler_argv(side.python, out, plan)
    run = checked(run_child(argv, cwd=home, env=env), f"the plan under {tool}")
    head = f"profile of a converged plan ({side.name}, {run.wall_s:.2f} s under {tool}): {out}"
    return [head, *perf_profile.summarise(tool, out)]


def bench_validate(sides: Sequence[Side], n: int, opts: Options) -> Row:
    """validate of n files beside PyYAML's C loader parsing the same files."""
    tree = opts.workdir / f"validate-{n}"
    data.write_validate_tree(tree, n)
    parse = checked(
        run_child(
            [sys.executable, "-c", data.YAML_PARSE_CHILD, str(tree)],
            cwd=opts.workdir,
            env=child_env(None),
        ),
        "the PyYAML baseline",
    )
    files, loop_s = parse.stdout.split()
    target = "<=1.5x <200MB" if n >= 50_000 else "<=1.5x"
    row = Row("validate", n, "yaml.CSafeLoader loop", target)
    extra = {
        "yaml_files": int(files),
        # The whole parse child (start-up and PyYAML's import included), for a CPU comparison.
        "yaml_child_wall_s": round(parse.wall_s, 4),
        "yaml_child_cpu_s": round(parse.cpu_s, 4),
    }

    def validate_once(side: Side) -> Measured:
        argv = side.argv("validate", str(tree))
        run = run_child(argv, cwd=opts.workdir, env=child_env(side.root))
        return checked(run, f"{side.name}: validate of {n} files"), extra

    for name, (run, more) in measure_sides(sides, opts.repeat, validate_once).items():
        row.sides[name] = Figure(run, float(loop_s), extra=more)
    shutil.rmtree(tree, ignore_errors=True)
    return row


def bench_apply(sandbox: SandboxProcess, sides: Sequence[Side], opts: Options) -> list[Row]:
    """apply of apply_count creates, whole command, at each parallelism."""
    n = opts.apply_count
    tree = opts.workdir / "apply-tree"
    data.write_apply_tree(tree, n)
    rows = []
    for parallelism in opts.parallelism:
        ideal = data.apply_ideal_s(n, opts.apply_latency_ms, parallelism)
        target = {8: "<=1.25x", 16: "<=1.3x"}.get(parallelism, "-")
        row = Row(
            f"apply P{parallelism} @{opts.apply_latency_ms:g}ms", n, "ceil(N/P) x lat", target
        )

        def apply_once(side: Side, parallelism: int = parallelism) -> Measured:
            sandbox.reset()
            sandbox.set_latency(opts.apply_latency_ms)
            home = opts.workdir / f"apply-{side.name}-{parallelism}"
            home.mkdir()
            sandbox_cpu = sandbox.cpu_s()
            argv = side.argv(
                "--state", "state.json", "apply", str(tree), "--auto-approve",
                "--parallelism", str(parallelism),
            )  # fmt: skip
            run = checked(
                run_child(argv, cwd=home, env=child_env(side.root, sandbox.client_env())),
                f"{side.name}: apply of {n} creates",
            )
            created = sandbox.stats()["objects"]["email_campaigns"]
            if created != n:
                raise SystemExit(f"bench: {side.name}: apply left {created} of {n} campaigns")
            shutil.rmtree(home, ignore_errors=True)
            return run, {"sandbox_cpu_s": round(sandbox.cpu_s() - sandbox_cpu, 3)}

        for name, (run, extra) in measure_sides(sides, opts.repeat, apply_once).items():
            row.sides[name] = Figure(run, ideal, extra=extra)
        rows.append(row)
        rows.append(bench_raw_creates(sandbox, sides, opts, parallelism, ideal))
    shutil.rmtree(tree, ignore_errors=True)
    return rows


def bench_raw_creates(
    sandbox: SandboxProcess, sides: Sequence[Side], opts: Options, parallelism: int, ideal: float
) -> Row:
    """The sandbox's own floor beside `apply`: the same creates from P threads of plain
    http.client (no YAML, no plan, no state), the loop only. Not a target: what is left
    of apply's ratio above it is campaignctl's."""
    n = opts.apply_count
    row = Row(f"  raw http.client P{parallelism}", n, "ceil(N/P) x lat", "(floor)")

    def raw_once(side: Side) -> Measured:
        sandbox.reset()
        sandbox.set_latency(opts.apply_latency_ms)
        argv = [
            side.python, "-c", data.RAW_CREATE_CHILD, sandbox.url,
            sandbox.API_USER, sandbox.API_KEY, str(n), str(parallelism),
        ]  # fmt: skip
        run = checked(run_child(argv, cwd=opts.workdir, env=child_env(None)), "raw creates")
        loop_s = float(run.stdout.split()[-1])
        return dataclasses.replace(run, wall_s=loop_s), {"process_wall_s": run.wall_s}

    for name, (run, extra) in measure_sides(sides, opts.repeat, raw_once).items():
        row.sides[name] = Figure(run, ideal, extra=extra)
    return row


def bench_startup(sides: Sequence[Side], opts: Options) -> list[Row]:
    """`--help` and `validate EMPTY`: best and median of startup_runs each."""
    empty = opts.workdir / "empty"
    empty.mkdir(exist_ok=True)
    commands = {
        "start-up --help": (("--help",), (0,)),
        # An empty directory is an error ("no campaigns found", exit 1): start-up is measured.
        "start-up validate empty": (("validate", str(empty)), (0, 1)),
    }
    rows = []
    for figure, (args, codes) in commands.items():
        row = Row(figure, 0, "target", "<1x (0.1 s)")
        for side in sides:
            runs = [
                checked(
                    run_child(side.argv(*args), cwd=empty, env=child_env(side.root)),
                    f"{side.name}: {figure}",
                    codes=codes,
                )
                for _ in range(opts.startup_runs)
            ]
            best = min(runs, key=lambda r: r.wall_s)
            median = statistics.median(r.wall_s for r in runs)
            row.sides[side.name] = Figure(
                best, STARTUP_TARGET_S, median_s=median, extra={"runs": len(runs)}
            )
        rows.append(row)
    return rows


def run_all(sides: Sequence[Side], opts: Options, profile_lines: list[str]) -> list[Row]:
    rows: list[Row] = []
    if "startup" in opts.only:
        rows += bench_startup(sides, opts)
    if "validate" in opts.only:
        rows += [bench_validate(sides, n, opts) for n in opts.sizes]
    if opts.only & {"plan", "apply"}:
        paging = {side.name: paging_of(side, opts.workdir) for side in sides}
        sandbox_home = opts.workdir / "sandbox"
        sandbox_home.mkdir()
        # The sandbox is this checkout's, for both sides: only the client differs.
        with sandbox_process(sides[-1], sandbox_home) as sandbox:
            if "plan" in opts.only:
                for n in opts.sizes:
                    rows += bench_plan(sandbox, sides, n, opts, paging, profile_lines)
            if "apply" in opts.only:
                rows += bench_apply(sandbox, sides, opts)
    return rows


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30, check=False
    )
    return done.stdout.strip()


def git_rev(root: Path) -> str:
    rev = _git(root, "rev-parse", "--short", "HEAD") or "?"
    dirty = _git(root, "status", "--porcelain", "--untracked-files=no")
    return rev + ("+dirty" if dirty else "")


def machine() -> dict[str, Any]:
    return {
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, Options]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,50000", help="N for plan and validate")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="plan latency")
    parser.add_argument("--apply-count", type=int, default=1000)
    parser.add_argument("--apply-latency-ms", type=float, default=20.0)
    parser.add_argument("--parallelism", default="8,16")
    parser.add_argument("--startup-runs", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=1, help="runs per figure; best wall kept")
    parser.add_argument("--only", default=",".join(FIGURES), help="figures to take")
    parser.add_argument("--before", type=Path, help="another checkout to compare with")
    parser.add_argument("--profile", type=Path, help="cProfile of the 10k converged plan")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--json-out", type=Path, help="also save the JSON report here")
    parser.add_argument("--show", type=Path, help="print a saved JSON report as the table")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    parallelism = [int(p) for p in args.parallelism.split(",") if p.strip()]
    only = frozenset(f.strip() for f in args.only.split(",") if f.strip())
    if not sizes or any(not 1 <= n <= 100_000 for n in sizes):
        parser.error("--sizes: each N must be 1..100000 (the sandbox seeds at most 100,000)")
    if not 1 <= args.apply_count <= 100_000 or any(not 1 <= p <= 64 for p in parallelism):
        parser.error("--apply-count must be 1..100000 and each --parallelism 1..64")
    if not 1 <= args.startup_runs <= 50 or not 1 <= args.repeat <= 20:
        parser.error("--startup-runs must be 1..50 and --repeat 1..20")
    if not only <= set(FIGURES):
        parser.error(f"--only must be a subset of {','.join(FIGURES)}")
    if args.latency_ms < 0 or args.apply_latency_ms < 0:
        parser.error("latencies must not be negative")
    if args.before is not None and not (args.before / "reconciler" / "__main__.py").exists():
        parser.error(f"--before {args.before}: no reconciler package there")
    opts = Options(
        sizes=sizes,
        latency_ms=args.latency_ms,
        apply_count=args.apply_count,
        apply_latency_ms=args.apply_latency_ms,
        parallelism=parallelism,
        startup_runs=args.startup_runs,
        repeat=args.repeat,
        only=only,
        profile=args.profile,
        workdir=Path("."),
    )
    return args, opts


def main(argv: Sequence[str] | None = None) -> int:
    args, opts = parse_args(argv)
    if args.show is not None:
        print("\n".join(render(json.loads(args.show.read_text()))))
        return 0
    sides = [Side.of("after", REPO)]
    if args.before is not None:
        sides.insert(0, Side.of("before", args.before))
    load_before = machine()  # other work on the machine shows in every figure: say how much
    with tempfile.TemporaryDirectory(prefix="perf-bench-") as tmp:
        opts = Options(**{**opts.__dict__, "workdir": Path(tmp)})
        profile_lines: list[str] = []
        rows = run_all(sides, opts, profile_lines)
    report: dict[str, Any] = {
        "machine": {**load_before, "loadavg_after": machine()["loadavg"]},
        "sides": {
            s.name: {"root": str(s.root), "rev": git_rev(s.root), "python": s.python} for s in sides
        },
        "settings": {k: str(v) for k, v in opts.__dict__.items() if k != "workdir"},
        "rows": [row.as_dict() for row in rows],
        "profile": profile_lines,
    }
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1) if args.json else "\n".join(render(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
