"""Hostile inputs around the state file (issue 12): one state behind many spellings, debris
left by interrupted runs, and inputs that must get a clear one-line error, never "internal".

Signals are sent to real `python -m reconciler` processes at points detected from the
sandbox's request log (latency makes the run slow enough to be hit mid-way), never after a
sleep.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli

from reconciler.errors import StateError, StateLocked
from reconciler.sandbox import Sandbox
from reconciler.state import ManagedRecord, StateStore

WAIT_S = 30.0
EMAILS = 12
#: The documented cap on a state, journal or saved plan file.
MAX_STATE_BYTES = 256 * 1024 * 1024

cli = run_cli


def campaign_yaml(i: int) -> str:
    return (
        f"name: Campaign {i:02d}\ncampaign_type: normal\nto: {{type: tag, value: [t]}}\n"
        f"sender_id: 53\ntemplate_invoke_name: tpl\nsubject: Subject {i}\n"
        f'send_time: "2027-03-01 10:00:00"\n'
    )


def write_config(directory: Path, count: int = EMAILS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (directory / f"c{i:02d}.yaml").write_text(campaign_yaml(i), encoding="utf-8")
    return directory


def rec(name: str, remote_id: str = "1") -> ManagedRecord:
    return ManagedRecord(kind="EmailCampaign", name=name, remote_id=remote_id)


def committed(path: Path, *records: ManagedRecord) -> None:
    store = StateStore(path)
    with store.lock("test"):
        for record in records:
            store.record(record)
        store.commit()


def environment(sandbox: Sandbox, state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAMPAIGNCTL_", "ENGAGELAB_"))}
    env.update(
        CAMPAIGNCTL_API_URL=sandbox.url,
        CAMPAIGNCTL_STATE=str(state),
        ENGAGELAB_API_USER=sandbox.api_user,
        ENGAGELAB_API_KEY=sandbox.api_key,
        PYTHONUNBUFFERED="1",
    )
    return env


def campaignctl(*args: str) -> list[str]:
    return [sys.executable, "-m", "reconciler", *args]


def start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        campaignctl(*args),
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(sandbox: Sandbox, proc: subprocess.Popen[str], method: str, at_least: int) -> None:
    """Wait until the sandbox saw `at_least` requests of `method` while `proc` runs."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if sandbox.request_count(method) >= at_least:
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended first: {proc.communicate()}")
        time.sleep(0.005)
    raise AssertionError(f"no {at_least} {method} requests within {WAIT_S}s")


def assert_clear_error(code: int, err: str, *needles: str) -> None:
    assert code == 1, err
    assert "internal" not in err and "Traceback" not in err, err
    assert err.startswith("error: "), err
    for needle in needles:
        assert needle in err, err


# --------------------------------------------------------------------------- one state


