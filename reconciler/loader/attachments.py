"""Attachment paths -> `ResolvedFile`s: relative, inside the config directory, regular,
size-capped, and hashed once per run.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

from reconciler.loader.files import inside
from reconciler.model import MAX_ATTACHMENT_BYTES, ResolvedFile


class Attachments:
    """Resolves attachment paths inside the config directory; caches each file's hash."""

    def __init__(self, root: Path) -> None:
        self.root = os.path.abspath(root)
        self.real_root = os.path.realpath(root)
        self.cache: dict[str, ResolvedFile] = {}

    def resolver(self, base_dir: str) -> Callable[[str], ResolvedFile]:
        """The resolver a model validates with, for paths written in a file of base_dir."""
        return lambda path: self.resolve(base_dir, path)

    def resolve(self, base_dir: str, path: str) -> ResolvedFile:
        """The file at path (relative to base_dir); ValueError with the reason when refused."""
        if os.path.isabs(path) or path.startswith("~"):
            raise ValueError(
                f"attachment path {path!r} must be relative to the YAML file, not absolute"
            )
        lexical = os.path.normpath(os.path.join(base_dir, path))
        if not inside(lexical, self.root):
            raise ValueError(f"attachment path {path!r} leaves the config directory")
        real = os.path.realpath(lexical)
        if not inside(real, self.real_root):
            raise ValueError(
                f"attachment path {path!r} is a symlink to a file outside the config directory"
            )
        if real in self.cache:
            return self.cache[real]
        try:
            info = os.stat(real)
        except OSError:
            raise ValueError(f"attachment file {path!r} not found") from None
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"attachment {path!r} is not a regular file")
        if info.st_size > MAX_ATTACHMENT_BYTES:
            raise ValueError(
                f"attachment {path!r} is {info.st_size} bytes; the API allows at most 10 MB "
                f"({MAX_ATTACHMENT_BYTES}) in total"
            )
        digest = hashlib.sha256()
        try:
            with open(real, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
        except OSError as exc:
            raise ValueError(f"cannot read attachment {path!r}: {exc.strerror}") from None
        resolved = ResolvedFile(path=real, size=info.st_size, sha256=digest.hexdigest())
        self.cache[real] = resolved
        return resolved
