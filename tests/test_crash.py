"""Crash and interrupt tests: a real `campaignctl apply` subprocess, SIGKILLed mid-run.

The sandbox runs in this process (with latency, so the run is slow enough to be hit in the
middle); each apply is a separate interpreter that is killed at several points: before its
first request, and after a growing number of creates. Reruns must converge: exactly the
desired campaigns exist (counted by name: no duplicates), and the next plan is empty.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import wait_until

from reconciler.sandbox import Sandbox

pytestmark = pytest.mark.slow

EMAILS = 30
JOURNEYS = {"Journey A": ["hello", "nudge", "bye"], "Journey B": ["one", "two", "three"]}
WAIT_S = 20.0


def write_config(directory: Path) -> None:
    directory.mkdir()
    for i in range(EMAILS):
        (directory / f"c{i:02d}.yaml").write_text(
            f"name: Campaign {i:02d}\ncampaign_type: normal\nto: {{type: tag, value: [t]}}\n"
            f"sender_id: 53\ntemplate_invoke_name: tpl\nsubject: Subject {i}\n"
            f'send_time: "2027-03-01 10:00:00"\n',
            encoding="utf-8",
        )
    for name, steps in JOURNEYS.items():
        lines = [f"kind: MessagingCampaign\nname: {name}\nchannel_type: whatsapp\ntouchpoints:"]
        lines += [f"  - {{name: {s}, type: message, message: Text of {s}}}" for s in steps]
        (directory / f"{name.replace(' ', '_')}.yaml").write_text("\n".join(lines) + "\n")


def environment(sandbox: Sandbox, state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAMPAIGNCTL_", "ENGAGELAB_"))}
    env.update(
        CAMPAIGNCTL_API_URL=sandbox.url,
        CAMPAIGNCTL_TOUCHPOINT_API_URL=sandbox.url,
        CAMPAIGNCTL_STATE=str(state),
        ENGAGELAB_API_USER=sandbox.api_user,
        ENGAGELAB_API_KEY=sandbox.api_key,
        IMBRACE_API_KEY=sandbox.imbrace_api_key,
        PYTHONUNBUFFERED="1",
    )
    return env


def campaignctl(*args: str) -> list[str]:
    return [sys.executable, "-m", "reconciler", *args]


def start_apply(config: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        campaignctl("apply", str(config), "--auto-approve", "--parallelism", "4"),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_posts(sandbox: Sandbox, proc: subprocess.Popen[str], at_least: int) -> bool:
    """Wait until the sandbox saw `at_least` POSTs in all; False if the run ended first."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if sandbox.request_count("POST") >= at_least:
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    raise AssertionError(f"no {at_least} POSTs within {WAIT_S}s")


def assert_converged(sandbox: Sandbox, config: Path, env: dict[str, str]) -> None:
    names = Counter(c["name"] for c in sandbox.email_campaigns())
    assert names == Counter({f"Campaign {i:02d}": 1 for i in range(EMAILS)})
    journeys = Counter(c["name"] for c in sandbox.touchpoint_campaigns())
    assert journeys == Counter(dict.fromkeys(JOURNEYS, 1))
    for campaign in sandbox.touchpoint_campaigns():
        steps = [tp["name"] for tp in sandbox.touchpoints(campaign["_id"])]
        assert steps == JOURNEYS[campaign["name"]]  # no orphan or duplicate touchpoint
    plan = subprocess.run(
        campaignctl("plan", str(config), "--detailed-exitcode"),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert plan.returncode == 0, plan.stdout + plan.stderr


def test_sigkill_at_several_points_then_rerun_converges(sandbox: Sandbox, tmp_path: Path) -> None:
    config = tmp_path / "campaigns.d"
    write_config(config)
    state = tmp_path / "state" / "default.json"
    env = environment(sandbox, state)
    sandbox.set_latency(40)
    # Faults on top of the kills: creates whose answer is lost, and refusals to retry.
    sandbox.faults.add("POST", "/v1/marketing/campaigns", "drop_after_commit", count=2)
    sandbox.faults.add("POST", "/channel-service/v1/touchpoints", "drop_after_commit", count=1)
    sandbox.faults.add("POST", "/v1/marketing/campaigns", "429", count=3, retry_after=0)
    kills = journals = 0

    # First kill: as soon as the run holds the state lock, before (or at) the first request.
    proc = start_apply(config, env)
    lock = state.with_name(state.name + ".lock")
    assert wait_until(lambda: lock.exists() or proc.poll() is not None, WAIT_S)
    proc.kill()
    proc.communicate(timeout=WAIT_S)
    # Then kills after a growing number of POSTs (creates, touchpoints, validations).
    for posts in (3, 12, 24, 36):
        proc = start_apply(config, env)
        if not wait_for_posts(sandbox, proc, posts):
            break  # that run finished before the kill point
        proc.kill()
        proc.communicate(timeout=WAIT_S)
        assert proc.returncode == -signal.SIGKILL
        kills += 1
        journals += state.with_name("default.json.journal").exists()

    sandbox.set_latency(0)
    for _ in range(4):
        final = subprocess.run(
            campaignctl("apply", str(config), "--auto-approve"),
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if final.returncode == 0:
            break
    assert final.returncode == 0, final.stdout + final.stderr
    assert kills >= 3  # most kills really landed mid-run
    assert journals >= 1  # ...with steps recorded but not committed: the next run folds them
    assert_converged(sandbox, config, env)
    # Every create was done once: one cut off by a kill or a dropped answer was adopted,
    # never re-sent. Other POSTs were refused before anything was done: the 429s, and a
    # request torn by a kill mid-send (the sandbox answers its partial body with 400).
    posts = Counter(
        (entry.status, entry.fault)
        for entry in sandbox.log
        if entry.method == "POST" and entry.path == "/v1/marketing/campaigns"
    )
    assert posts[(200, None)] + posts[(0, "drop_after_commit")] == EMAILS
    assert posts[(429, "429")] == 3
    assert set(posts) <= {(200, None), (0, "drop_after_commit"), (429, "429"), (400, None)}
    assert sandbox.request_count("POST", "/channel-service/v1/campaign") == len(JOURNEYS)
    assert not state.with_name("default.json.journal").exists()
    assert not state.with_name("default.json.lock").exists()


def test_sigint_finishes_steps_in_flight_saves_state_and_exits_130(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    config = tmp_path / "campaigns.d"
    write_config(config)
    state = tmp_path / "state" / "default.json"
    env = environment(sandbox, state)
    sandbox.set_latency(40)

    proc = start_apply(config, env)
    assert wait_for_posts(sandbox, proc, 6)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=WAIT_S)

    assert proc.returncode == 130, out + err
    assert "Interrupted:" in err and "not started" in err
    assert "Apply complete:" in out
    assert state.exists() and not state.with_name("default.json.journal").exists()
    created = sum(1 for _ in sandbox.email_campaigns()) + len(sandbox.touchpoint_campaigns())
    assert 0 < created < EMAILS + len(JOURNEYS)

    sandbox.set_latency(0)
    final = subprocess.run(
        campaignctl("apply", str(config), "--auto-approve"),
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert final.returncode == 0, final.stdout + final.stderr
    assert_converged(sandbox, config, env)