def spellings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[Path, Path]]:
    """Pairs of different spellings of one state file."""
    real = tmp_path / "state" / "prod.json"
    real.parent.mkdir()
    (tmp_path / "link.json").symlink_to(real)
    (tmp_path / "linkdir").symlink_to(real.parent, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    return {
        "symlinked file": (real, tmp_path / "link.json"),
        "symlinked directory": (real, tmp_path / "linkdir" / "prod.json"),
        "dot-dot": (real, tmp_path / "state" / ".." / "state" / "prod.json"),
        "relative vs absolute": (real, Path("state/prod.json")),
    }


@pytest.mark.parametrize(
    "spelling", ["symlinked file", "symlinked directory", "dot-dot", "relative vs absolute"]
)
def test_two_spellings_of_one_state_take_one_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    first_path, second_path = spellings(tmp_path, monkeypatch)[spelling]
    committed(first_path, rec("A"))
    first, second = StateStore(first_path), StateStore(second_path)
    with first.lock("campaignctl apply") as held:
        with pytest.raises(StateLocked) as info, second.lock("campaignctl apply"):
            pass  # pragma: no cover - the lock must be refused
        assert f"pid {held.pid}" in str(info.value) and info.value.lock_id == held.id
        # Both spellings name the same lock and journal: the real file's.
        assert (
            first.lock_path == second.lock_path == first_path.resolve().with_name("prod.json.lock")
        )
        first.record(rec("B", "2"))
    assert sorted(StateStore(second_path).read().campaigns) == [
        "EmailCampaign/A",
        "EmailCampaign/B",
    ]


def test_cli_on_a_symlink_sees_the_lock_taken_through_the_real_path(
    tmp_path: Path, in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = tmp_path / "shared" / "prod.json"
    committed(real, rec("A"))
    (tmp_path / "prod.json").symlink_to(real)
    holder = StateStore(real)
    with holder.lock("campaignctl apply") as held:
        code, _, err = cli(capsys, "--state", "prod.json", "state", "rm", "A")
    assert_clear_error(code, err, "is locked by pid", held.id)
    assert "EmailCampaign/A" in StateStore(real).read().campaigns  # nothing was removed


@pytest.mark.slow
def test_two_applies_on_two_spellings_one_is_refused_and_no_record_is_lost(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "campaigns.d")
    real = tmp_path / "shared" / "prod.json"
    real.parent.mkdir()
    link = tmp_path / "prod.json"
    link.symlink_to(real)
    # Slow enough that the first run still holds the lock when the second one starts
    # (checked below, so the test cannot pass by the two runs not overlapping).
    sandbox.set_latency(1000)

    first = start(
        ["apply", str(config), "--auto-approve", "--parallelism", "1"],
        environment(sandbox, link),
        tmp_path,
    )
    wait_for(sandbox, first, "POST", 1)  # the first holds the lock and is creating
    second = subprocess.run(
        campaignctl("apply", str(config), "--auto-approve"),
        env=environment(sandbox, Path("shared/../shared/prod.json")),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert first.poll() is None, "the first run ended before the second one started"
    first.send_signal(signal.SIGINT)  # end it early: the steps in flight finish, state saved
    out, err = first.communicate(timeout=WAIT_S)

    assert first.returncode == 130, out + err
    assert second.returncode == 1, second.stdout + second.stderr
    assert f"is locked by pid {first.pid}" in second.stderr
    assert "Traceback" not in second.stderr
    created = {c["name"]: str(c["campaign_id"]) for c in sandbox.email_campaigns()}
    assert sandbox.request_count("POST") == len(created)  # the refused run created nothing
    recorded = StateStore(real).read().campaigns.values()
    assert {r.name: r.remote_id for r in recorded} == created
    assert link.is_symlink()


def test_writes_through_a_symlink_replace_the_target_and_keep_the_link(tmp_path: Path) -> None:
    real_dir = tmp_path / "shared"
    real = real_dir / "prod.json"
    committed(real, rec("A"))
    link_dir = tmp_path / "repo"
    link_dir.mkdir()
    link = link_dir / "state.json"
    link.symlink_to(real)
    store = StateStore(link)
    with store.lock("test"):
        assert (real_dir / "prod.json.lock").exists()
        assert not list(link_dir.glob("*.lock"))
        store.record(rec("B", "2"))
        assert (real_dir / "prod.json.journal").exists()
        store.commit()
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert sorted(os.listdir(link_dir)) == ["state.json"]  # no lock, journal or temp file
    assert sorted(os.listdir(real_dir)) == ["prod.json"]
    assert sorted(StateStore(real).read().campaigns) == ["EmailCampaign/A", "EmailCampaign/B"]


# --------------------------------------------------------------------------- debris


@pytest.mark.slow
def test_sigterm_mid_apply_finishes_steps_commits_state_releases_lock_and_exits_130(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "campaigns.d")
    state = tmp_path / "state" / "default.json"
    env = environment(sandbox, state)
    sandbox.set_latency(40)

    proc = start(["apply", str(config), "--auto-approve", "--parallelism", "2"], env, tmp_path)
    wait_for(sandbox, proc, "POST", 1)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=WAIT_S)

    assert proc.returncode == 130, out + err
    assert "Terminate signal received" in err and "Interrupted:" in err
    assert not state.with_name("default.json.lock").exists()
    assert not state.with_name("default.json.journal").exists()
    created = {c["name"]: str(c["campaign_id"]) for c in sandbox.email_campaigns()}
    assert 0 < len(created) < EMAILS
    recorded = StateStore(state).read().campaigns
    assert {r.name: r.remote_id for r in recorded.values()} == created  # nothing lost

    sandbox.set_latency(0)
    final = subprocess.run(
        campaignctl("apply", str(config), "--auto-approve"),
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert final.returncode == 0, final.stdout + final.stderr
    assert sorted(c["name"] for c in sandbox.email_campaigns()) == [
        f"Campaign {i:02d}" for i in range(EMAILS)
    ]


@pytest.mark.slow
def test_sigterm_while_apply_plans_under_the_lock_releases_it(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "campaigns.d")
    state = tmp_path / "state" / "default.json"
    committed(state, rec("Campaign 99", "999"))  # the lock is held while planning
    env = environment(sandbox, state)
    # The first list is refused with a long Retry-After: once the sandbox has answered it,
    # the run is waiting under the lock, planning, and cannot go on for a minute.
    sandbox.faults.add("GET", "/v1/marketing/campaigns", "429", count=1, retry_after=60)

    proc = start(["apply", str(config), "--auto-approve"], env, tmp_path)
    wait_for(sandbox, proc, "GET", 1)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=WAIT_S)

    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    assert not state.with_name("default.json.lock").exists()
    assert sandbox.request_count("POST") == 0
    assert list(StateStore(state).read().campaigns) == ["EmailCampaign/Campaign 99"]


@pytest.mark.slow
def test_sigterm_during_import_releases_the_lock_and_leaves_no_state_directory(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.seed_email_campaigns(3, name_prefix="Live ")
    state = tmp_path / "state" / "default.json"
    # As above: the run waits a minute under the lock once the sandbox answered the 429.
    sandbox.faults.add("GET", "/v1/marketing/campaigns", "429", count=1, retry_after=60)
    proc = start(["import", "--out", "imported"], environment(sandbox, state), tmp_path)
    wait_for(sandbox, proc, "GET", 1)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    assert not (tmp_path / "state").exists()


def test_failed_import_leaves_no_state_directory(
    sandbox_env: Sandbox,
    in_tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENGAGELAB_API_KEY", "wrong-key")
    code, _, err = cli(capsys, "--state", "state/nested/default.json", "import")
    assert code == 1 and "error:" in err, err
    assert not (in_tmp_path / "state").exists()


def test_failed_apply_leaves_no_state_directory_but_keeps_an_existing_one(
    sandbox_env: Sandbox,
    in_tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_config(in_tmp_path / "campaigns.d", count=1)
    monkeypatch.setenv("ENGAGELAB_API_KEY", "wrong-key")
    code, _, err = cli(capsys, "apply", "--auto-approve")
    assert code == 1 and "error:" in err, err
    assert not (in_tmp_path / "state").exists()
    # A directory that was there before is the user's: it stays, even empty.
    (in_tmp_path / "state").mkdir()
    code, _, err = cli(capsys, "apply", "--auto-approve")
    assert code == 1 and "error:" in err, err
    assert (in_tmp_path / "state").is_dir()


def test_next_lock_taker_removes_temp_files_a_killed_writer_left(
    sandbox_env: Sandbox, in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(in_tmp_path / "campaigns.d", count=1)
    state_dir = in_tmp_path / "state"
    committed(state_dir / "default.json", rec("Old", "7"))
    # What a writer killed between its temp file and the rename leaves behind:
    stale = state_dir / ".default.json.0123456789ab.tmp"
    stale.write_text('{"half": ')
    # ...and files that only look alike, which are not this state's temp files.
    others = [
        state_dir / ".other.json.0123456789ab.tmp",
        state_dir / ".default.json.backup.tmp",
        state_dir / "default.json.0123456789ab.tmp",
    ]
    for other in others:
        other.write_text("keep")
    code, _, err = cli(capsys, "apply", "--auto-approve")
    assert code == 0, err
    assert not stale.exists()
    assert f"removed {stale}" in err
    assert all(other.read_text() == "keep" for other in others)


# --------------------------------------------------------------------------- clear errors


@pytest.mark.parametrize("where", ["loop.yaml", "_defaults.yaml", "sub/deeper.yaml"])
def test_symlink_loop_in_the_config_directory_is_a_clear_error(
    in_tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    config = write_config(in_tmp_path / "campaigns.d", count=1)
    loop = config / where
    loop.parent.mkdir(exist_ok=True)
    loop.symlink_to(loop.name)
    code, _, err = cli(capsys, "validate", str(config))
    assert code == 1 and "internal" not in err, err
    assert f"{loop}:1:1: not a regular file: Too many levels of symbolic links" in err


def test_config_directory_that_is_a_symlink_loop_is_named_as_such(
    in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (in_tmp_path / "cfg").symlink_to("cfg")
    code, _, err = cli(capsys, "validate", "cfg")
    assert code == 1 and "internal" not in err, err
    assert "config directory cannot be read: Too many levels of symbolic links" in err


def test_state_file_that_is_a_symlink_loop_is_a_clear_error(
    in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (in_tmp_path / "loop.json").symlink_to("loop.json")
    code, _, err = cli(capsys, "--state", "loop.json", "state", "list")
    assert_clear_error(code, err, "Too many levels of symbolic links", "loop.json")


def deep_json(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("levels", [100_000, 600])
def test_deeply_nested_state_file_is_a_clear_error(
    in_tmp_path: Path, capsys: pytest.CaptureFixture[str], levels: int
) -> None:
    state = in_tmp_path / "state.json"
    record = json.dumps(rec("A").to_dict())
    record = record.replace(
        '"last_applied": {}', '"last_applied": {"x": ' + deep_json(levels) + "}"
    )
    state.write_text(
        '{"format_version": 1, "lineage": "l", "serial": 1, "campaigns": {"EmailCampaign/A": '
        + record
        + "}}"
    )
    code, _, err = cli(capsys, "--state", "state.json", "state", "list")
    assert_clear_error(code, err, "the state file nests more than 100 levels", str(state))


def test_deeply_nested_journal_line_is_a_clear_error(
    in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = in_tmp_path / "state.json"
    committed(state, rec("A"))
    lineage = StateStore(state).read().lineage
    head = json.dumps({"lineage": lineage, "serial": 1, "op": "put"})[:-1]
    line = head + ', "record": ' + deep_json(100_000) + "}\n"
    state.with_name("state.json.journal").write_text(line + line)
    code, _, err = cli(capsys, "--state", "state.json", "state", "list")
    assert_clear_error(code, err, "the journal line nests more than 100 levels", "journal:1")


def test_state_file_past_the_cap_is_refused_before_it_is_read(
    in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = in_tmp_path / "state.json"
    with state.open("wb") as fh:  # sparse: costs no disk
        fh.truncate(MAX_STATE_BYTES + 1)
    code, _, err = cli(capsys, "--state", "state.json", "state", "list")
    assert_clear_error(
        code,
        err,
        f"the state file is {MAX_STATE_BYTES + 1} bytes; the limit is {MAX_STATE_BYTES} bytes "
        "(256 MiB)",
        str(state.resolve()),
    )


def test_journal_past_the_cap_is_refused_before_it_is_read(
    in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = in_tmp_path / "state.json"
    committed(state, rec("A"))
    with state.with_name("state.json.journal").open("wb") as fh:
        fh.truncate(MAX_STATE_BYTES + 1)
    code, _, err = cli(capsys, "--state", "state.json", "state", "list")
    assert_clear_error(code, err, "the journal is", "the limit is", "state.json.journal")


def test_state_file_that_is_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "state.json"
    os.mkfifo(fifo)
    # A subprocess: before the fix, opening the FIFO waits for a writer forever.
    result = subprocess.run(
        campaignctl("--state", str(fifo), "state", "list"),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert_clear_error(result.returncode, result.stderr, "the state file is not a regular file")


def test_lock_file_past_its_cap_is_a_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    committed(state, rec("A"))
    with state.with_name("state.json.lock").open("wb") as fh:
        fh.truncate(MAX_STATE_BYTES + 1)
    with (
        pytest.raises(StateError, match=r"the lock file is \d+ bytes; the limit is"),
        StateStore(state).lock("test"),
    ):
        pass  # pragma: no cover


# --------------------------------------------------------------------------- plan files


def test_plan_out_under_a_file_is_a_clear_error_before_any_request(
    sandbox_env: Sandbox, in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(in_tmp_path / "campaigns.d", count=1)
    (in_tmp_path / "afile").write_text("x")
    code, _, err = cli(capsys, "plan", "--out", "afile/plan.json")
    assert_clear_error(code, err, "directory", "afile", "is not a directory")
    assert sandbox_env.request_count("GET") == 0


def test_plan_out_in_a_missing_directory_is_refused_and_creates_nothing(
    sandbox_env: Sandbox, in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(in_tmp_path / "campaigns.d", count=1)
    code, _, err = cli(capsys, "plan", "--out", "plans/new/plan.json")
    assert_clear_error(code, err, f"directory {in_tmp_path / 'plans' / 'new'} does not exist")
    assert not (in_tmp_path / "plans").exists()


@pytest.mark.parametrize("target", ["adir", "loop.json"])
def test_plan_out_onto_a_directory_or_a_symlink_loop_is_a_clear_error(
    sandbox_env: Sandbox, in_tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str
) -> None:
    write_config(in_tmp_path / "campaigns.d", count=1)
    (in_tmp_path / "adir").mkdir()
    (in_tmp_path / "loop.json").symlink_to("loop.json")
    code, _, err = cli(capsys, "plan", "--out", target)
    assert_clear_error(code, err, "cannot write the plan file", target)
    assert (in_tmp_path / "loop.json").is_symlink()


def test_plan_out_through_a_symlink_writes_the_target(
    sandbox_env: Sandbox, in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(in_tmp_path / "campaigns.d", count=1)
    (in_tmp_path / "plans").mkdir()
    (in_tmp_path / "plan.json").symlink_to("plans/latest.json")
    code, _, err = cli(capsys, "plan", "--out", "plan.json")
    assert code == 0, err
    assert (in_tmp_path / "plan.json").is_symlink()
    assert json.loads((in_tmp_path / "plans" / "latest.json").read_text())["format_version"]


def test_saved_plan_past_the_cap_is_refused_before_it_is_read(
    sandbox_env: Sandbox, in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = in_tmp_path / "plan.json"
    with plan.open("wb") as fh:
        fh.truncate(MAX_STATE_BYTES + 1)
    code, _, err = cli(capsys, "apply", "plan.json", "--auto-approve")
    assert_clear_error(code, err, "the saved plan is", "(256 MiB)", "plan.json")


def test_deeply_nested_saved_plan_is_a_clear_error(
    sandbox_env: Sandbox, in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (in_tmp_path / "plan.json").write_text(
        '{"format_version": 1, "actions": ' + deep_json(100_000) + "}"
    )
    code, _, err = cli(capsys, "apply", "plan.json", "--auto-approve")
    assert_clear_error(code, err, "the saved plan nests more than 100 levels", "plan.json")


def test_deeply_nested_lock_file_is_an_unreadable_lock_not_a_crash(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    committed(state, rec("A"))
    lock = state.with_name("state.json.lock")
    lock.write_text(deep_json(30_000))
    os.utime(lock, (0, 0))  # written long ago: no process is between create and write
    with StateStore(state).lock("test") as held:
        assert json.loads(lock.read_text())["id"] == held.id  # taken over, as unreadable
