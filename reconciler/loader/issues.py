"""Issues at 1-based lines and columns from 0-based YAML marks (import-light: walking a
directory reports with these before any YAML parser is loaded)."""

from __future__ import annotations

from typing import Any

from reconciler.errors import ConfigIssue

Path_ = tuple[str | int, ...]


class Mark:
    """A 0-based position as ruamel's marks carry it (for issues made without a node)."""

    def __init__(self, line: int = 0, column: int = 0) -> None:
        self.line = line
        self.column = column


def issue(file: str, mark: Any, path: Path_, message: str, severity: str = "error") -> ConfigIssue:
    """An issue at a ruamel mark (0-based), or at line 1 column 1 without one."""
    line = mark.line + 1 if mark is not None else 1
    column = mark.column + 1 if mark is not None else 1
    return ConfigIssue(file, line, column, tuple(path), message, severity)


def unique(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    """Issues sorted, each once."""
    # A defaults value broken once is reported once, not once per campaign that inherits it.
    return sorted(set(issues))
