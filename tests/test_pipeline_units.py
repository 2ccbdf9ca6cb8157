"""Issue 15 "In a pipeline", the pure parts: when a stale plan is one applied already, a
saved plan's targeting count, and the progress lines of steps that never started."""

from __future__ import annotations

import dataclasses

import pytest
from test_planner import email, live_of, record_of, state_of

from reconciler.applier import Outcome, StepResult
from reconciler.cli.progress import Progress
from reconciler.errors import PlanError
from reconciler.plan import Plan
from reconciler.planner import already_applied, compute_plan


def test_a_create_is_applied_once_the_state_moved_and_manages_it() -> None:
    a = email("A")
    before = state_of(serial=3)
    plan = compute_plan([a], before, [])
    after = state_of(record_of(a, "r1"), serial=4)

    assert already_applied(plan, after, [live_of(a, "r1")]) == (
        "the plan was already applied (the state moved from serial 3 to 4)"
    )
    assert already_applied(plan, before, [live_of(a, "r1")]) is None  # the state did not move
    other = dataclasses.replace(after, lineage="another")
    assert already_applied(plan, other, [live_of(a, "r1")]) is None  # another state
    assert already_applied(plan, None, [live_of(a, "r1")]) is None  # a stateful plan, no state
    assert already_applied(plan, after, [live_of(a, "r9")]) is None  # live is not the managed one
    changed = live_of(a, "r1", sender_id=99)
    assert already_applied(plan, after, [changed]) is None  # live is not what was planned


def test_a_delete_is_applied_once_the_campaign_and_its_record_are_gone() -> None:
    a, b = email("A"), email("B")
    before = state_of(record_of(a, "r1"), record_of(b, "r2"), serial=3)
    plan = compute_plan([a], before, [live_of(a, "r1"), live_of(b, "r2")])
    after = state_of(record_of(a, "r1"), serial=4)

    assert already_applied(plan, after, [live_of(a, "r1")]) is not None
    assert already_applied(plan, after, [live_of(a, "r1"), live_of(b, "r2")]) is None
    kept = state_of(record_of(a, "r1"), record_of(b, "r2"), serial=4)
    assert already_applied(plan, kept, [live_of(a, "r1")]) is None


def test_a_plan_that_sends_nothing_is_never_called_applied() -> None:
    a = email("A")
    state = state_of(record_of(a, "r1"), serial=3)
    plan = compute_plan([a], state, [live_of(a, "r1")])

    assert already_applied(plan, state_of(record_of(a, "r1"), serial=4), [live_of(a, "r1")]) is None


def test_a_stateless_plan_checked_against_a_state_is_not_called_applied() -> None:
    a = email("A")
    plan = compute_plan([a], None, [])

    assert already_applied(plan, state_of(record_of(a, "r1"), serial=4), [live_of(a, "r1")]) is None
    assert already_applied(plan, None, [live_of(a, "r1")]) is not None


@pytest.mark.parametrize("value", [-1, "3", True, 1.5])
def test_a_saved_plan_with_a_bad_outside_target_count_is_malformed(value: object) -> None:
    data = Plan(outside_target=2).to_json()
    assert Plan.from_json(data).outside_target == 2
    data["outside_target"] = value

    with pytest.raises(PlanError, match="outside_target must be a count"):
        Plan.from_json(data)


def test_a_step_that_never_started_gets_no_end_line(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress(1, tty=False)
    skipped = StepResult("EmailCampaign", "A", "create", Outcome.SKIPPED, "not started")

    progress(1, 1, skipped)

    assert capsys.readouterr().err == ""
