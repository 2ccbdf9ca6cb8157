"""Walking a config directory and reading its YAML files, with every limit and every
unreadable entry reported as an issue.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import ConfigIssue
from reconciler.loader.issues import Mark, issue

#: A campaign file is a few hundred bytes; anything past this is a mistake or an attack.
MAX_FILE_BYTES = 1024 * 1024
#: Files and directories walked per run: bound the walk of a wrong directory (e.g. `/`).
MAX_FILES = 200_000
MAX_DIRECTORIES = 20_000
#: Nodes built per file, alias re-use counted each time: stops "billion laughs" in ms.
MAX_NODES_PER_FILE = 100_000

YAML_SUFFIXES = (".yaml", ".yml")
DEFAULTS_NAMES = ("_defaults.yaml", "_defaults.yml")


@dataclass(frozen=True)
class Listing:
    """One directory's readable YAML files, in name order, and the directory above it."""

    path: str
    parent: str | None
    defaults: list[os.DirEntry[str]]
    campaigns: list[os.DirEntry[str]]


def inside(path: str, root: str) -> bool:
    """Whether path is root or below it (both already normalised the same way)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def check_root(root: Path, issues: list[ConfigIssue]) -> bool:
    """Whether root is a directory; when not, an issue saying why."""
    try:
        is_dir = stat.S_ISDIR(os.stat(root).st_mode)
        what = "is not a directory"
    except FileNotFoundError:
        is_dir, what = False, "does not exist"
    except OSError as exc:  # e.g. a symlink loop (ELOOP)
        is_dir, what = False, f"cannot be read: {exc.strerror}"
    if not is_dir:
        # A directory has no line: its issue is at line 0, printed as the directory alone.
        issues.append(ConfigIssue(str(root), 0, 0, (), f"config directory {what}"))
    return is_dir


def walk(root: Path, issues: list[ConfigIssue]) -> Iterator[Listing]:
    """Each directory under root, parents before children, siblings in name order.

    Hidden entries are skipped; `_`-prefixed files other than the defaults are not
    campaigns. A directory is listed only when the consumer asks for the next one, so it
    may stop early (the file cap).
    """
    directories = 0
    stack: list[tuple[str, str | None]] = [(str(root), None)]
    while stack:
        current, parent = stack.pop()
        directories += 1
        if directories > MAX_DIRECTORIES:
            message = f"more than {MAX_DIRECTORIES} directories: is this the config directory?"
            issues.append(issue(str(root), None, (), message))
            return
        try:
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError as exc:
            issues.append(issue(current, None, (), f"cannot read directory: {exc.strerror}"))
            continue
        files = [e for e in entries if e.name.endswith(YAML_SUFFIXES) and not _is_dir(e)]
        for entry in files:
            if not _is_file(entry) and not entry.name.startswith("."):
                issues.append(issue(entry.path, None, (), _not_a_file(entry)))
        files = [e for e in files if _is_file(e)]
        yield Listing(
            path=current,
            parent=parent,
            defaults=[e for e in files if e.name in DEFAULTS_NAMES],
            campaigns=[e for e in files if not e.name.startswith(("_", "."))],
        )
        subdirs = [
            e.path
            for e in entries
            if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")
        ]
        stack.extend((path, current) for path in reversed(subdirs))


def read_text(
    path: str, root: Path, issues: list[ConfigIssue], entry: os.DirEntry[str] | None = None
) -> str | None:
    """The UTF-8 text of a file, or None with an issue (outside symlink, too big, not UTF-8)."""
    try:
        if entry is not None and entry.is_symlink():
            real = os.path.realpath(path)
            if not inside(real, os.path.realpath(root)):
                issues.append(
                    issue(path, None, (), "symlink to a file outside the config directory")
                )
                return None
        fd = os.open(path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            if size > MAX_FILE_BYTES:
                issues.append(
                    issue(path, None, (), f"file is {size} bytes; the limit is {MAX_FILE_BYTES}")
                )
                return None
            data = os.read(fd, MAX_FILE_BYTES + 1)
        finally:
            os.close(fd)
    except OSError as exc:
        issues.append(issue(path, None, (), f"cannot read file: {exc.strerror}"))
        return None
    if len(data) > MAX_FILE_BYTES:  # grew since fstat, or a special file
        issues.append(issue(path, None, (), f"file exceeds {MAX_FILE_BYTES} bytes"))
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start)
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1)
        issues.append(issue(path, Mark(line, column), (), "file is not valid UTF-8"))
        return None


def _is_dir(entry: os.DirEntry[str]) -> bool:
    """DirEntry.is_dir, False where it raises (a symlink loop raises ELOOP)."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def _is_file(entry: os.DirEntry[str]) -> bool:
    """DirEntry.is_file, False where it raises (a symlink loop raises ELOOP)."""
    try:
        return entry.is_file()
    except OSError:
        return False


def _not_a_file(entry: os.DirEntry[str]) -> str:
    """Why a *.yaml entry is not read: a dangling symlink, a symlink loop, a FIFO..."""
    try:
        os.stat(entry.path)
    except FileNotFoundError:
        return "not a regular file (a broken symlink?)"
    except OSError as exc:
        return f"not a regular file: {exc.strerror}"
    return "not a regular file"
