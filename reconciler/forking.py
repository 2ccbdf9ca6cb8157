"""reconciler.forking: a child process forked to work for this one, answering on a pipe."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

__all__ = ["fork_with_pipe"]


def fork_with_pipe(work: Callable[[int], None]) -> tuple[int, int] | None:
    """Fork a child that runs work(write_fd) and exits; return (pid, read_fd) to the parent.

    None where a fork is not possible or not safe: another thread is running (a fork copies
    its locks, held or not, and the child could wait on one forever). The child never
    returns into the caller's code: it ends with os._exit, whatever work does.
    """
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return None
    read_fd, write_fd = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        return None
    if pid == 0:  # pragma: no cover - the child (its coverage is not collected)
        os.close(read_fd)
        try:
            work(write_fd)
        finally:
            os._exit(1)  # work ends with its own os._exit; this is for one that returns
    os.close(write_fd)
    return pid, read_fd
