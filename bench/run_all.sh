#!/usr/bin/env bash
# Every benchmark whose figures the README reports, one after another (about 10 minutes).
# Not part of CI: benchmarks are measurements, not tests. Run from the repository root.
# To compare with older code: git worktree add /tmp/before COMMIT, then
#   $py bench/perf_bench.py --before /tmp/before
set -euo pipefail
py=${PYTHON:-.venv/bin/python}
echo "== issue 17: plan / validate (1k, 10k, 50k), apply 1,000 creates (P 8, 16), start-up"
$py bench/perf_bench.py --sizes 1000,10000,50000 "$@"
echo "== issue 17: where an apply's time goes (first create, each call, each worker's gap)"
$py bench/apply_cycle.py --count 1000 --latency-ms 20 --parallelism 8,16
echo "== list: 10,000 campaigns, 50 ms latency"
$py bench/list_bench.py --count 10000 --latency-ms 50 --runs 3
echo "== apply (in-process, parallelism sweep): 1,000 creates, 20 ms latency"
for p in 1 4 8 16; do $py bench/apply_bench.py 1000 --latency-ms 20 --parallelism "$p"; done
echo "== apply (in-process): N creates, 20 ms latency, parallelism 8"
for n in 100 10000; do $py bench/apply_bench.py "$n" --latency-ms 20 --parallelism 8; done
echo "== calendar and policies: 10,000 campaigns"
$py bench/calendar_bench.py 10000
echo "== state backends: 1,000 creates, 20 ms latency, parallelism 8 (file, S3, PostgreSQL)"
$py bench/state_backends_bench.py 1000 --latency-ms 20 --parallelism 8
