"""One contract, three backends: the file, S3 (moto's server) and PostgreSQL (a real cluster).

Every test here runs once per backend (`backend_kind`); the engines are real servers on
loopback, started once per session (tests/remote_engines.py). StateStore is driven exactly
as the planner and applier drive it; crashes are real processes killed with SIGKILL.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest
from remote_engines import StateBackends

from reconciler.errors import StateError, StateLocked
from reconciler.state import ManagedRecord, State, StateStore
from reconciler.state.location import open_state


def rec(name: str, remote_id: str = "1") -> ManagedRecord:
    return ManagedRecord(
        "EmailCampaign", name, remote_id, {"name": name}, "fp", 0, {}, "2026-11-25T10:00:00Z"
    )


def store_at(location: str, workspace: str = "default") -> StateStore:
    return StateStore(backend=open_state(location, workspace))


@pytest.fixture
def location(state_backends: StateBackends, backend_kind: str) -> str:
    return state_backends.location(backend_kind)


def _child(location: str, body: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """A real process working on the state at `location` (`store` is bound in `body`)."""
    code = textwrap.dedent(
        f"""
        import sys
        from reconciler.state import ManagedRecord, StateStore
        from reconciler.state.location import open_state
        store = StateStore(backend=open_state({location!r}))
        def rec(name):
            return ManagedRecord("EmailCampaign", name, "id-" + name, {{"name": name}}, "fp",
                                 0, {{}}, "2026-11-25T10:00:00Z")
        """
    ) + textwrap.dedent(body)
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait_line(proc: subprocess.Popen[str], expected: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != expected:
        proc.kill()
        _, err = proc.communicate(timeout=30)
        raise AssertionError(f"child said {line!r}, expected {expected!r}: {err}")


# --------------------------------------------------------------------------- read and commit


def test_fresh_state_is_empty_and_not_written(location: str) -> None:
    store = store_at(location)
    state = store.read()
    assert (state.serial, state.campaigns) == (0, {})
    assert not store.exists()


def test_committed_records_are_read_back_byte_for_byte(location: str) -> None:
    store = store_at(location)
    with store.lock("test"):
        store.read()
        store.record(rec("A", "1"))
        store.record(rec("B", "2"))
        committed = store.commit()
    assert committed.serial == 1
    again = store_at(location).read()
    assert again.to_json() == committed.to_json()
    assert again.get("EmailCampaign", "B") == rec("B", "2")
    assert store_at(location).exists()


def test_forget_and_move_commit(location: str) -> None:
    store = store_at(location)
    with store.lock("test"):
        store.record(rec("A"))
        store.record(rec("B"))
    with store.lock("test"):
        store.forget("EmailCampaign", "A")
        store.move("EmailCampaign", "B", "C")
    assert sorted(store_at(location).read().campaigns) == ["EmailCampaign/C"]


def test_a_run_that_writes_nothing_leaves_no_state(location: str) -> None:
    store = store_at(location)
    with store.lock("test"):
        store.read()
    assert not store_at(location).exists()
    assert store_at(location).workspaces() == []


# --------------------------------------------------------------------------- locks


def test_second_locker_fails_at_once_naming_the_holder(location: str) -> None:
    first = store_at(location)
    with first.lock("campaignctl apply") as held:
        with pytest.raises(StateLocked) as info, store_at(location).lock("campaignctl apply"):
            pass
        assert store_at(location).backend.holder() == held  # type: ignore[union-attr]
    error = info.value
    assert error.lock_id == held.id
    assert f"pid {os.getpid()}" in error.message and held.started in error.message
    assert "campaignctl apply" in error.message and held.who in error.message
    assert error.hint is not None and f"campaignctl state unlock {held.id}" in error.hint
    with store_at(location).lock("after"):
        pass  # released


def test_lock_timeout_waits_for_the_holder(location: str, state_log: list[str]) -> None:
    first = store_at(location)
    waiting = threading.Event()

    class Announce(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "waiting for the state lock" in record.getMessage():
                waiting.set()

    logger = logging.getLogger("reconciler.state")
    announce = Announce()
    logger.addHandler(announce)
    outcome: list[object] = []
    try:
        with first.lock("campaignctl apply") as held:
            first.record(rec("A"))

            def second() -> None:
                store = store_at(location)
                with store.lock("campaignctl apply", timeout=60) as mine:
                    outcome.append((mine.id, sorted(store.read().campaigns)))

            thread = threading.Thread(target=second)
            thread.start()
            assert waiting.wait(30), "the second run never waited"
            assert not outcome
        thread.join(30)
    finally:
        logger.removeHandler(announce)
    assert outcome and outcome[0][1] == ["EmailCampaign/A"]
    assert any(held.id in m or f"pid {os.getpid()}" in m for m in state_log if "waiting" in m)


def test_unlock_needs_the_matching_id_and_force_for_a_live_holder(
    location: str, state_backends: StateBackends
) -> None:
    holder = _child(
        location,
        """
        with store.lock("campaignctl apply") as held:
            print(held.id, flush=True)
            sys.stdin.readline()
        """,
        state_backends.env(),
    )
    try:
        assert holder.stdout is not None
        lock_id = holder.stdout.readline().strip()
        assert lock_id, holder.communicate(timeout=30)
        store = store_at(location)
        with pytest.raises(StateError, match="does not match"):
            store.unlock("not-the-id")
        with pytest.raises(StateError, match="still running on this host"):
            store.unlock(lock_id)
        broken = store.unlock(lock_id, force=True)
        assert broken.id == lock_id and broken.pid == holder.pid
        with store.lock("next"):  # the lock is free
            pass
    finally:
        holder.kill()
        holder.communicate(timeout=30)


def test_lock_of_a_killed_run_is_taken_over_and_its_journal_folded(
    location: str, state_backends: StateBackends, state_log: list[str]
) -> None:
    child = _child(
        location,
        """
        with store.lock("campaignctl apply"):
            store.read()
            for name in ("A", "B", "C"):
                store.record(rec(name))
            print("recorded", flush=True)
            sys.stdin.readline()
        """,
        state_backends.env(),
    )
    _wait_line(child, "recorded")
    reader = store_at(location).read()  # a live run's journal: seen, not folded
    assert sorted(reader.campaigns) == [f"EmailCampaign/{n}" for n in "ABC"]
    assert reader.serial == 0
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)
    store = store_at(location)
    # PostgreSQL frees the killed session's advisory lock once its backend sees the closed
    # socket, which on a loaded machine can come just after the child is reaped: the rerun
    # waits for the lock, as `--lock-timeout` lets a user's rerun do.
    with store.lock("rerun", timeout=30):
        state = store.read()
        assert sorted(state.campaigns) == [f"EmailCampaign/{n}" for n in "ABC"]
        assert state.serial == 1
    assert store_at(location).read().serial == 1
    assert any("folding" in m for m in state_log)


# --------------------------------------------------------------------------- no lost update


def test_a_state_read_before_another_run_committed_is_refused(location: str) -> None:
    planner = store_at(location)
    planner.read()
    other = store_at(location)
    with other.lock("other"):
        other.record(rec("A"))
    with pytest.raises(StateError, match="changed since it was read"), planner.lock("apply"):
        pass
    assert sorted(store_at(location).read().campaigns) == ["EmailCampaign/A"]


def test_parallel_records_are_all_kept(location: str) -> None:
    store = store_at(location)
    with store.lock("apply"):
        store.read()
        threads = [
            threading.Thread(target=lambda n=n: store.record(rec(f"C{n}", str(n))))
            for n in range(24)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert len(store_at(location).read().campaigns) == 24


# --------------------------------------------------------------------------- workspaces


def test_workspaces_are_independent_and_listed(location: str) -> None:
    eu, us = store_at(location, "eu"), store_at(location, "us")
    with eu.lock("apply"):
        eu.record(rec("Only-EU"))
        with us.lock("apply"):  # never waits on eu's lock
            us.record(rec("Only-US"))
    assert sorted(store_at(location, "eu").read().campaigns) == ["EmailCampaign/Only-EU"]
    assert sorted(store_at(location, "us").read().campaigns) == ["EmailCampaign/Only-US"]
    assert store_at(location).read().campaigns == {}
    assert {"eu", "us"} <= set(store_at(location).workspaces())
    assert "default" not in store_at(location).workspaces()


# --------------------------------------------------------------------------- push


def test_push_needs_the_lineage_and_a_newer_serial_unless_forced(location: str) -> None:
    store = store_at(location)
    with store.lock("apply"):
        store.record(rec("A"))
    current = store_at(location).read()
    older = State(lineage=current.lineage, serial=current.serial)
    other = State(serial=5)
    newer = State(lineage=current.lineage, serial=current.serial + 1)
    newer.put(rec("Pushed"))
    for bad, message in ((older, "not newer"), (other, "lineage")):
        with pytest.raises(StateError, match=message), store.lock("push"):
            store.push(bad)
    with store.lock("push"):
        store.push(newer)
    assert sorted(store_at(location).read().campaigns) == ["EmailCampaign/Pushed"]
    with store.lock("push"):
        store.push(other, force=True)
    forced = store_at(location).read()
    assert (forced.lineage, forced.serial) == (other.lineage, 5)


def test_pull_prints_what_the_file_backend_would_write(location: str) -> None:
    store = store_at(location)
    with store.lock("apply"):
        store.record(rec("A"))
    document = json.loads(store_at(location).read().to_json())
    assert list(document)[:2] == ["campaigns", "format_version"]  # sorted keys, as the file
    assert document["serial"] == 1


@pytest.mark.parametrize("backend_kind", ["s3", "postgres"])
def test_a_writer_whose_lock_was_broken_cannot_overwrite_a_newer_state(location: str) -> None:
    first = store_at(location)
    with pytest.raises(StateError) as info, first.lock("apply") as held:
        first.record(rec("From-first"))
        store_at(location).unlock(held.id, force=True)  # broken by hand
        second = store_at(location)
        with second.lock("apply"):
            second.record(rec("From-second"))
    # the second run folded the first's journal, then committed; the first's commit (on
    # S3 a stale etag, on PostgreSQL a terminated session) is refused, never written over it
    assert "changed by another writer" in info.value.message or "PostgreSQL" in info.value.message
    kept = store_at(location).read()
    assert sorted(kept.campaigns) == ["EmailCampaign/From-first", "EmailCampaign/From-second"]
    assert kept.serial == 2
