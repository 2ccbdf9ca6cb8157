"""Tests for reconciler.state: the state file, its journal and its lock, on a real disk."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from reconciler.errors import StateError, StateLocked
from reconciler.state import FORMAT_VERSION, LockInfo, ManagedRecord, State, StateStore
from reconciler.state.file_backend import FileBackend
from reconciler.state.lock import take_over_or_raise


def rec(
    name: str, remote_id: str = "1", kind: str = "EmailCampaign", **kw: object
) -> ManagedRecord:
    fields: dict[str, object] = {
        "last_applied": {"kind": kind, "name": name, "subject": "sha256:" + "0" * 64},
        "live_fingerprint": "fp-" + remote_id,
        "status": 0,
        "applied_at": "2026-11-25T10:00:00Z",
    }
    fields.update(kw)
    return ManagedRecord(kind=kind, name=name, remote_id=remote_id, **fields)  # type: ignore[arg-type]


def committed(path: Path, *records: ManagedRecord) -> StateStore:
    store = StateStore(path)
    with store.lock("test"):
        for record in records:
            store.record(record)
        store.commit()
    return store


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def run_python(code: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=20)
    return proc.pid


# --------------------------------------------------------------------------- file format


def test_missing_file_is_a_fresh_state_written_only_on_first_commit(tmp_path: Path) -> None:
    path = tmp_path / "state" / "default.json"
    store = StateStore(path)
    state = store.read()
    assert state.serial == 0 and state.campaigns == {}
    assert uuid.UUID(state.lineage).version == 4
    with store.lock("apply"):
        store.read()
    assert not path.exists(), "a run without changes must not create the file"
    with store.lock("apply"):
        store.record(rec("A"))
        assert not path.exists(), "record() journals; only commit() writes the state"
        store.commit()
    data = json.loads(path.read_text())
    assert data["serial"] == 1 and data["lineage"] == state.lineage
    assert data["format_version"] == FORMAT_VERSION


def test_file_is_sorted_indented_with_trailing_newline(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    committed(path, rec("Zeta", "2"), rec("Alpha", "1", touchpoint_ids={"b": "t2", "a": "t1"}))
    text = path.read_text()
    assert text.endswith("}\n") and not text.endswith("\n\n")
    data = json.loads(text)
    assert text == json.dumps(data, sort_keys=True, indent=2) + "\n"
    assert list(data["campaigns"]) == ["EmailCampaign/Alpha", "EmailCampaign/Zeta"]
    assert data["campaigns"]["EmailCampaign/Alpha"] == {
        "kind": "EmailCampaign",
        "name": "Alpha",
        "remote_id": "1",
        "last_applied": {
            "kind": "EmailCampaign",
            "name": "Alpha",
            "subject": "sha256:" + "0" * 64,
        },
        "live_fingerprint": "fp-1",
        "status": 0,
        "touchpoint_ids": {"a": "t1", "b": "t2"},
        "applied_at": "2026-11-25T10:00:00Z",
    }


def test_round_trip_and_lookups(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    messaging = rec("Welcome", "cmp_1", kind="MessagingCampaign", status="draft")
    committed(path, rec("A", "10"), messaging)
    state = StateStore(path).read()
    assert state.get("MessagingCampaign", "Welcome") == messaging
    assert state.by_remote_id("EmailCampaign", "10") == rec("A", "10")
    assert state.by_remote_id("MessagingCampaign", "10") is None
    assert State.key("EmailCampaign", "A") == "EmailCampaign/A"
    assert [r.name for r in state.records()] == ["A", "Welcome"]


def test_by_remote_id_follows_put_and_remove_and_is_linear() -> None:
    state = State()
    for i in range(10_000):
        state.put(rec(f"c{i}", str(i)))
    found = [state.by_remote_id("EmailCampaign", "0")]
    index = state._by_remote
    found += [state.by_remote_id("EmailCampaign", str(i)) for i in range(1, 10_000)]
    assert state._by_remote is index  # built once for 10,000 lookups, not once per lookup
    assert [r.name for r in found if r is not None] == [f"c{i}" for i in range(10_000)]
    state.put(rec("c1", "recreated"))
    assert state.by_remote_id("EmailCampaign", "1") is None
    assert state.by_remote_id("EmailCampaign", "recreated") == rec("c1", "recreated")
    state.remove("EmailCampaign", "c2")
    assert state.by_remote_id("EmailCampaign", "2") is None
    assert state.by_remote_id("MessagingCampaign", "3") is None


def test_by_remote_id_is_kept_by_put_and_remove_not_rebuilt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An apply asks after each create whether the new id is known: puts and lookups
    interleave, and the index must not be rebuilt for each (O(n²) at 10,000 creates)."""
    state = State()
    state.put(rec("seed", "s"))
    assert state.by_remote_id("EmailCampaign", "s") == rec("seed", "s")
    index = state._by_remote
    for i in range(1_000):
        assert state.by_remote_id("EmailCampaign", str(i)) is None
        state.put(rec(f"c{i}", str(i)))
        assert state.by_remote_id("EmailCampaign", str(i)) == rec(f"c{i}", str(i))
    state.put(rec("c5", "5b"))  # an update that changes the id
    state.remove("EmailCampaign", "c7")
    assert state._by_remote is index  # updated in place, never rebuilt
    assert state.by_remote_id("EmailCampaign", "5") is None
    assert state.by_remote_id("EmailCampaign", "5b") == rec("c5", "5b")
    assert state.by_remote_id("EmailCampaign", "7") is None
    assert state.by_remote_id("EmailCampaign", "8") == rec("c8", "8")


