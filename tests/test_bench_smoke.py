"""bench/perf_bench.py still runs end to end and produces every figure (a tiny size, 1 ms).

A bench is a measurement, not a test: nothing here judges a figure, only that each one is
taken, with a positive ratio to its floor or baseline, for both sides of a --before run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXPECTED_FIGURES = {
    "start-up --help",
    "start-up validate empty",
    "validate",
    "plan converged @1ms",
    "plan all differ",
    "apply P8 @1ms",
    "apply P16 @1ms",
    "  raw http.client P8",
    "  raw http.client P16",
}


def _run_bench(argv: list[str], cwd: Path, scratch: Path) -> subprocess.CompletedProcess[str]:
    """Run a bench with its temporary files under scratch; it must end well."""
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.slow
def test_perf_bench_takes_every_figure_with_a_positive_ratio_on_both_sides(
    tmp_path: Path,
) -> None:
    profile = tmp_path / "plan.prof"
    argv = [
        sys.executable,
        str(REPO / "bench" / "perf_bench.py"),
        "--sizes", "20", "--latency-ms", "1",
        "--apply-count", "20", "--apply-latency-ms", "1",
        "--startup-runs", "1",
        "--before", str(REPO),  # the same code on both sides: the comparison path runs
        "--profile", str(profile),
        "--json",
    ]  # fmt: skip
    scratch = tmp_path / "tmp"
    done = _run_bench(argv, tmp_path, scratch)
    report = json.loads(done.stdout)
    assert {row["figure"] for row in report["rows"]} == EXPECTED_FIGURES
    for row in report["rows"]:
        assert set(row["sides"]) == {"before", "after"}, row
        for figure in row["sides"].values():
            assert figure["ratio"] > 0, row
            assert figure["wall_s"] > 0 and figure["rss_mib"] > 0, row
    assert profile.stat().st_size > 0
    assert any(line.startswith("top 15 ") for line in report["profile"])
    # Every temporary tree is gone, the sandbox's included.
    assert list(scratch.iterdir()) == []


@pytest.mark.slow
def test_apply_cycle_takes_an_apply_apart_at_each_parallelism(tmp_path: Path) -> None:
    argv = [
        sys.executable, str(REPO / "bench" / "apply_cycle.py"),
        "--count", "12", "--latency-ms", "1", "--parallelism", "2,4", "--cpu-count", "3",
    ]  # fmt: skip
    scratch = tmp_path / "tmp"
    done = _run_bench(argv, tmp_path, scratch)
    assert "a create's client CPU, alone:" in done.stdout
    for parallelism, rounds in ((2, 6), (4, 3)):
        assert f"P={parallelism}: apply " in done.stdout
        assert f"; {rounds} rounds" in done.stdout
    assert done.stdout.count("bound: first create + rounds") == 2
    assert list(scratch.iterdir()) == []
