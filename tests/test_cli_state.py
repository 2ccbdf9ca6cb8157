"""Tests for `campaignctl state list|show|rm|mv|unlock`, through reconciler.cli.run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from reconciler.cli import run
from reconciler.state import LockInfo, ManagedRecord, StateStore

if TYPE_CHECKING:
    from reconciler.sandbox import Sandbox


def rec(name: str, remote_id: str, kind: str = "EmailCampaign", **kw: object) -> ManagedRecord:
    return ManagedRecord(
        kind=kind,
        name=name,
        remote_id=remote_id,
        last_applied={"kind": kind, "name": name},
        applied_at="2026-11-25T10:00:00Z",
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    """A state with two campaigns named "Welcome" (one per kind) and one other."""
    path = tmp_path / "state.json"
    store = StateStore(path)
    with store.lock("test"):
        store.record(rec("Q3 Re-engagement", "101", status=0))
        store.record(rec("Welcome", "102", status=2))
        store.record(
            rec(
                "Welcome",
                "cmp_ab12",
                kind="MessagingCampaign",
                status="draft",
                touchpoint_ids={"Day 3 nudge": "tp_2", "Welcome Message": "tp_1"},
            )
        )
        store.commit()
    return path


def campaignctl(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def serial(path: Path) -> int:
    return int(json.loads(path.read_text())["serial"])


# --------------------------------------------------------------------------- list / show


def test_list_has_a_header_row_and_statuses_in_words_for_both_kinds(
    state_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = campaignctl(capsys, "--state", str(state_file), "state", "list")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "KIND               NAME              ID        STATUS",
        "EmailCampaign      Q3 Re-engagement  101       waiting",
        "EmailCampaign      Welcome           102       completed",
        "MessagingCampaign  Welcome           cmp_ab12  draft",
    ]


@pytest.mark.parametrize(
    ("kind", "status", "word"),
    [
        ("EmailCampaign", 0, "waiting"),
        ("EmailCampaign", 1, "sending"),
        ("EmailCampaign", 2, "completed"),
        ("EmailCampaign", -1, "failed"),
        ("EmailCampaign", 7, "7"),
        ("EmailCampaign", None, "-"),
        ("MessagingCampaign", "draft", "draft"),
        ("MessagingCampaign", "active", "active"),
        ("MessagingCampaign", "completed", "completed"),
    ],
)
def test_list_status_words(kind: str, status: int | str | None, word: str) -> None:
    from reconciler.cli.cmd_state import status_in_words

    assert status_in_words(kind, status) == word


def test_list_json(state_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = campaignctl(
        capsys, "--state", str(state_file), "state", "list", "--format", "json"
    )
    data = json.loads(out)
    assert code == 0
    assert data["serial"] == 1 and uuid.UUID(data["lineage"])
    assert [(c["kind"], c["name"], c["remote_id"], c["status"]) for c in data["campaigns"]] == [
        ("EmailCampaign", "Q3 Re-engagement", "101", 0),
        ("EmailCampaign", "Welcome", "102", 2),
        ("MessagingCampaign", "Welcome", "cmp_ab12", "draft"),
    ]


def test_list_of_a_missing_state_is_empty_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = campaignctl(capsys, "state", "list")
    assert (code, out) == (0, "")
    assert "no managed campaigns in state/default.json" in err
    assert list(tmp_path.iterdir()) == []


def test_state_path_comes_from_the_environment(
    state_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAMPAIGNCTL_STATE", str(state_file))
    code, out, _ = campaignctl(capsys, "state", "list")
    assert code == 0 and len(out.splitlines()) == 4


def test_show_by_unique_name_prints_the_record(
    state_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = campaignctl(
        capsys, "--state", str(state_file), "state", "show", "Q3 Re-engagement"
    )
    assert code == 0
    assert json.loads(out) == rec("Q3 Re-engagement", "101", status=0).to_dict()


def test_show_kind_slash_name_disambiguates(
    state_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = campaignctl(capsys, "--state", str(state_file), "state", "show", "Welcome")
    assert (code, out) == (1, "")
    assert (
        "'Welcome' names 2 campaigns in state: EmailCampaign/Welcome, MessagingCampaign/Welcome"
        in err
    )
    assert "hint: give KIND/NAME" in err
    code, out, _ = campaignctl(
        capsys, "--state", str(state_file), "state", "show", "MessagingCampaign/Welcome"
    )
    assert code == 0
    assert json.loads(out)["touchpoint_ids"] == {"Day 3 nudge": "tp_2", "Welcome Message": "tp_1"}


def test_show_unknown_name_suggests_the_closest(
    state_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = campaignctl(
        capsys, "--state", str(state_file), "state", "show", "Q3 Reengagement"
    )
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"error: no campaign 'Q3 Reengagement' in state ({state_file})",
        "hint: did you mean 'Q3 Re-engagement'?",
    ]


def test_names_with_a_slash_are_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "state.json"
    store = StateStore(path)
    with store.lock("test"):
        store.record(rec("Promo 50/50", "7"))
    code, out, _ = campaignctl(capsys, "--state", str(path), "state", "show", "Promo 50/50")
    assert code == 0 and json.loads(out)["remote_id"] == "7"
    code, _, err = campaignctl(
        capsys, "--state", str(path), "state", "mv", "Promo 50/50", "Promo 60/40"
    )
    assert code == 0, err
    assert list(StateStore(path).read().campaigns) == ["EmailCampaign/Promo 60/40"]


def test_usage_error_exits_1(state_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = campaignctl(capsys, "--state", str(state_file), "state", "show")
    assert code == 1 and "Missing argument" in err


# --------------------------------------------------------------------------- rm / mv


def test_rm_forgets_the_record_only(state_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = campaignctl(
        capsys, "--state", str(state_file), "state", "rm", "EmailCampaign/Welcome"
    )
    assert code == 0
    assert "Removed EmailCampaign/Welcome (remote id 102)" in out
    assert "the live campaign was not touched" in out
    state = StateStore(state_file).read()
    assert sorted(state.campaigns) == [
        "EmailCampaign/Q3 Re-engagement",
        "MessagingCampaign/Welcome",
    ]
    assert serial(state_file) == 2
    assert sorted(p.name for p in state_file.parent.iterdir()) == ["state.json"]


def test_mv_renames_and_keeps_the_remote_id(
    state_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = campaignctl(
        capsys, "--state", str(state_file), "state", "mv", "Q3 Re-engagement", "Q4 Re-engagement"
    )
    assert (
        code == 0
        and "Moved EmailCampaign/Q3 Re-engagement to EmailCampaign/Q4 Re-engagement" in out
    )
    state = StateStore(state_file).read()
    moved = state.get("EmailCampaign", "Q4 Re-engagement")
    assert moved is not None and moved.remote_id == "101"
    assert state.get("EmailCampaign", "Q3 Re-engagement") is None
    assert serial(state_file) == 2


def test_mv_with_kind_slash_name_on_both_sides(
    state_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = campaignctl(
        capsys,
        "--state",
        str(state_file),
        "state",
        "mv",
        "MessagingCampaign/Welcome",
        "MessagingCampaign/Welcome journey",
    )
    assert code == 0
    state = StateStore(state_file).read()
    journey = state.get("MessagingCampaign", "Welcome journey")
    assert journey is not None and journey.touchpoint_ids["Welcome Message"] == "tp_1"
    assert state.get("EmailCampaign", "Welcome") is not None


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "EmailCampaign/Welcome",
            "Q3 Re-engagement",
            "EmailCampaign/Q3 Re-engagement is already in state",
        ),
        ("Welcome", "Hello", "'Welcome' names 2 campaigns"),
        (
            "EmailCampaign/Welcome",
            "MessagingCampaign/Hello",
            "cannot move EmailCampaign/Welcome to another kind",
        ),
        ("Q3 Re-engagement", "Q3 Re-engagement", "already has that name"),
        ("Nope", "Hello", "no campaign 'Nope' in state"),
    ],
)
def test_mv_refusals_leave_the_file_untouched(
    state_file: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, message: str
) -> None:
    before = state_file.read_bytes()
    code, out, err = campaignctl(capsys, "--state", str(state_file), "state", "mv", old, new)
    assert (code, out) == (1, "")
    assert message in err and "Traceback" not in err
    assert state_file.read_bytes() == before
    assert sorted(p.name for p in state_file.parent.iterdir()) == ["state.json"]


# --------------------------------------------------------------------------- lock / unlock


def lock_of_another_run(state_file: Path, host: str) -> LockInfo:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=20)
    info = LockInfo(str(uuid.uuid4()), proc.pid, host, "2026-11-25T09:00:00Z", "campaignctl apply")
    state_file.with_name("state.json.lock").write_text(info.to_json())
    return info


def test_edits_under_a_held_lock_fail_fast_with_the_unlock_command(
    state_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    holder = lock_of_another_run(state_file, host="ci-runner-7")
    before = state_file.read_bytes()
    code, out, err = campaignctl(
        capsys, "--state", str(state_file), "state", "rm", "Q3 Re-engagement"
    )
    assert (code, out) == (1, "")
    lines = err.splitlines()
    assert lines[0].startswith(
        f"error: state {state_file} is locked by pid {holder.pid} on ci-runner-7"
    )
    assert "since 2026-11-25T09:00:00Z" in lines[0]
    assert f"campaignctl state unlock {holder.id}" in lines[1]
    assert state_file.read_bytes() == before

    code, out, _ = campaignctl(capsys, "--state", str(state_file), "state", "unlock", holder.id)
    assert code == 0 and f"Removed lock {holder.id} (pid {holder.pid} on ci-runner-7" in out
    assert not state_file.with_name("state.json.lock").exists()
    code, _, _ = campaignctl(capsys, "--state", str(state_file), "state", "rm", "Q3 Re-engagement")
    assert code == 0


def test_unlock_with_a_wrong_id_keeps_the_lock(
    state_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    holder = lock_of_another_run(state_file, host="ci-runner-7")
    code, _, err = campaignctl(capsys, "--state", str(state_file), "state", "unlock", "wrong")
    assert code == 1 and f"does not match the lock held by pid {holder.pid}" in err
    assert state_file.with_name("state.json.lock").exists()


def test_unlock_refuses_a_holder_still_running_here_unless_forced(
    state_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Breaking a live run's lock let a `state rm` land under it and be lost when it finished.
    live = LockInfo(
        str(uuid.uuid4()), os.getpid(), socket.gethostname(), "2026-11-25T09:00:00Z", "apply"
    )
    lock = state_file.with_name("state.json.lock")
    lock.write_text(live.to_json())
    code, _, err = campaignctl(capsys, "--state", str(state_file), "state", "unlock", live.id)
    assert code == 1 and "is still running on this host" in err
    assert f"state unlock {live.id} --force" in err
    assert lock.exists()
    code, out, _ = campaignctl(
        capsys, "--state", str(state_file), "state", "unlock", live.id, "--force"
    )
    assert code == 0 and f"Removed lock {live.id}" in out
    assert not lock.exists()


def test_stale_lock_on_this_host_is_taken_over_with_a_warning(
    state_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = lock_of_another_run(state_file, host=socket.gethostname())
    code, _, err = campaignctl(
        capsys, "--state", str(state_file), "state", "rm", "Q3 Re-engagement"
    )
    assert code == 0
    assert f"warning: taking over the stale lock {stale.id}" in err
    assert not state_file.with_name("state.json.lock").exists()


def test_list_folds_a_journal_left_by_a_crash(
    state_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = (
        "import os, sys\nfrom reconciler.state import ManagedRecord, StateStore\n"
        "s = StateStore(sys.argv[1])\n"
        "with s.lock('campaignctl apply'):\n"
        "    s.record(ManagedRecord('EmailCampaign', 'Late', '103', {}))\n"
        "    os._exit(9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(state_file)], timeout=20, check=False)
    assert proc.returncode == 9
    code, out, err = campaignctl(capsys, "--state", str(state_file), "state", "list")
    assert code == 0 and "Late" in out and "folding" in err
    assert serial(state_file) == 2
    assert sorted(p.name for p in state_file.parent.iterdir()) == ["state.json"]


# --------------------------------------------------------------------------- errors


def test_no_state_is_an_error_for_state_commands(
    state_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = campaignctl(capsys, "--no-state", "state", "list")
    assert (code, out) == (1, "")
    assert err.startswith("error: state commands need a state file (--no-state)")


def test_corrupt_state_is_reported_not_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"format_version": 1,\n "serial": oops}\n')
    for args in (["state", "list"], ["state", "rm", "A"], ["state", "mv", "A", "B"]):
        code, out, err = campaignctl(capsys, "--state", str(path), *args)
        assert (code, out) == (1, "")
        assert err.startswith(f"error: state file is not valid JSON: Expecting value ({path}:2:12)")
        assert "Traceback" not in err
    assert path.read_text() == '{"format_version": 1,\n "serial": oops}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


# --------------------------------------------------------------------------- a rename as an update


CAMPAIGN_YAML = """\
kind: EmailCampaign
name: {name}
campaign_type: normal
to: {{type: tag, value: [lapsed-90d]}}
sender_id: 53
template_invoke_name: reengage_v2
subject: We miss you
send_time: "2030-12-01 10:00:00"
"""


def test_state_mv_turns_a_rename_into_an_update(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    sandbox_env: Sandbox,
) -> None:
    config, state = tmp_path / "campaigns.d", tmp_path / "state.json"
    config.mkdir()
    yaml_file = config / "q3.yaml"
    yaml_file.write_text(CAMPAIGN_YAML.format(name="Q3 Re-engagement"))
    (config / "other.yaml").write_text(CAMPAIGN_YAML.format(name="Newsletter"))
    common = ["--state", str(state), "--config-dir", str(config)]
    code, _, err = campaignctl(capsys, *common, "apply", "--auto-approve")
    assert code == 0, err
    remote_id = StateStore(state).read().campaigns["EmailCampaign/Q3 Re-engagement"].remote_id

    yaml_file.write_text(CAMPAIGN_YAML.format(name="Q4 Re-engagement"))
    code, out, err = campaignctl(capsys, *common, "plan", "--format", "json")
    assert code == 0, err
    before_mv = {(a["action"], a["name"]) for a in json.loads(out)["actions"]}
    assert ("create", "Q4 Re-engagement") in before_mv
    assert ("delete", "Q3 Re-engagement") in before_mv

    code, _, err = campaignctl(
        capsys, "--state", str(state), "state", "mv", "Q3 Re-engagement", "Q4 Re-engagement"
    )
    assert code == 0, err
    code, out, err = campaignctl(capsys, *common, "plan", "--format", "json")
    assert code == 0, err
    actions = [(a["action"], a["name"], a["remote_id"]) for a in json.loads(out)["actions"]]
    assert [a for a in actions if a[0] != "no-op"] == [("update", "Q4 Re-engagement", remote_id)]
    assert ("no-op", "Newsletter") in {a[:2] for a in actions}
