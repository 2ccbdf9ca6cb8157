"""reconciler.collector: a document nested deep enough for RecursionError runs no finalizer
at the parser's depth, whichever reader meets it.

Found by CI: `test_deeply_nested_lock_file_is_an_unreadable_lock_not_a_crash` failed once
with "Exception ignored ... RecursionError" from a finalizer that an earlier test left to
the collector, which a collection started at the bottom of the lock file's 30,000 levels.
Here the collection is made to start at every depth near the limit in turn.
"""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli.cmd_apply import load_saved_plan
from reconciler.collector import collector_paused
from reconciler.errors import CampaignctlError
from reconciler.providers.http.translate import parse_body
from reconciler.sandbox.wire import BadBody, parse_json_body
from reconciler.state.limits import load_json
from reconciler.state.lock import LockInfo

DEEP = "[" * 30_000 + "]" * 30_000


class _Cycle:
    me: _Cycle


def _leave_finalizable_garbage(finalized: list[int]) -> None:
    """Objects only the cyclic collector frees, each with a finalizer (as a temporary
    directory has), the kind an earlier test leaves behind."""
    for _ in range(3):
        obj = _Cycle()
        obj.me = obj
        weakref.finalize(obj, finalized.append, 1)


def _saved_plan(tmp_path: Path) -> Callable[[str], Any]:
    def read(text: str) -> Any:
        path = tmp_path / "plan.json"
        path.write_text(text)
        return load_saved_plan(path)

    return read


def _readers(tmp_path: Path) -> Iterator[tuple[str, Callable[[str], Any]]]:
    yield "lock file", lambda text: LockInfo.parse(text.encode())
    yield "state file", lambda text: load_json(text, "state file", "state.json")
    yield "API answer", lambda text: parse_body(text.encode())
    yield "sandbox request", lambda text: parse_json_body(text.encode())
    yield "saved plan", _saved_plan(tmp_path)


@pytest.mark.parametrize("which", range(5))
def test_a_deep_document_runs_no_finalizer_at_the_parsers_depth(
    which: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, read = list(_readers(tmp_path))[which]
    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    finalized: list[int] = []
    threshold = gc.get_threshold()
    try:
        # A collection starts once this many objects were made: at each depth in turn.
        for start in range(400, 1020):
            gc.collect(0)  # the count starts from zero, the garbage is young
            _leave_finalizable_garbage(finalized)
            gc.set_threshold(start)
            try:
                read(DEEP)
            except (CampaignctlError, BadBody):
                pass  # refused as too deep, as it should be
            finally:
                gc.set_threshold(*threshold)
    finally:
        gc.collect()
    assert unraisable == [], f"{name}: {[type(u.exc_value).__name__ for u in unraisable]}"
    assert finalized, "the garbage was collected (after the parse)"


def test_the_collector_is_back_as_it_was() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # an inner pause leaves the outer one alone
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # off before: left off
    finally:
        gc.enable()
