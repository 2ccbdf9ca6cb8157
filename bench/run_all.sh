#!/usr/bin/env bash
# Every benchmark whose figures the README reports, one after another (about 4 minutes).
# Not part of CI: benchmarks are measurements, not tests. Run from the repository root.
set -euo pipefail
py=${PYTHON:-.venv/bin/python}
echo "== validate: 10,000 files"
$py bench/validate_bench.py 10000 --cli
echo "== list: 10,000 campaigns, 50 ms latency"
$py bench/list_bench.py --count 10000 --latency-ms 50 --runs 3
echo "== plan: N managed campaigns, 50 ms latency"
for n in 100 1000 10000; do $py bench/plan_bench.py "$n" --latency-ms 50; done
echo "== apply: 1,000 creates, 20 ms latency"
for p in 1 4 8 16; do $py bench/apply_bench.py 1000 --latency-ms 20 --parallelism "$p"; done
echo "== apply: N creates, 20 ms latency, parallelism 8"
for n in 100 10000; do $py bench/apply_bench.py "$n" --latency-ms 20 --parallelism 8; done
echo "== calendar and policies: 10,000 campaigns"
$py bench/calendar_bench.py 10000
echo "== state backends: 1,000 creates, 20 ms latency, parallelism 8 (file, S3, PostgreSQL)"
$py bench/state_backends_bench.py 1000 --latency-ms 20 --parallelism 8
