"""Time `campaignctl validate` on N generated campaign files.

Usage: .venv/bin/python bench/validate_bench.py [N] [--cli]

Writes N small campaign files (a mix of normal, A/B and messaging campaigns, with a
`_defaults.yaml`) to a temporary directory, then loads them in-process with
`load_directory` (the work `validate` does) and reports files, wall seconds and peak memory.
With --cli it also times the command as a user runs it (a fresh process: imports included).
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

NORMAL = """\
name: Campaign {i:05d}
campaign_type: normal
to: {{type: tag, value: [segment-{i}]}}
template_invoke_name: template_{i}
subject: Subject line number {i}
send_time: "2027-0{month}-1{day} 10:00:00"
warm_up:
  - {{domain: gmail.com, rate: 1, upgrade_value: 0.95, downgrade_value: 0.75}}
"""

AB = """\
name: A/B test {i:05d}
campaign_type: ab
to: [{{type: list, value: [all]}}]
template_invoke_name: template_{i}
send_time: "2027-0{month}-1{day} 09:30:00"
ab_test:
  percent: 20
  win_condition: {{time_unit: hour, after_time: 18, compare: open_percent}}
  subjects: ["Subject A {i}", "Subject B {i}"]
"""

MESSAGING = """\
kind: MessagingCampaign
name: Journey {i:05d}
channel_type: whatsapp
touchpoints:
  - {{name: Welcome, type: message, message: "Hi {i}"}}
  - {{name: Nudge, type: message, message: {{text: "Still there?"}}}}
  - {{name: Tag, type: action}}
"""

DEFAULTS = """\
time_zone: 8
reply_to: support@example.com
sender_id: 53
google_track: {campaign_source: newsletter, campaign_medium: email}
"""


def write_files(root: Path, count: int) -> None:
    """Write count campaign files, 500 per sub-directory, and one `_defaults.yaml`."""
    (root / "_defaults.yaml").write_text(DEFAULTS)
    templates = (NORMAL, NORMAL, AB, MESSAGING)
    for i in range(count):
        folder = root / f"team-{i // 500:03d}"
        if i % 500 == 0:
            folder.mkdir()
        text = templates[i % len(templates)].format(i=i, month=1 + i % 9, day=i % 10)
        (folder / f"campaign-{i:05d}.yaml").write_text(text)


def bench_in_process(root: Path) -> tuple[int, float, float]:
    """Return (campaigns, wall seconds, peak traced MiB) of one load_directory run."""
    from reconciler.loader import load_directory

    tracemalloc.start()
    start = time.perf_counter()
    result = load_directory(root)
    wall = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return len(result.campaigns), wall, peak / 2**20


def bench_in_process_untraced(root: Path) -> float:
    from reconciler.loader import load_directory

    start = time.perf_counter()
    load_directory(root)
    return time.perf_counter() - start


def bench_cli(root: Path) -> tuple[int, float, float]:
    """Return (exit code, wall seconds, child max RSS MiB) of `campaignctl validate root`."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    wall = time.perf_counter() - start
    rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return done.returncode, wall, rss_kib / 1024


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    count = int(args[0]) if args else 10_000
    with tempfile.TemporaryDirectory(prefix="validate-bench-") as tmp:
        root = Path(tmp)
        write_files(root, count)
        print(f"files: {count}")
        wall = bench_in_process_untraced(root)
        print(f"in-process load_directory: {wall:.2f} s wall")
        campaigns, _, peak = bench_in_process(root)
        print(f"in-process peak traced memory: {peak:.1f} MiB ({campaigns} campaigns)")
        if "--cli" in argv:
            code, wall, rss = bench_cli(root)
            print(f"campaignctl validate: exit {code}, {wall:.2f} s wall, {rss:.0f} MiB max RSS")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
