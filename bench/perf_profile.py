"""Profile of one measured child, summarised by package (perf_bench --profile).

With py-spy on PATH or beside the Python (`pip install py-spy`), the child runs under
`py-spy record --format raw` (all threads: list pages are decoded on worker threads; the
file is collapsed stacks, for flamegraph.pl or speedscope). Otherwise under
`python -m cProfile -o` (the pstats file), which sees the main thread only. Neither sees
the cyclic garbage collector as such: its pauses land in whatever code was running.
"""

from __future__ import annotations

import pstats
import re
import shutil
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

TOP = 15

#: Path components (a directory, or a module file's stem) and the group they mean.
_COMPONENTS: dict[str, str] = {
    "ruamel": "yaml",
    "yaml": "yaml",
    "_ruamel_yaml": "yaml",
    "deepdiff": "deepdiff",
    "pydantic": "pydantic",
    "pydantic_core": "pydantic",
    "json": "json",
    "orjson": "json",
    "requests": "http",
    "urllib3": "http",
    "http": "http",
    "email": "http",  # http.client parses headers with the email package
    "socket": "http",
    "ssl": "http",
    "concurrent": "threads/wait",
    "threading": "threads/wait",
    "queue": "threads/wait",
    "click": "cli (click)",
    "copy": "copy",
    "re": "re",
    "gc": "gc",
}
_FRAME = re.compile(r"^(?P<func>.*) \((?P<path>[^()]*?)(?::\d+)?\)$")


def group_of(frame: str) -> str:
    """The package of a frame `func (path:line)`: yaml, json, reconciler.planner, imports..."""
    if "<frozen importlib" in frame or "<built-in method _imp." in frame:
        return "imports"
    if "readinto (socket.py" in frame:
        return "network wait"  # a list thread blocked on its socket: py-spy samples it too
    match = _FRAME.match(frame)
    path = match.group("path") if match else frame
    parts = [part.removesuffix(".py") for part in path.split("/") if part]
    if "reconciler" in parts[:-1]:
        after = parts[parts.index("reconciler") + 1 :]
        return "reconciler." + after[0]
    for part in reversed(parts):
        if part in _COMPONENTS:
            return _COMPONENTS[part]
    # Built-ins have no path: their name says what they are (`<built-in method _json...>`).
    for needle in ("json", "yaml", "pydantic", "socket", "acquire", "marshal"):
        if needle in frame:
            return {"acquire": "threads/wait", "socket": "http", "marshal": "imports"}.get(
                needle, needle
            )
    return "other"


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def profiler_argv(python: str, out: Path, tail: Sequence[str]) -> tuple[str, list[str]]:
    """(tool name, argv) that runs `python -m reconciler tail` under a profiler into out."""
    spy = py_spy()
    if spy is not None:
        argv = [spy, "record", "--format", "raw", "-r", "250", "-o", str(out), "--"]
        return "py-spy", [*argv, python, "-m", "reconciler", *tail]
    return "cProfile", [python, "-m", "cProfile", "-o", str(out), "-m", "reconciler", *tail]


def summarise(tool: str, path: Path) -> list[str]:
    return summarise_stacks(path) if tool == "py-spy" else summarise_pstats(path)


def _stack_group(frames: Sequence[str]) -> str:
    # A sample inside an import is start-up cost whatever the module runs; otherwise the
    # innermost frame of a known package (a json.decoder frame under the planner is JSON).
    if any("<frozen importlib" in frame for frame in frames):
        return "imports"
    for frame in reversed(frames):
        group = group_of(frame)
        if group != "other":
            return group
    return "other"


#: Frames on (nearly) every stack that say nothing of where the time goes: the interpreter's
#: and importlib's (imports are a group), click's dispatch, thread start-up, context managers.
_WRAPPERS = (
    "<frozen ",
    "click/",
    "reconciler/__main__.py",
    "reconciler/cli/__init__.py",
    "threading.py",
    "contextlib.py",
    "concurrent/futures/thread.py",
)


def _is_wrapper(frame: str) -> bool:
    return any(marker in frame for marker in _WRAPPERS)


def summarise_stacks(path: Path) -> list[str]:
    """Top cumulative functions and samples per group, from py-spy's collapsed stacks."""
    cumulative: Counter[str] = Counter()
    by_group: Counter[str] = Counter()
    total = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        by_group[_stack_group(frames)] += count
        for frame in set(frames):
            cumulative[frame] += count
    total = max(total, 1)
    lines = [f"top {TOP} by samples on the stack (py-spy, all threads, {total} samples):"]
    shown = [(f, c) for f, c in cumulative.most_common() if not _is_wrapper(f)][:TOP]
    for frame, count in shown:
        lines.append(f"  {100 * count / total:5.1f}%  {group_of(frame):<24} {frame[:90]}")
    lines.append("samples by group (innermost known package; any import frame = imports):")
    lines += [f"  {100 * count / total:5.1f}%  {group}" for group, count in by_group.most_common()]
    return lines


def summarise_pstats(path: Path) -> list[str]:
    """Top cumulative entries tagged by group, then self time per group (main thread)."""
    stats = pstats.Stats(str(path))
    raw = stats.stats  # type: ignore[attr-defined]  # pstats' table, documented by use
    total = sum(entry[2] for entry in raw.values()) or 1e-9
    rows = sorted(raw.items(), key=lambda item: item[1][3], reverse=True)
    lines = [f"top {TOP} by cumulative time (cProfile, main thread; {total:.2f} s self):"]
    for (filename, line, funcname), (_, calls, _tt, cumtime, _) in rows[:TOP]:
        frame = f"{funcname} ({filename}:{line})"
        lines.append(f"  {cumtime:7.3f} s {calls:>8}  {group_of(frame):<24} {frame[-90:]}")
    by_group: dict[str, float] = defaultdict(float)
    for (filename, line, funcname), entry in raw.items():
        by_group[group_of(f"{funcname} ({filename}:{line})")] += entry[2]
    lines.append("self time by group:")
    for group, seconds in sorted(by_group.items(), key=lambda item: item[1], reverse=True):
        lines.append(f"  {seconds:7.3f} s  {100 * seconds / total:5.1f}%  {group}")
    return lines
