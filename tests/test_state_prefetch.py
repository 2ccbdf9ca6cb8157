"""StateStore.prefetch(): the state is opened and read in a background thread; read() takes it.

Runs on the file, S3 (moto's server) and PostgreSQL (a real cluster) backends. Whether the
background read has finished is seen from its thread, never from a clock.
"""

from __future__ import annotations

import threading

import pytest
from conftest import wait_until
from remote_engines import S3Server, StateBackends

from reconciler.errors import StateError
from reconciler.state import ManagedRecord, StateStore
from reconciler.state.location import state_location


def rec(name: str) -> ManagedRecord:
    return ManagedRecord(
        "EmailCampaign", name, f"id-{name}", {"name": name}, "fp", 0, {}, "2026-11-25T10:00:00Z"
    )


@pytest.fixture
def location(state_backends: StateBackends, backend_kind: str) -> str:
    return state_backends.location(backend_kind)


def commit(location: str, *names: str) -> None:
    store = StateStore(state_location(location))
    with store.lock("test"):
        store.read()
        for name in names:
            store.record(rec(name))
    store.close()


def prefetch_done() -> bool:
    return not any(t.name == "state-prefetch" for t in threading.enumerate())


def names(store: StateStore) -> list[str]:
    return sorted(record.name for record in store.read().records())


def test_read_after_prefetch_returns_what_the_background_thread_read(location: str) -> None:
    commit(location, "Alpha")
    store = StateStore(state_location(location)).prefetch()
    assert wait_until(prefetch_done), "the prefetch thread never ended"
    commit(location, "Beta")  # after the background read: this store does not see it yet
    assert names(store) == ["Alpha"]
    assert names(store) == ["Alpha", "Beta"], "a second read reads the store again"
    store.close()


def test_a_prefetch_before_the_lock_is_dropped_and_the_locked_read_is_fresh(
    location: str,
) -> None:
    commit(location, "Alpha")
    store = StateStore(state_location(location)).prefetch()
    assert wait_until(prefetch_done), "the prefetch thread never ended"
    commit(location, "Beta")
    with store.lock("apply"):
        assert names(store) == ["Alpha", "Beta"]
    store.close()


def test_a_prefetch_error_is_raised_by_read_in_the_callers_thread(s3_server: S3Server) -> None:
    store = StateStore(state_location(s3_server.url("no-such-bucket-here")))
    assert store.prefetch() is store  # no error yet: it is raised where the state is needed
    assert store.where.startswith("s3://no-such-bucket-here/")
    with pytest.raises(StateError, match="S3 list failed: NoSuchBucket"):
        store.read()
    store.close()


def test_prefetch_is_a_no_op_without_a_state() -> None:
    store = StateStore(None).prefetch()
    assert prefetch_done()
    assert store.read().serial == 0
