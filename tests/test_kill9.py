"""Acceptance test of issue 12: `kill -9` during creates, updates and deletes, then ONE rerun.

A real `campaignctl apply --auto-approve` process runs against the sandbox (in this process,
with latency, so several requests are in flight). It is SIGKILLed from inside the sandbox's
request log, the moment the log records its k-th mutating request (after the sandbox
committed it, before the reply is sent): the client never learns the outcome of that call,
and of whatever else was in flight. No sleep decides the kill point.

After exactly one plain `apply --auto-approve`: campaign names are unique live, no
touchpoint is orphaned or doubled, `plan --detailed-exitcode` exits 0 and `drift` exits 0.
Touchpoints are checked through the `Sandbox` API, not HTTP paths (which are being renamed).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli

from reconciler.sandbox import Sandbox

pytestmark = pytest.mark.slow

CONFIG = Path("campaigns.d")
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: How long a killed run may take to reach its kill point (a bound, not a synchronisation).
RUN_TIMEOUT_S = 30.0
KILL_POINTS = (1, 3, 5)

EMAILS = ("Alpha", "Beta", "Gamma", "Delta")
JOURNEYS = {"Journey A": ("hello", "nudge"), "Journey B": ("one", "two")}


#: On update these change their subject (write-only) too; the others only readable fields,
#: so a killed update of theirs leaves a state record that is older than live and YAML.
NEW_SUBJECT = frozenset({"Alpha", "Gamma"})


def email_doc(name: str, version: int) -> str:
    subject = version if name in NEW_SUBJECT else 1
    return (
        f"kind: EmailCampaign\nname: {name}\ncampaign_type: normal\n"
        "to: {type: tag, value: [t]}\nsender_id: 53\ntemplate_invoke_name: tpl\n"
        f"subject: {name} v{subject}\nreply_to: v{version}@example.com\n"
    )


def journey_doc(name: str, steps: tuple[str, ...], version: int) -> str:
    lines = [f"kind: MessagingCampaign\nname: {name}\nchannel_type: whatsapp\ntouchpoints:"]
    lines += [f"  - {{name: {s}, type: message, message: {s} v{version}}}" for s in steps]
    return "\n".join(lines) + "\n"


def write_config(*, version: int, emails: tuple[str, ...], journeys: dict[str, Any]) -> None:
    CONFIG.mkdir(exist_ok=True)
    for old in CONFIG.glob("*.yaml"):
        old.unlink()
    for name in emails:
        (CONFIG / f"{name}.yaml").write_text(email_doc(name, version))
    for name, steps in journeys.items():
        (CONFIG / f"{name.replace(' ', '_')}.yaml").write_text(journey_doc(name, steps, version))


class KillOnRequest:
    """SIGKILLs the apply process when the sandbox logs its k-th mutating request.

    The sandbox logs a request after committing it and before sending the reply, so the
    kill lands exactly there: the remote change is made, the client never hears of it.
    """

    def __init__(self, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, at: int) -> None:
        self.at = at
        self.seen = 0
        self.pid: int | None = None
        self.reached = threading.Event()
        self._lock = threading.Lock()
        original = sandbox.log.record

        def record(entry: Any) -> None:
            original(entry)
            if entry.method in MUTATING and not entry.path.endswith("/validate"):
                with self._lock:
                    self.seen += 1
                    if self.seen == self.at:
                        self.reached.set()
                        if self.pid is not None:
                            os.kill(self.pid, signal.SIGKILL)

        monkeypatch.setattr(sandbox.log, "record", record)

    def run(self, *args: str) -> int:
        """Start `campaignctl ARGS`; return its exit status once killed (or finished)."""
        process = subprocess.Popen(
            [sys.executable, "-m", "reconciler", *args],
            env=dict(os.environ),  # what the sandbox_env fixture set, whatever the names
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with self._lock:
            self.pid = process.pid
            if self.reached.is_set():  # reached before the pid was known: kill now
                os.kill(process.pid, signal.SIGKILL)
        try:
            return process.wait(timeout=RUN_TIMEOUT_S)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def assert_converged_after_one_rerun(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], journeys: dict[str, Any]
) -> None:
    code, out, err = run_cli(capsys, "apply", "--auto-approve")
    assert code == 0, out + err
    emails = Counter(c["name"] for c in sandbox.email_campaigns())
    assert all(n == 1 for n in emails.values()), emails
    campaigns = sandbox.touchpoint_campaigns()
    assert Counter(c["name"] for c in campaigns) == Counter(list(journeys))
    ids = {c["_id"]: c["name"] for c in campaigns}
    touchpoints = sandbox.touchpoints()
    assert all(tp["campaign_id"] in ids for tp in touchpoints), "orphan touchpoint"
    for campaign_id, name in ids.items():
        steps = [tp["name"] for tp in sandbox.touchpoints(campaign_id)]
        assert steps == list(journeys[name]), (name, steps)
    code, out, err = run_cli(capsys, "plan", "--detailed-exitcode")
    assert code == 0, out + err
    code, out, err = run_cli(capsys, "drift")
    assert code == 0, out + err


@pytest.mark.parametrize("at", KILL_POINTS)
def test_kill9_during_creates_then_one_rerun_converges(
    at: int,
    sandbox_env: Sandbox,
    in_tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sandbox_env.set_latency(20)
    write_config(version=1, emails=EMAILS, journeys=JOURNEYS)
    killer = KillOnRequest(sandbox_env, monkeypatch, at)
    assert killer.run("apply", "--auto-approve") == -signal.SIGKILL
    assert_converged_after_one_rerun(sandbox_env, capsys, JOURNEYS)
    assert sorted(c["name"] for c in sandbox_env.email_campaigns()) == sorted(EMAILS)


@pytest.mark.parametrize("at", KILL_POINTS)
def test_kill9_during_updates_then_one_rerun_converges(
    at: int,
    sandbox_env: Sandbox,
    in_tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_config(version=1, emails=EMAILS, journeys=JOURNEYS)
    assert run_cli(capsys, "apply", "--auto-approve")[0] == 0
    # Every email gets a new reply_to, two a new subject (write-only) too; every journey new
    # messages and one more touchpoint.
    grown = {name: (*steps, "extra") for name, steps in JOURNEYS.items()}
    write_config(version=2, emails=EMAILS, journeys=grown)
    sandbox_env.set_latency(20)
    killer = KillOnRequest(sandbox_env, monkeypatch, at)
    assert killer.run("apply", "--auto-approve") == -signal.SIGKILL
    assert_converged_after_one_rerun(sandbox_env, capsys, grown)
    replies = {c["name"]: c["reply_to"] for c in sandbox_env.email_campaigns()}
    subjects = {c["name"]: c["subject"] for c in sandbox_env.email_campaigns()}
    assert replies == dict.fromkeys(EMAILS, "v2@example.com")
    assert subjects == {n: f"{n} v2" if n in NEW_SUBJECT else f"{n} v1" for n in EMAILS}
    messages = {tp["message"]["text"] for tp in sandbox_env.touchpoints()}
    assert all(text.endswith(" v2") for text in messages), messages


@pytest.mark.parametrize("at", KILL_POINTS)
def test_kill9_during_deletes_then_one_rerun_converges(
    at: int,
    sandbox_env: Sandbox,
    in_tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_config(version=1, emails=EMAILS, journeys=JOURNEYS)
    assert run_cli(capsys, "apply", "--auto-approve")[0] == 0
    # Keep one campaign (deleting every managed one needs --force): 3 emails and both
    # journeys (their touchpoints first) are deleted.
    write_config(version=1, emails=EMAILS[:1], journeys={})
    sandbox_env.set_latency(20)
    killer = KillOnRequest(sandbox_env, monkeypatch, at)
    assert killer.run("apply", "--auto-approve") == -signal.SIGKILL
    assert_converged_after_one_rerun(sandbox_env, capsys, {})
    assert [c["name"] for c in sandbox_env.email_campaigns()] == list(EMAILS[:1])
    assert sandbox_env.touchpoints() == []
