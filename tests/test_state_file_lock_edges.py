"""The file backend's lock and journal at their edges, the lock file's format, SIGTERM while a
lock is held, and `--state` URLs that are refused before anything is contacted.

All on real files, real signals to this process and the CLI in-process.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_cli

from reconciler.errors import StateError
from reconciler.state import ManagedRecord, StateStore
from reconciler.state.file_backend import FileBackend
from reconciler.state.location import StateLocation, open_state, parse_duration
from reconciler.state.lock import LockInfo, SigtermGuard, Terminated, pid_alive


def rec(name: str) -> ManagedRecord:
    return ManagedRecord(
        "EmailCampaign", name, "1", {"name": name}, "fp", 0, {}, "2026-11-25T10:00:00Z"
    )


def make_old(path: Path) -> None:
    """Age a file past the unreadable-lock grace (a crash long ago, not a writer right now)."""
    os.utime(path, (1_000_000_000, 1_000_000_000))


# --------------------------------------------------------------------------- the lock file


def test_a_lock_removed_by_hand_while_held_is_reported_as_broken(
    tmp_path: Path, state_log: list[str]
) -> None:
    store = StateStore(backend=open_state(str(tmp_path / "state.json")))
    with store.lock("apply"):
        store.record(rec("A"))
        (tmp_path / "state.json.lock").unlink()
    assert any("was broken while this run held it" in m for m in state_log), state_log
    again = StateStore(backend=open_state(str(tmp_path / "state.json"))).read()
    assert sorted(again.campaigns) == ["EmailCampaign/A"]


def test_a_lock_replaced_by_another_run_is_not_removed_by_the_first(
    tmp_path: Path, state_log: list[str]
) -> None:
    store = StateStore(backend=open_state(str(tmp_path / "state.json")))
    lock_path = tmp_path / "state.json.lock"
    other = LockInfo.new("another run").to_json()
    with store.lock("apply"):
        lock_path.write_text(other)  # broken and re-taken by another run meanwhile
    assert lock_path.read_text() == other, "the other run's lock is kept"
    assert any("was broken while this run held it" in m for m in state_log)


def test_unlock_of_an_unreadable_lock_file_says_to_remove_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.json"
    lock = tmp_path / "state.json.lock"
    lock.write_text('{"id": "x", "pid": "not a number"}')
    make_old(lock)
    code, out, err = run_cli(capsys, "--state", str(state), "state", "unlock", "x")
    assert code == 1, out + err
    assert "the lock file is unreadable" in err and f"remove {lock}" in err
    assert lock.exists()


def test_a_run_that_wrote_nothing_keeps_a_directory_someone_else_wrote_into(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "new" / "deeper"
    store = StateStore(backend=open_state(str(directory / "state.json")))
    with store.lock("plan"):
        store.read()
        (directory / "notes.txt").write_text("mine")
    assert (directory / "notes.txt").read_text() == "mine"
    assert not (directory / "state.json").exists()
    assert not (directory / "state.json.lock").exists()


def test_a_lock_file_name_the_filesystem_refuses_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / ("s" * 250 + ".json")  # fine itself; `.lock` beside it is too long
    code, out, err = run_cli(capsys, "--state", str(state), "state", "rm", "Nothing")
    assert code == 1, out + err
    assert "Traceback" not in err and "internal" not in err
    assert "File name too long" in err


def test_a_journal_that_cannot_be_written_stops_every_later_record(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    store = StateStore(backend=open_state(str(state)))
    with store.lock("apply"):
        store.read()
        (tmp_path / "state.json.journal").mkdir()  # not a file: every write fails
        with pytest.raises(StateError, match="cannot write the journal: Is a directory"):
            store.record(rec("A"))
        with pytest.raises(StateError, match="an earlier journal write failed"):
            store.record(rec("B"))
        (tmp_path / "state.json.journal").rmdir()


def test_a_file_backend_without_a_workspace_pattern_has_only_the_default(tmp_path: Path) -> None:
    assert FileBackend(tmp_path / "anything.json").workspaces() == ["default"]


# --------------------------------------------------------------------------- the lock's format


@pytest.mark.parametrize(
    "document",
    [
        [],  # not an object
        {"id": "x", "pid": 1, "host": "h", "started": "s"},  # a field missing
        {"id": "x", "pid": 1, "host": "h", "started": "s", "command": "c", "extra": 1},
        {"id": "x", "pid": "1", "host": "h", "started": "s", "command": "c"},  # pid a string
        {"id": "x", "pid": True, "host": "h", "started": "s", "command": "c"},  # pid a bool
        {"id": "x", "pid": 1, "host": 7, "started": "s", "command": "c"},  # host a number
        {"id": "x", "pid": 1, "host": "h", "started": "s", "command": "c", "who": 0},
    ],
)
def test_a_lock_document_of_another_shape_is_unreadable(document: object) -> None:
    assert LockInfo.parse(json.dumps(document).encode()) is None


def test_a_lock_round_trips_with_and_without_its_user() -> None:
    new = LockInfo.new("campaignctl apply")
    assert LockInfo.parse(new.to_json().encode()) == new
    old = LockInfo("id", 42, "h", "2026-01-01T00:00:00Z", "campaignctl apply")
    assert "who" not in old.to_dict()
    assert LockInfo.parse(old.to_json().encode()) == old
    assert LockInfo.parse(b"\xff\xfe") is None


def test_pid_zero_and_a_reaped_child_are_not_alive() -> None:
    assert not pid_alive(0) and not pid_alive(-1)
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           check=True, capture_output=True, text=True)  # fmt: skip
    assert not pid_alive(int(child.stdout))
    assert pid_alive(os.getpid())


def test_a_stale_lock_names_this_host_and_its_user() -> None:
    info = LockInfo("id", 42, socket.gethostname(), "2026-01-01T00:00:00Z", "apply", "ci")
    assert info.describe() == "pid 42 on this host since 2026-01-01T00:00:00Z (apply; user ci)"


# --------------------------------------------------------------------------- SIGTERM


@pytest.fixture
def guard() -> Iterator[SigtermGuard]:
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        pytest.skip("SIGTERM already has a handler in this process")
    installed = SigtermGuard()
    try:
        yield installed
    finally:
        installed.restore()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_sigterm_while_armed_raises_terminated_at_once(guard: SigtermGuard) -> None:
    assert guard.installed
    guard.arm()
    with pytest.raises(Terminated):
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # the handler runs between bytecodes of the main thread
            pass
    assert not guard.armed


def test_sigterm_while_deferred_is_raised_only_when_it_is_safe(guard: SigtermGuard) -> None:
    guard.defer()
    os.kill(os.getpid(), signal.SIGTERM)
    for _ in range(1000):
        pass
    assert guard.received, "noted, not raised"
    with pytest.raises(Terminated):
        guard.arm()  # arming raises what was deferred
    assert not guard.received
    guard.raise_deferred()  # once only


# --------------------------------------------------------------------------- --state URLs


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("s3://someone@bucket/state.json", "an s3:// URL takes no user"),
        (
            "s3://bucket/state.json?endpoint=http://key:secret@127.0.0.1:9",
            "the S3 endpoint URL must not carry credentials",
        ),
        ("s3://bucket/state.json?endpoint=http://key@127.0.0.1:9", "must not carry credentials"),
        ("postgres://ci@db.invalid/", "--state postgres:// needs a database"),
    ],
)
def test_a_state_url_that_cannot_be_right_is_refused_before_any_connection(
    url: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "--state", url, "state", "list")
    assert code == 1, out + err
    assert message in err
    assert "secret" not in out + err


def test_a_remote_location_prints_without_its_query_and_with_its_workspace() -> None:
    location = StateLocation("postgresql://ci@db/campaigns?schema=cc&sslmode=require", "eu")
    assert str(location) == "postgresql://ci@db/campaigns?schema=cc (workspace eu)"


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90.0), ("2m", 120.0), ("1h", 3600.0), ("500ms", 0.5), ("7", 7.0)]
)
def test_durations_take_their_unit(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_lock_timeout_waits_then_names_the_holder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = str(tmp_path / "state.json")
    store = StateStore(backend=open_state(state))
    with store.lock("campaignctl apply") as held:
        code, out, err = run_cli(
            capsys, "--state", state, "state", "rm", "--lock-timeout", "10ms", "Nothing"
        )
    assert code == 1, out + err
    assert "waiting for the state lock" in err and held.id in err