def test_by_remote_id_with_two_records_sharing_an_id_matches_a_rebuild() -> None:
    state = State()
    state.put(rec("a", "1"))
    state.put(rec("b", "1"))  # a state edited by hand can hold this
    state.put(rec("c", "2"))
    assert state.by_remote_id("EmailCampaign", "1") == rec("b", "1")
    state.remove("EmailCampaign", "b")
    assert state.by_remote_id("EmailCampaign", "1") == rec("a", "1")
    state.put(rec("a", "3"))
    assert state.by_remote_id("EmailCampaign", "1") is None
    assert state.by_remote_id("EmailCampaign", "3") == rec("a", "3")


def test_serial_increments_on_every_write_and_only_then(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    store = StateStore(path)
    serials = []
    for i in range(3):
        with store.lock("apply"):
            store.record(rec(f"c{i}", str(i)))
            serials.append(store.commit().serial)
            assert store.commit().serial == serials[-1], "commit without changes writes nothing"
    assert serials == [1, 2, 3]
    assert json.loads(path.read_text())["serial"] == 3


# --------------------------------------------------------------------------- atomicity


def test_failure_before_rename_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.json"
    committed(path, rec("A"))
    before = path.read_bytes()
    store = StateStore(path)

    def failing_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    with store.lock("apply"):
        store.record(rec("B", "2"))
        monkeypatch.setattr(os, "replace", failing_replace)
        with pytest.raises(StateError, match="No space left") as info:
            store.commit()
        monkeypatch.undo()
        assert path.read_bytes() == before
        assert files_in(tmp_path) == ["s.json", "s.json.journal", "s.json.lock"], "no temp left"
        assert info.value.where == str(path)
        store.commit()  # the disk is back: the same records commit
    assert StateStore(path).read().get("EmailCampaign", "B") == rec("B", "2")


def test_rewrite_keeps_permissions_and_symlinks(tmp_path: Path) -> None:
    real = tmp_path / "shared" / "prod.json"
    committed(real, rec("A"))
    real.chmod(0o600)
    link = tmp_path / "state.json"
    link.symlink_to(real)
    committed(link, rec("B", "2"))
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert real.stat().st_mode & 0o777 == 0o600
    assert sorted(StateStore(real).read().campaigns) == ["EmailCampaign/A", "EmailCampaign/B"]


def test_concurrent_reader_only_ever_sees_whole_states(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    committed(path, *(rec(f"c{i}", str(i)) for i in range(200)))
    stop, seen, problems = threading.Event(), set(), []

    def reader() -> None:
        deadline = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                seen.add(json.loads(path.read_text())["serial"])
            except Exception as exc:  # any partial file shows up here
                problems.append(repr(exc))

    thread = threading.Thread(target=reader)
    thread.start()
    store = StateStore(path)
    try:
        with store.lock("apply"):
            for i in range(30):
                store.record(rec(f"c{i}", f"new{i}"))
                store.commit()
    finally:
        stop.set()
        thread.join(timeout=30)
    assert problems == []
    assert max(seen) <= 31 and len(seen) > 1


# --------------------------------------------------------------------------- journal


def test_record_appends_fsynced_journal_lines_with_lineage(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    store = committed(path, rec("A"))
    lineage = store.read().lineage
    before = path.read_bytes()
    with store.lock("apply"):
        store.record(rec("B", "2"))
        assert store.forget("EmailCampaign", "A") is True
        assert store.forget("EmailCampaign", "nope") is False
        assert path.read_bytes() == before
        lines = [json.loads(x) for x in store.journal_path.read_text().splitlines()]  # type: ignore[union-attr]
        assert [(x["op"], x["lineage"], x["serial"]) for x in lines] == [
            ("put", lineage, 1),
            ("forget", lineage, 1),
        ]
        assert store.read().get("EmailCampaign", "A") is None
        store.commit()
        assert not store.journal_path.exists()  # type: ignore[union-attr]
    assert list(StateStore(path).read().campaigns) == ["EmailCampaign/B"]


CRASHING_APPLY = """
    import os, sys
    from reconciler.state import ManagedRecord, StateStore
    store = StateStore(sys.argv[1])
    with store.lock("campaignctl apply"):
        store.read()
        store.record(ManagedRecord("EmailCampaign", "B", "2", {"name": "B"}))
        store.record(ManagedRecord("EmailCampaign", "C", "3", {"name": "C"}))
        store.forget("EmailCampaign", "A")
        store.move("EmailCampaign", "C", "C2")
        os._exit(9)  # a crash: no commit, no unlock
"""


def crash_apply(path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CRASHING_APPLY), str(path)],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert proc.returncode == 9, proc.stderr


def test_journal_left_by_a_crash_is_folded_by_the_next_reader(
    tmp_path: Path, state_log: list[str]
) -> None:
    path = tmp_path / "s.json"
    committed(path, rec("A"))
    crash_apply(path)
    assert path.with_name("s.json.lock").exists() and path.with_name("s.json.journal").exists()
    state = StateStore(path).read()
    assert sorted(state.campaigns) == ["EmailCampaign/B", "EmailCampaign/C2"]
    assert state.serial == 2
    assert files_in(tmp_path) == ["s.json"], "journal folded, stale lock released"
    assert json.loads(path.read_text())["serial"] == 2
    assert any("stale lock" in m for m in state_log)
    assert any("folding" in m for m in state_log)


def test_crash_before_the_first_commit_keeps_the_journal_lineage(tmp_path: Path) -> None:
    path = tmp_path / "new.json"
    crash_apply(path)
    lineage = json.loads(path.with_name("new.json.journal").read_text().splitlines()[0])["lineage"]
    state = StateStore(path).read()
    assert state.lineage == lineage and state.serial == 1
    assert sorted(state.campaigns) == ["EmailCampaign/B", "EmailCampaign/C2"]


def test_torn_last_journal_line_is_ignored_with_a_warning(
    tmp_path: Path, state_log: list[str]
) -> None:
    path = tmp_path / "s.json"
    committed(path, rec("A"))
    crash_apply(path)
    journal = path.with_name("s.json.journal")
    with journal.open("ab") as fh:
        fh.write(b'{"lineage":"x","op":"put","rec')
    state = StateStore(path).read()
    assert sorted(state.campaigns) == ["EmailCampaign/B", "EmailCampaign/C2"]
    assert any("torn last line 5" in m for m in state_log)


def test_corrupt_line_inside_the_journal_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    committed(path, rec("A"))
    crash_apply(path)
    journal = path.with_name("s.json.journal")
    lines = journal.read_bytes().split(b"\n")
    journal.write_bytes(b"\n".join([lines[0], b"garbage", *lines[1:]]))
    before = path.read_bytes()
    with pytest.raises(StateError) as info:
        StateStore(path).read()
    assert info.value.where == f"{journal}:2"
    assert path.read_bytes() == before and journal.exists()


def test_journal_of_another_state_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    crash_apply(path)  # journal of a state that was never committed
    other = tmp_path / "other.json"
    committed(other, rec("X"))
    path.write_bytes(other.read_bytes())  # a state of another lineage in its place
    with pytest.raises(StateError, match="journal belongs to another state") as info:
        StateStore(path).read()
    assert str(path.with_name("s.json.journal")) in str(info.value)
    assert path.read_bytes() == other.read_bytes()


def test_journal_already_folded_by_a_commit_is_dropped(tmp_path: Path) -> None:
    """A crash between the commit's rename and the journal's removal."""
    path = tmp_path / "s.json"
    store = committed(path, rec("A"))
    journal = store.journal_path
    assert journal is not None
    with store.lock("apply"):
        store.record(rec("A", "moved"))
        leftover = journal.read_bytes()
        store.commit()
    journal.write_bytes(leftover)
    state = StateStore(path).read()
    assert state.serial == 2 and state.get("EmailCampaign", "A") == rec("A", "moved")
    assert not journal.exists()
    assert json.loads(path.read_text())["serial"] == 2


def test_journal_of_a_live_run_is_read_in_memory_only(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    committed(path, rec("A"))
    before = path.read_bytes()
    running = StateStore(path)
    with running.lock("campaignctl apply"):
        running.record(rec("B", "2"))
        seen = StateStore(path).read()
        assert sorted(seen.campaigns) == ["EmailCampaign/A", "EmailCampaign/B"]
        assert path.read_bytes() == before, "a live run's journal is not folded by a reader"
        assert running.journal_path.exists()  # type: ignore[union-attr]
        running.record(rec("C", "3"))
    assert sorted(StateStore(path).read().campaigns) == [
        "EmailCampaign/A",
        "EmailCampaign/B",
        "EmailCampaign/C",
    ]


def test_parallel_records_from_threads_all_land(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    store = StateStore(path)
    with store.lock("apply"):
        store.read()

        def worker(n: int) -> None:
            for i in range(50):
                store.record(rec(f"w{n}-{i}", f"{n}-{i}"))

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        lines = store.journal_path.read_text().splitlines()  # type: ignore[union-attr]
        assert len(lines) == 200 and all(json.loads(x)["op"] == "put" for x in lines)
    assert len(StateStore(path).read().campaigns) == 200


def test_an_exception_inside_the_lock_still_commits_what_was_recorded(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    store = StateStore(path)
    with pytest.raises(RuntimeError), store.lock("apply"):
        store.record(rec("A"))
        raise RuntimeError("step failed")
    assert files_in(tmp_path) == ["s.json"]
    assert list(StateStore(path).read().campaigns) == ["EmailCampaign/A"]


def test_recorded_records_are_copies_and_must_be_json(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.json")
    with store.lock("apply"):
        mine = rec("A")
        store.record(mine)
        mine.last_applied["subject"] = "changed after the step"
        with pytest.raises(StateError, match="cannot record put in state"):
            store.record(rec("B", last_applied={"path": tmp_path}))
    state = StateStore(tmp_path / "s.json").read()
    assert state.campaigns["EmailCampaign/A"] == rec("A")
    assert list(state.campaigns) == ["EmailCampaign/A"]


def test_writes_need_the_lock(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.json")
    store.read()
    with pytest.raises(StateError, match="need the state lock"):
        store.record(rec("A"))
    with pytest.raises(StateError, match="need the state lock"):
        store.commit()
    assert files_in(tmp_path) == []


def test_move_renames_in_one_journal_line(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    store = committed(path, rec("Old"), rec("Taken", "2"))
    with store.lock("state mv"):
        with pytest.raises(StateError, match="already in state"):
            store.move("EmailCampaign", "Old", "Taken")
        moved = store.move("EmailCampaign", "Old", "New")
        assert moved.remote_id == "1" and moved.name == "New"
        assert len(store.journal_path.read_text().splitlines()) == 1  # type: ignore[union-attr]
        store.commit()
    state = StateStore(path).read()
    assert state.get("EmailCampaign", "Old") is None
    expected = rec("Old")
    expected.name = "New"  # last_applied keeps what was sent: the live name is still "Old"
    assert state.get("EmailCampaign", "New") == expected


def test_a_state_read_before_the_lock_must_still_be_current(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    committed(path, rec("A"))
    planner = StateStore(path)
    planned_on = planner.read()
    committed(path, rec("B", "2"))  # another run writes between plan and apply
    with (
        pytest.raises(StateError, match=r"changed since it was read \(serial 1 -> 2\)"),
        planner.lock("apply"),
    ):
        pass
    assert not planner.lock_path.exists()  # type: ignore[union-attr]
    unchanged = StateStore(path)
    state = unchanged.read()
    with unchanged.lock("apply"):
        assert unchanged.read() is state
    assert planned_on.serial == 1


# --------------------------------------------------------------------------- lock


def test_second_locker_fails_fast_naming_the_holder(tmp_path: Path, state_log: list[str]) -> None:
    path = tmp_path / "s.json"
    first = StateStore(path)
    with first.lock("campaignctl apply") as held:
        lock_file = json.loads(first.lock_path.read_text())  # type: ignore[union-attr]
        assert lock_file == {
            "id": held.id,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": held.started,
            "command": "campaignctl apply",
            "who": held.who,
        }
        with pytest.raises(StateLocked) as info, StateStore(path).lock("campaignctl apply"):
            pass
        # Fails fast: without --lock-timeout it never waits (a wait is always announced).
        assert not any("waiting for the state lock" in m for m in state_log)
    error = info.value
    assert error.lock_id == held.id and error.holder["pid"] == os.getpid()
    assert f"pid {os.getpid()}" in error.message and held.started in error.message
    assert error.hint is not None and f"campaignctl state unlock {held.id}" in error.hint
    assert not path.with_name("s.json.lock").exists()


def test_lock_held_by_another_process_blocks_until_it_ends(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\nfrom reconciler.state import StateStore\n"
            "with StateStore(sys.argv[1]).lock('campaignctl apply'):\n"
            "    print('locked', flush=True)\n    sys.stdin.readline()\n",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with (
            pytest.raises(StateLocked, match=f"pid {holder.pid} on this host"),
            StateStore(path).lock("apply"),
        ):
            pass
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=20)
    with StateStore(path).lock("apply"):
        pass


def write_lock(path: Path, *, pid: int, host: str) -> LockInfo:
    info = LockInfo(str(uuid.uuid4()), pid, host, "2026-11-25T09:00:00Z", "campaignctl apply")
    path.with_name(path.name + ".lock").write_text(info.to_json())
    return info


def test_stale_lock_of_a_dead_pid_is_taken_over(tmp_path: Path, state_log: list[str]) -> None:
    path = tmp_path / "s.json"
    stale = write_lock(path, pid=dead_pid(), host=socket.gethostname())
    store = StateStore(path)
    with store.lock("apply") as held:
        assert held.id != stale.id
        assert json.loads(store.lock_path.read_text())["id"] == held.id  # type: ignore[union-attr]
    assert any(stale.id in m and "stale lock" in m for m in state_log)


def test_stale_lock_taken_over_meanwhile_is_not_removed_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs find one stale lock; the first takes it over; the second must not unlink it."""
    path = tmp_path / "s.json"
    write_lock(path, pid=dead_pid(), host=socket.gethostname())
    seen_by_late_run = FileBackend(path)._read_lock()
    first = StateStore(path)
    with first.lock("apply") as held:
        late = StateStore(path)
        reads = iter([seen_by_late_run])
        real_read = late.backend._read_lock  # type: ignore[union-attr]
        monkeypatch.setattr(late.backend, "_read_lock", lambda: next(reads, None) or real_read())
        with pytest.raises(StateLocked) as info, late.lock("apply"):
            pass
        assert info.value.lock_id == held.id
        assert json.loads(path.with_name("s.json.lock").read_text())["id"] == held.id


def test_takeover_decides_from_the_holder_it_found(state_log: list[str]) -> None:
    """Every backend's takeover: a lock released meanwhile is left alone, an unreadable or
    stale one is removed by the version it was found at (with a warning), a live one stops."""
    dead = LockInfo("dead-1", dead_pid(), socket.gethostname(), "2026-11-25T09:00:00Z", "apply")
    live = LockInfo.new("campaignctl apply")  # this process: alive
    where = ("s.json", "s.json.lock")
    assert take_over_or_raise(None, "lock file s.json.lock", *where) is None
    assert take_over_or_raise((b"raw", None), "lock file s.json.lock", *where) == b"raw"
    assert take_over_or_raise(("etag-1", dead), "lock object s3://b/k", *where) == "etag-1"
    with pytest.raises(StateLocked) as info:
        take_over_or_raise(("etag-2", live), "lock object s3://b/k", *where)
    assert info.value.lock_id == live.id and info.value.where == "s.json.lock"
    assert state_log == [
        "warning: taking over an unreadable lock file s.json.lock",
        f"warning: taking over the stale lock dead-1 of pid {dead.pid} on {dead.host} since "
        "2026-11-25T09:00:00Z (apply): that process is gone",
    ]


def test_lock_from_another_host_is_never_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    other = write_lock(path, pid=dead_pid(), host="ci-runner-7")
    with (
        pytest.raises(StateLocked, match="on ci-runner-7 since 2026-11-25T09:00:00Z") as info,
        StateStore(path).lock("apply"),
    ):
        pass
    assert info.value.lock_id == other.id
    assert json.loads(path.with_name("s.json.lock").read_text())["id"] == other.id


def test_unlock_only_with_the_matching_id(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    other = write_lock(path, pid=1, host="ci-runner-7")
    store = StateStore(path)
    with pytest.raises(StateError, match="does not match"):
        store.unlock("not-the-id")
    assert store.lock_path.exists()  # type: ignore[union-attr]
    assert store.unlock(other.id) == other
    assert not store.lock_path.exists()  # type: ignore[union-attr]
    with pytest.raises(StateError, match="not locked"):
        store.unlock(other.id)


def test_run_whose_lock_was_broken_does_not_remove_the_new_one(
    tmp_path: Path, state_log: list[str]
) -> None:
    path = tmp_path / "s.json"
    first = StateStore(path)
    with first.lock("apply") as held:
        first.unlock(held.id, force=True)
        with StateStore(path).lock("apply") as second:
            pass
        newer = write_lock(path, pid=os.getpid(), host=socket.gethostname())
    assert second.id != held.id
    assert json.loads(path.with_name("s.json.lock").read_text())["id"] == newer.id
    assert any("was broken" in m for m in state_log)


def test_unreadable_lock_file_is_taken_over_after_a_grace(
    tmp_path: Path, state_log: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.json"
    lock = path.with_name("s.json.lock")
    lock.write_text("")
    old = time.time() - 60
    os.utime(lock, (old, old))
    with StateStore(path).lock("apply"):
        assert json.loads(lock.read_text())["command"] == "apply"
    assert any("unreadable lock" in m for m in state_log)


# --------------------------------------------------------------------------- bad files


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("", "not valid JSON"),
        ("[]", "expected an object"),
        ('{"format_version": 1, "lineage": "x", "serial": 0}', "missing field campaigns"),
        (
            '{"format_version": 1, "lineage": "x", "serial": "3", "campaigns": {}}',
            "expected a non-negative integer",
        ),
        (
            '{"format_version": 1, "lineage": "x", "serial": 0, '
            '"campaigns": {"EmailCampaign/A": {"kind": "EmailCampaign"}}}',
            "missing field name",
        ),
        ('{"format_version": 2, "lineage": "x", "serial": 0, "campaigns": {}}', "newer"),
        ('{"format_version": 99, "whatever": true}', "newer"),
    ],
)
def test_corrupt_or_future_files_are_refused_and_never_overwritten(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "s.json"
    path.write_text(content)
    store = StateStore(path)
    with pytest.raises(StateError, match=message) as info:
        store.read()
    assert str(path) in str(info.value)
    with pytest.raises(StateError, match=message), store.lock("apply"):
        store.record(rec("A"))
    assert path.read_text() == content
    assert files_in(tmp_path) == ["s.json"]


def test_record_key_must_match_its_record(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    committed(path, rec("A"))
    data = json.loads(path.read_text())
    data["campaigns"]["EmailCampaign/B"] = data["campaigns"].pop("EmailCampaign/A")
    path.write_text(json.dumps(data))
    with pytest.raises(StateError, match="does not match its record"):
        StateStore(path).read()


# --------------------------------------------------------------------------- --no-state


def test_no_state_never_touches_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = StateStore(None)
    assert store.path is None and store.lock_path is None and store.journal_path is None
    with store.lock("apply"):
        state = store.read()
        store.record(rec("A"))
        store.move("EmailCampaign", "A", "B")
        assert store.commit().serial == 1
    assert store.read() is state and list(state.campaigns) == ["EmailCampaign/B"]
    assert files_in(tmp_path) == []
    with pytest.raises(StateError, match="no lock without a state file"):
        store.unlock("x")


# --------------------------------------------------------------------------- speed


def bytes_written_by_this_process() -> int:
    """The kernel's count of bytes this process passed to write() (/proc/self/io `wchar`)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("no wchar in /proc/self/io")


def test_a_step_writes_its_journal_line_not_the_whole_state(tmp_path: Path) -> None:
    # Counted, not timed: a rewrite of this 1,000-campaign state per step would write about
    # 1,000 times its size (SPEC measured ~7.6 s per 1,000 steps); a journal line is small.
    path = tmp_path / "s.json"
    committed(path, *(rec(f"c{i:05d}", str(i)) for i in range(1000)))
    state_bytes = path.stat().st_size
    store = StateStore(path)
    with store.lock("apply"):
        store.read()
        before = bytes_written_by_this_process()
        for i in range(1000):
            store.record(rec(f"c{i:05d}", f"new{i}"))
        per_step = (bytes_written_by_this_process() - before) / 1000
        store.commit()
    assert per_step < 1024 < state_bytes / 50, (per_step, state_bytes)
    state = StateStore(path).read()
    assert state.serial == 2 and state.campaigns["EmailCampaign/c00999"].remote_id == "new999"
