"""reconciler.state.limits: caps on what is read (state, journal, lock, saved plan) and JSON depth.

A file past a cap is a mistake or an attack: it is refused before it is read whole.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from reconciler.errors import CampaignctlError, StateError
from reconciler.jsoncodec import loads

__all__ = [
    "MAX_JSON_DEPTH",
    "MAX_LOCK_BYTES",
    "MAX_STATE_BYTES",
    "json_too_deep",
    "load_json",
    "read_capped",
    "too_large",
]

#: A state (or journal, or saved plan) past this is refused before it is read, not read whole
#: into memory. 1,000 campaigns take about 2 MiB.
MAX_STATE_BYTES = 256 * 1024 * 1024
#: A lock file is a few hundred bytes.
MAX_LOCK_BYTES = 64 * 1024
#: Nesting depth of a state's JSON: a record is about 6 levels deep. Past this, copying or
#: writing the data would recurse into a RecursionError, so it is refused when read.
MAX_JSON_DEPTH = 100


def read_capped(
    path: Path,
    *,
    what: str,
    limit: int = MAX_STATE_BYTES,
    error: type[CampaignctlError] = StateError,
) -> bytes | None:
    """The bytes of the regular file `path`, None if it does not exist.

    `error` naming the file for anything else: not a regular file (a FIFO or a device would
    block or never end), larger than `limit` (checked before reading), unreadable.
    """
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise error(f"cannot read the {what}: {exc.strerror or exc}", where=str(path)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"the {what} is not a regular file", where=str(path))
        if info.st_size > limit:
            raise error(too_large(what, info.st_size, limit), where=str(path))
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, min(limit + 1 - size, 1 << 24)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:  # it grew since fstat
                raise error(too_large(what, size, limit), where=str(path))
    except OSError as exc:
        raise error(f"cannot read the {what}: {exc.strerror or exc}", where=str(path)) from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def too_large(what: str, size: int, limit: int) -> str:
    mib = limit // (1024 * 1024)
    shown = f"{mib} MiB" if mib else f"{limit // 1024} KiB"
    return f"the {what} is {size} bytes; the limit is {limit} bytes ({shown})"


def json_too_deep(data: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when `data` nests objects/arrays more than `limit` levels (checked without
    recursion, so any depth that json.loads returned is safe to check)."""
    if not isinstance(data, dict | list):
        return False
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        children = value.values() if type(value) is dict else value
        deeper = depth + 1
        for child in children:
            # Only containers are pushed: most values are scalars (json.loads makes exact
            # dicts and lists, so `type() is` is enough, and faster than isinstance).
            kind = type(child)
            if kind is dict or kind is list:
                stack.append((child, deeper))
    return False


def load_json(text: str, what: str, where: str) -> Any:
    """json.loads, with too-deep nesting a StateError (json.loads raises RecursionError)."""
    too_deep = StateError(f"the {what} nests more than {MAX_JSON_DEPTH} levels", where=where)
    try:
        data = loads(text)
    except RecursionError:
        raise too_deep from None
    if json_too_deep(data):
        raise too_deep
    return data
