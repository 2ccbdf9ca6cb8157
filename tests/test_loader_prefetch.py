"""The prefetch worker (issue 17: both cores): a directory loads exactly the same with it as
without it, errors and warnings at the same lines, and the worker never outlives the load,
even when it dies or goes silent.

Each load with a worker runs in a fresh interpreter: the loader forks only when no other
thread runs, and other tests in this process may leave a sandbox thread behind.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import run_python_json, wait_until

from reconciler.loader import LoadError, load_directory
from reconciler.loader.campaigns import PREFETCH_AFTER

EMAIL = """\
name: Campaign {i}
campaign_type: normal
to: {{type: tag, value: [segment-{i}]}}
template_invoke_name: template_{i}
subject: Subject {i}
sender_id: 53
send_time: "2099-01-1{d} 10:00:00"
"""

#: Files after the first few: each goes the loader's own way, or the worker's, and must end
#: the same (the positions of a warning come from nodes composed again from the text).
ODD = {
    "p-past.yaml": EMAIL.format(i="past", d=1).replace("2099", "2020"),
    "p-dup.yaml": EMAIL.format(i=3, d=1),
    "p-bad-yaml.yaml": "name: Bad\ncampaign_type: normal\nbogus: 1\n  x: [\n",
    "p-unknown.yaml": EMAIL.format(i="u", d=2) + "subjct: s\n",
    "p-kind.yaml": "name: K\nkind: EmailCampagn\n",
    "p-two.yaml": "---\n" + EMAIL.format(i="two-a", d=3) + "---\n" + EMAIL.format(i="two-b", d=3),
    "p-empty.yaml": "",
    "p-list.yaml": "- 1\n- 2\n",
}


def write_directory(root: Path, plain: int) -> Path:
    root.mkdir()
    (root / "_defaults.yaml").write_text("time_zone: 8\n")
    for i in range(plain):
        (root / f"c-{i:03d}.yaml").write_text(EMAIL.format(i=i, d=i % 10))
    for name, text in ODD.items():
        (root / name).write_text(text)
    return root


def outcome(root: Path) -> Any:
    """What loading root gives, as JSON-like lists (compared across processes)."""
    try:
        result = load_directory(root)
    except LoadError as error:
        return ["error", [str(i) for i in error.issues], [str(w) for w in error.warnings]]
    campaigns = [[*c.key, c.source.file, c.source.line, c.source.column] for c in result.campaigns]
    return ["ok", campaigns, [str(w) for w in result.warnings]]


_WITH_WORKER = """
import json, os, signal, sys
from pathlib import Path
from reconciler.loader import campaigns, prefetch
from reconciler.loader.prefetch import Prefetcher
sys.path.insert(0, sys.argv[4])
from test_loader_prefetch import outcome

root, after, mode = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
campaigns.PREFETCH_AFTER = after
workers, taken = [], []
real_start, real_take = Prefetcher.start.__func__, Prefetcher.take

def start(cls, root, skip):
    worker = real_start(cls, root, skip)
    if worker is not None:
        workers.append(worker)
        if mode == "kill":
            os.kill(worker.pid, signal.SIGKILL)
    return worker

def take(worker, path):
    doc = real_take(worker, path)
    taken.append(doc is not None)
    return doc

prefetch.PATIENT = mode != "impatient"
if mode == "stall":
    prefetch.WAIT_SECONDS = 0.0  # any wait counts as silence
    prefetch._work = lambda root, skip, fd: signal.pause()  # never sends a thing

Prefetcher.start, Prefetcher.take = classmethod(start), take
end_early = lambda: None
if mode in ("early", "thread"):  # as in `plan`: another thread runs while the YAML loads
    import threading
    if mode == "early":
        prefetch.PREFETCH_AFTER = after
        end_early = prefetch.parse_ahead(root)  # forked while this is the only thread
    hold = threading.Event()
    threading.Thread(target=hold.wait, daemon=True).start()
result = outcome(root)
end_early()
reaped = []
for worker in workers:
    try:
        os.waitpid(worker.pid, os.WNOHANG)
        reaped.append(False)
    except ChildProcessError:
        reaped.append(True)
print(json.dumps({"outcome": result, "workers": len(workers), "taken": sum(taken),
                  "done": [w.done for w in workers], "reaped": reaped}))
