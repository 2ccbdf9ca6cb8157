"""reconciler.atomic: the one atomic-write helper (state files, saved plans, imports, sandbox data).

Standard library only, so that the sandbox can use it without importing the state package.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterable
from pathlib import Path

__all__ = ["TMP_HEX", "fsync_dir", "real_path", "stale_tmp_files", "write_atomic"]

#: write_atomic's temp files are `.<name>.<12 hex digits>.tmp` beside the file.
TMP_HEX = 12


def fsync_dir(directory: Path) -> None:
    """fsync a directory, so that a rename or unlink in it survives a power cut."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def real_path(path: Path) -> Path:
    """`path` with every symlink and `..` resolved: the one file behind every spelling.

    A symlink whose target does not exist yet resolves to that target (writing creates it);
    a symlink loop raises OSError (ELOOP) instead of pathlib's RuntimeError.
    """
    try:
        return Path(os.path.realpath(path, strict=True))
    except FileNotFoundError:
        return Path(os.path.realpath(path))


def write_atomic(path: Path, text: str | Iterable[str], *, create_parents: bool = True) -> None:
    """Replace `path` with `text` (or its chunks, written as they come) so that a reader
    sees the old or the new file, whole.

    The file keeps its permissions, and a symlink keeps pointing where it did: the file it
    points to is replaced. Without `create_parents`, a missing directory is an OSError.
    """
    path = real_path(path)
    if create_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:TMP_HEX]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with contextlib.suppress(FileNotFoundError):
            os.fchmod(fd, path.stat().st_mode & 0o7777)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.writelines([text] if isinstance(text, str) else text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def stale_tmp_files(path: Path) -> list[Path]:
    """The temp files of write_atomic for `path` that a killed run left behind."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[0-9a-f]{{{TMP_HEX}}}\.tmp")
    try:
        with os.scandir(path.parent) as entries:
            return [
                Path(e.path)
                for e in entries
                if pattern.fullmatch(e.name) and e.is_file(follow_symlinks=False)
            ]
    except OSError:
        return []
