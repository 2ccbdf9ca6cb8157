"""Figures of perf_bench and how they print: one row per figure, one column group per side."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from perf_proc import ChildRun


@dataclass(frozen=True)
class Figure:
    """One side's measurement of a figure and the baseline it is compared with."""

    run: ChildRun
    baseline_s: float
    median_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        return self.run.wall_s / self.baseline_s if self.baseline_s > 0 else None

    def as_dict(self) -> dict[str, Any]:
        ratio = self.ratio
        return {
            **self.run.as_dict(),
            "baseline_s": round(self.baseline_s, 4),
            "ratio": None if ratio is None else round(ratio, 3),
            **({"median_wall_s": round(self.median_s, 4)} if self.median_s is not None else {}),
            **self.extra,
        }


@dataclass
class Row:
    """A figure (plan converged at 10k, ...), its baseline's name, target, and each side."""

    figure: str
    n: int
    baseline: str
    target: str
    sides: dict[str, Figure] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "figure": self.figure,
            "n": self.n,
            "baseline": self.baseline,
            "target": self.target,
            "sides": {name: figure.as_dict() for name, figure in self.sides.items()},
        }


def _fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _side_cells(figure: Figure | None) -> str:
    if figure is None:
        return f"{'-':>8} {'-':>7} {'-':>6} {'-':>7}"
    run = figure.run
    wall = f"{run.wall_s:.3f}"
    return f"{wall:>8} {run.cpu_s:7.3f} {run.rss_mib:6.0f} {_fmt_ratio(figure.ratio):>7}"


def table(rows: list[Row], side_names: list[str]) -> list[str]:
    """The compact text table: figure, N, baseline (name and seconds), target, per side
    wall / CPU / peak MiB / ratio to the baseline, and after/before when there are two."""
    head = f"{'figure':<24} {'N':>6} {'baseline':<22} {'base s':>7} {'target':<13}"
    sub = " " * len(head)
    for name in side_names:
        head += f" | {name + ': wall s':>8} {'cpu s':>7} {'MiB':>6} {'ratio':>7}"
        sub += f" | {'(child)':>8} {'(u+s)':>7} {'maxRSS':>6} {'/base':>7}"
    two = len(side_names) == 2
    if two:
        head += f" | {'after/before':>12} {'cpu':>6}"
    lines = [head, sub, "-" * len(head)]
    for row in rows:
        # A baseline of each side's own (the converged plan) shows the last side's.
        base = list(row.sides.values())[-1].baseline_s if row.sides else 0.0
        line = f"{row.figure:<24} {row.n:>6} {row.baseline:<22} {base:7.3f} {row.target:<13}"
        for name in side_names:
            line += " | " + _side_cells(row.sides.get(name))
        if two:
            before, after = (row.sides.get(name) for name in side_names)
            if before and after and before.run.wall_s > 0 and before.run.cpu_s > 0:
                line += (
                    f" | {after.run.wall_s / before.run.wall_s:11.2f}x"
                    f" {after.run.cpu_s / before.run.cpu_s:5.2f}x"
                )
        lines.append(line)
    return lines


def rows_from_json(items: list[dict[str, Any]]) -> list[Row]:
    """Rows back from a saved `--json` report (for `--show`)."""
    rows = []
    for item in items:
        row = Row(item["figure"], item["n"], item["baseline"], item["target"])
        for name, side in item["sides"].items():
            run = ChildRun(
                side["exit_code"], side["wall_s"], side["cpu_s"], side["rss_mib"], "", ""
            )
            row.sides[name] = Figure(run, side["baseline_s"], side.get("median_wall_s"))
        rows.append(row)
    return rows


def render(report: dict[str, Any]) -> list[str]:
    """The whole text report: sides, machine load, the table, the profile summary."""
    lines = [
        f"{name}: {s['root']} @ {s['rev']} ({s['python']})" for name, s in report["sides"].items()
    ]
    m = report["machine"]
    lines.append(
        f"machine: {m['cpus']} CPUs, load {m['loadavg']} -> {m['loadavg_after']},"
        f" Python {m['python']}"
    )
    lines += table(rows_from_json(report["rows"]), list(report["sides"]))
    if report.get("profile"):
        lines += ["", *report["profile"]]
    return lines
