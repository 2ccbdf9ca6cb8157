"""A remote state read ahead by a forked child (reconciler.state.prefetch.ForkedRead).

Each read runs in a fresh interpreter, as `plan` does: the child is only forked while no
other thread runs. What is checked is what the parent process ends up holding: the same
state, and the client library (botocore / psycopg) not imported when there is nothing to
fold; with a journal to fold, or a child that fails, the parent reads it itself.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from conftest import run_python_json
from remote_engines import StateBackends
from test_state_prefetch import commit

REMOTE = pytest.mark.parametrize("backend_kind", ["s3", "postgres"])
LIBRARY = {"s3": "botocore", "postgres": "psycopg"}

_READ = """
import json, sys
from reconciler.state import StateStore
from reconciler.state.location import state_location
from reconciler.state import prefetch
if sys.argv[2] == "child-fails":
    prefetch._read_and_send = lambda location, fd: prefetch.os._exit(3)
if sys.argv[2] == "dropped":
    prefetch._read_and_send = lambda load, fd: prefetch.signal.pause()  # never answers
store = StateStore(state_location(sys.argv[1])).prefetch()
forked = isinstance(store._prefetch, prefetch.ForkedRead)
if sys.argv[2] == "dropped":  # as build_plan does when the YAML does not load
    store.drop_prefetch()
    import os
    children = open(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read().split()
    print(json.dumps({"forked": forked, "children": children}))
    sys.exit(0)
try:
    names = sorted(r.name for r in store.read().records())
    error = None
except Exception as exc:
    names, error = [], str(exc)
print(json.dumps({"names": names, "error": error, "forked": forked,
                  "modules": sorted(m for m in ("botocore", "psycopg") if m in sys.modules)}))
"""


def read_in_a_fresh_process(
    backends: StateBackends, location: str, mode: str = "plain"
) -> dict[str, Any]:
    return run_python_json(_READ, location, mode, env=backends.env())


@REMOTE
def test_the_parent_holds_the_state_without_importing_the_client_library(
    state_backends: StateBackends, backend_kind: str
) -> None:
    location = state_backends.location(backend_kind)
    commit(location, "Alpha", "Beta")
    run = read_in_a_fresh_process(state_backends, location)
    assert run["forked"] and run["error"] is None
    assert run["names"] == ["Alpha", "Beta"]
    assert LIBRARY[backend_kind] not in run["modules"]  # the child paid for it


@REMOTE
def test_a_journal_left_to_fold_is_folded_by_the_parent(
    state_backends: StateBackends, backend_kind: str
) -> None:
    location = state_backends.location(backend_kind)
    commit(location, "Alpha")
    crash = (  # a run that recorded a step and died before its commit
        "import os, sys\n"
        "from reconciler.state import ManagedRecord, StateStore\n"
        "from reconciler.state.location import state_location\n"
        "store = StateStore(state_location(sys.argv[1]))\n"
        "held = store.lock('test')\n"
        "held.__enter__()\n"
        "store.read()\n"
        "store.record(ManagedRecord('EmailCampaign', 'Beta', 'id-Beta', {'name': 'Beta'},"
        " 'fp', 0, {}, '2026-11-25T10:00:00Z'))\n"
        "os._exit(0)\n"
    )
    subprocess.run(
        [sys.executable, "-c", crash, location],
        env=state_backends.env(),
        timeout=120,
        check=True,
    )
    run = read_in_a_fresh_process(state_backends, location)
    assert run["names"] == ["Alpha", "Beta"]
    assert LIBRARY[backend_kind] in run["modules"]  # folding needs the backend itself


@REMOTE
def test_a_child_that_fails_leaves_the_parent_to_read_the_same_state(
    state_backends: StateBackends, backend_kind: str
) -> None:
    location = state_backends.location(backend_kind)
    commit(location, "Alpha")
    run = read_in_a_fresh_process(state_backends, location, mode="child-fails")
    assert run["forked"] and run["names"] == ["Alpha"] and run["error"] is None


@pytest.mark.parametrize("backend_kind", ["s3"])  # one engine shows it: a missing bucket
def test_an_error_is_the_same_with_or_without_the_child(
    state_backends: StateBackends, backend_kind: str
) -> None:
    missing = state_backends.location("s3").replace("://", "://no-such-bucket-", 1)
    forked = read_in_a_fresh_process(state_backends, missing)
    in_process = read_in_a_fresh_process(state_backends, missing, mode="child-fails")
    assert forked["error"] and forked["error"] == in_process["error"]


@REMOTE
def test_a_read_ahead_that_is_dropped_ends_its_child_at_once(
    state_backends: StateBackends, backend_kind: str
) -> None:
    location = state_backends.location(backend_kind)
    run = read_in_a_fresh_process(state_backends, location, mode="dropped")
    assert run["forked"] and run["children"] == []  # killed and reaped, not left waiting
