"""cProfile of one measured child, summarised by package (perf_bench --profile).

The child runs as `python -m cProfile -o PATH -m reconciler ...`. cProfile sees the main
thread only (list pages decoded on worker threads are missing) and never sees the cyclic
garbage collector, whose pauses land in whatever function was running: the summary says so.
"""

from __future__ import annotations

import pstats
from collections import defaultdict
from pathlib import Path

TOP = 15

#: (substring of a function's file or name, group), first match wins.
_GROUPS: tuple[tuple[str, str], ...] = (
    ("<frozen importlib", "imports"),
    ("ruamel", "yaml"),
    ("/yaml/", "yaml"),
    ("deepdiff", "deepdiff"),
    ("pydantic", "pydantic"),
    ("orjson", "json"),
    ("/json/", "json"),
    ("_json", "json"),
    ("json", "json"),
    ("/requests/", "http"),
    ("/urllib3/", "http"),
    ("/http/client", "http"),
    ("socket", "http"),
    ("/concurrent/", "threads/wait"),
    ("threading", "threads/wait"),
    ("acquire", "threads/wait"),
    ("/click/", "cli (click)"),
    ("marshal", "imports"),
    ("gc.", "gc"),
)


def group_of(filename: str, funcname: str) -> str:
    """The package a profiled function belongs to: yaml, json, planner, imports..."""
    marker = f"{filename} {funcname}"
    if "/reconciler/" in filename:
        tail = filename.split("/reconciler/", 1)[1]
        package = tail.split("/", 1)[0] if "/" in tail else tail.removesuffix(".py")
        return f"reconciler.{package}"
    for needle, group in _GROUPS:
        if needle in marker:
            return group
    return "builtins/other" if filename == "~" else "stdlib/other"


def summarise(path: Path) -> list[str]:
    """Lines: the top cumulative entries tagged by group, then self time per group."""
    stats = pstats.Stats(str(path))
    raw = stats.stats  # type: ignore[attr-defined]  # pstats' documented-by-use table
    total = sum(entry[2] for entry in raw.values()) or 1e-9
    rows = sorted(raw.items(), key=lambda item: item[1][3], reverse=True)
    lines = [f"top {TOP} by cumulative time (main thread; total self time {total:.2f} s):"]
    for (filename, line, funcname), (_, calls, _tt, cumtime, _) in rows[:TOP]:
        where = f"{Path(filename).name}:{line}" if filename != "~" else ""
        lines.append(
            f"  {cumtime:7.3f} s  {calls:>8}  {group_of(filename, funcname):<24} "
            f"{funcname[:48]} {where}"
        )
    by_group: dict[str, float] = defaultdict(float)
    for (filename, _, funcname), entry in raw.items():
        by_group[group_of(filename, funcname)] += entry[2]
    lines.append("self time by group (gc pauses are inside whatever ran):")
    for group, seconds in sorted(by_group.items(), key=lambda item: item[1], reverse=True):
        if seconds / total >= 0.005:
            lines.append(f"  {seconds:7.3f} s  {100 * seconds / total:5.1f}%  {group}")
    return lines