"""


TESTS = Path(__file__).parent


def with_worker(root: Path, after: int, mode: str = "normal") -> dict[str, Any]:
    """Load root in a fresh interpreter with a worker past `after` files."""
    return run_python_json(_WITH_WORKER, str(root), str(after), mode, str(TESTS))


def test_a_directory_loads_the_same_with_the_worker_as_without(tmp_path: Path) -> None:
    root = write_directory(tmp_path / "config", plain=20)
    alone = outcome(root)
    assert alone[0] == "error" and any("in the past" in w for w in alone[2])
    run = with_worker(root, after=3)
    assert run["outcome"] == alone
    assert run["workers"] == 1 and run["taken"] >= 15  # the plain files came from the worker
    assert run["done"] == run["reaped"] == [True]  # and it was reaped when the load ended


def test_a_loader_that_does_not_wait_for_the_worker_loads_the_same(tmp_path: Path) -> None:
    root = write_directory(tmp_path / "config", plain=20)
    for _ in range(3):  # whichever files each side happens to parse
        assert with_worker(root, after=3, mode="impatient")["outcome"] == outcome(root)


def test_a_valid_directory_has_the_same_campaigns_and_sources_with_the_worker(
    tmp_path: Path,
) -> None:
    root = tmp_path / "config"
    root.mkdir()
    for i in range(30):
        (root / f"c-{i:03d}.yaml").write_text("# a comment\n\n" + EMAIL.format(i=i, d=i % 10))
    alone = outcome(root)
    assert alone[0] == "ok" and alone[1][5][3] == 3  # the document starts after the comment
    run = with_worker(root, after=2)
    assert run["outcome"] == alone
    assert run["taken"] == 28


def test_a_worker_that_dies_leaves_the_loader_to_parse_alone(tmp_path: Path) -> None:
    root = write_directory(tmp_path / "config", plain=20)
    run = with_worker(root, after=3, mode="kill")
    assert run["outcome"] == outcome(root)
    assert run["workers"] == 1 and run["taken"] == 0
    assert run["reaped"] == [True]


def test_a_silent_worker_is_given_up_and_killed(tmp_path: Path) -> None:
    root = write_directory(tmp_path / "config", plain=20)
    run = with_worker(root, after=3, mode="stall")
    assert run["outcome"] == outcome(root)
    assert run["workers"] == 1 and run["taken"] == 0
    assert run["done"] == run["reaped"] == [True]


def test_a_worker_forked_before_other_threads_start_is_the_loaders(tmp_path: Path) -> None:
    # `plan` lists live campaigns and reads the state on threads while the YAML loads, and
    # the loader refuses to fork then: parse_ahead() forks first, and the loader claims it.
    root = write_directory(tmp_path / "config", plain=20)
    alone = outcome(root)
    refused = with_worker(root, after=3, mode="thread")
    assert refused["workers"] == 0 and refused["outcome"] == alone
    early = with_worker(root, after=3, mode="early")
    assert early["outcome"] == alone
    assert early["workers"] == 1 and early["taken"] >= 15  # the plain files came from it
    assert early["done"] == early["reaped"] == [True]


def test_an_unclaimed_early_worker_is_ended_with_the_load(tmp_path: Path) -> None:
    root = write_directory(tmp_path / "config", plain=2)  # fewer files than the threshold
    run = with_worker(root, after=50, mode="early")
    assert run["workers"] == 1 and run["taken"] == 0
    assert run["reaped"] == [True] and run["outcome"] == outcome(root)


def test_no_worker_below_the_threshold(tmp_path: Path) -> None:
    root = write_directory(tmp_path / "config", plain=20)
    run = with_worker(root, after=PREFETCH_AFTER)
    assert run["workers"] == 0 and PREFETCH_AFTER >= 100  # a small config pays no fork
    assert run["outcome"] == outcome(root)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def _running(pid: int) -> bool:
    """Whether pid is a live process (a zombie waiting to be reaped is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_the_worker_dies_with_a_killed_validate(tmp_path: Path) -> None:
    root = tmp_path / "config"
    root.mkdir()
    for i in range(PREFETCH_AFTER + 6000):  # enough for the worker to be busy when killed
        (root / f"c-{i:05d}.yaml").write_text(EMAIL.format(i=i, d=i % 10))
    validate = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "validate", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_until(lambda: bool(_children(validate.pid)), 60), "no worker started"
        (worker,) = _children(validate.pid)
        validate.send_signal(signal.SIGKILL)
        validate.wait(30)
        assert wait_until(lambda: not _running(worker), 30), "the worker outlived validate"
    finally:
        validate.kill()
        validate.wait(30)
