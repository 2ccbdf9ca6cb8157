"""reconciler.collector: Python's cyclic garbage collector paused for a block, then as it was.

Two reasons to pause it. Speed: a command builds many small trees (YAML nodes, dicts,
models, plan parts) that reference counting frees, and the collector would walk every one
of them again and again. Safety: a hostile document nested deep enough for the parser to
raise RecursionError allocates at every level, so a collection can start at that depth and
run finalizers there (a temporary directory's cleanup, say), which then fail on the
exhausted stack as "Exception ignored" noise on stderr, or as errors under pytest.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["collector_paused"]


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The collector off while the block runs; on again after it only if it was on."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
