"""Tests for reconciler.applier against the sandbox: real HTTP, real state files in tmp_path.

Each test writes YAML, plans with the real loader/planner, applies, and checks three things:
what the sandbox now holds, what the state file says, and that the next plan is empty.
"""

from __future__ import annotations

import textwrap
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import builders
import pytest
from builders import journey_yaml
from pydantic import SecretStr

from reconciler.applier import ApplyResult, Outcome, StepResult, apply_plan
from reconciler.canonical import hash_write_only
from reconciler.live import EMAIL_KIND, MESSAGING_KIND
from reconciler.loader import load_directory
from reconciler.plan import Action, ActionKind, Plan, Reason, TouchpointAction
from reconciler.planner import compute_plan
from reconciler.providers import Providers, open_providers
from reconciler.providers.engagelab.client import EmailProvider
from reconciler.sandbox import Sandbox
from reconciler.settings import Settings
from reconciler.state import State, StateStore
from reconciler.workflow import read_live

EMAIL_CAMPAIGNS = "/v1/marketing/campaigns"
TP_CAMPAIGNS = "/channel-service/v1/campaign"
TOUCHPOINTS = "/channel-service/v1/touchpoints"


def email_yaml(name: str, **extra: str) -> str:
    fields = {"subject": f"Hello from {name}", "reply_to": "team@example.com", **extra}
    return builders.email_yaml(name, kind=True, **fields)


@dataclass
class Rig:
    """A config directory, a state file and the sandbox, with plan and apply the CLI's way."""

    sandbox: Sandbox
    config: Path
    state_path: Path

    def settings(self) -> Settings:
        return Settings(
            api_url=self.sandbox.url,
            touchpoint_api_url=self.sandbox.url,
            state_path=self.state_path,
            config_dir=self.config,
            api_user=self.sandbox.api_user,
            api_key=SecretStr(self.sandbox.api_key),
            imbrace_api_key=SecretStr(self.sandbox.imbrace_api_key),
        )

    def write(self, filename: str, text: str) -> None:
        (self.config / filename).write_text(textwrap.dedent(text), encoding="utf-8")

    def remove(self, filename: str) -> None:
        (self.config / filename).unlink()

    def providers(self) -> Providers:
        # Short backoff: the fault storms below retry quickly.
        return open_providers(self.settings(), need_touchpoint=True, backoff=0.01)

    def compute(self, store: StateStore, providers: Providers, **kw: Any) -> Plan:
        loaded = load_directory(self.config, allow_empty=True)
        return compute_plan(loaded.campaigns, store.read(), read_live(providers), **kw)

    def plan(self, **kw: Any) -> Plan:
        with self.providers() as providers:
            return self.compute(StateStore(self.state_path), providers, **kw)

    def apply(
        self,
        *,
        between: Callable[[Plan], None] | None = None,
        plan_kw: dict[str, Any] | None = None,
        **kw: Any,
    ) -> tuple[Plan, ApplyResult]:
        """Plan and apply under the lock; `between` runs after the plan, before the apply."""
        store = StateStore(self.state_path)
        with store.lock("test"), self.providers() as providers:
            plan = self.compute(store, providers, **(plan_kw or {}))
            if between is not None:
                between(plan)
            result = apply_plan(
                plan,
                email=providers.email,
                touchpoint=providers.touchpoint,
                store=store,
                **kw,
            )
        return plan, result

    def state(self) -> State:
        return StateStore(self.state_path).read()

    def email_names(self) -> Counter[str]:
        return Counter(c["name"] for c in self.sandbox.email_campaigns())

    def journeys(self) -> dict[str, list[dict[str, Any]]]:
        """Each touchpoint campaign's touchpoints (message included) in creation order."""
        return {
            c["name"]: self.sandbox.touchpoints(c["_id"])
            for c in self.sandbox.touchpoint_campaigns()
        }

    def assert_converged(self) -> None:
        plan = self.plan()
        pending = [(a.action, a.kind, a.name, a.reason) for a in plan.actions if a.is_change]
        assert pending == []


@pytest.fixture
def rig(sandbox: Sandbox, tmp_path: Path) -> Iterator[Rig]:
    config = tmp_path / "campaigns.d"
    config.mkdir()
    yield Rig(sandbox, config, tmp_path / "state" / "default.json")


def outcomes(result: ApplyResult) -> dict[str, str]:
    return {step.name: str(step.outcome) for step in result.steps}


# --------------------------------------------------------------------------- create


def test_creates_both_kinds_records_state_and_converges(rig: Rig) -> None:
    rig.write("a.yaml", email_yaml("Alpha"))
    rig.write("b.yaml", email_yaml("Beta"))
    rig.write("j.yaml", journey_yaml("Welcome", [("first", "Hi!"), ("second", "Still there?")]))

    _, result = rig.apply()

    assert result.summary_line() == (
        "Apply complete: 3 created, 0 updated, 0 deleted, 0 blocked, 0 failed."
    )
    assert outcomes(result) == {"Alpha": "applied", "Beta": "applied", "Welcome": "applied"}
    assert rig.email_names() == Counter({"Alpha": 1, "Beta": 1})
    journeys = rig.journeys()
    assert [tp["name"] for tp in journeys["Welcome"]] == ["first", "second"]
    assert journeys["Welcome"][1]["message"] == {"text": "Still there?"}
    assert rig.sandbox.request_count("POST", TOUCHPOINTS + "/_validate") == 2

    state = rig.state()
    alpha = state.get(EMAIL_KIND, "Alpha")
    assert alpha is not None and alpha.remote_id == result.steps[0].remote_id
    assert alpha.last_applied["subject"].startswith("sha256:")  # write-only: hashed
    assert "Hello from Alpha" not in rig.state_path.read_text()
    welcome = state.get(MESSAGING_KIND, "Welcome")
    assert welcome is not None
    assert set(welcome.touchpoint_ids) == {"first", "second"}
    assert not rig.state_path.with_name("default.json.journal").exists()
    rig.assert_converged()


def test_apply_of_an_empty_plan_sends_nothing(rig: Rig) -> None:
    rig.write("a.yaml", email_yaml("Alpha"))
    rig.apply()
    writes_before = _writes(rig)
    _, result = rig.apply()
    assert result.steps == []
    assert result.summary_line().startswith("Apply complete: 0 created, 0 updated")
    assert _writes(rig) == writes_before == 1


def _writes(rig: Rig) -> int:
    return sum(rig.sandbox.request_count(m) for m in ("POST", "PUT", "PATCH", "DELETE"))


# --------------------------------------------------------------------------- update


def test_update_sends_changed_fields_and_clears_a_removed_one(rig: Rig) -> None:
    rig.write("a.yaml", email_yaml("Alpha"))
    rig.write("b.yaml", email_yaml("Beta"))
    rig.apply()
    rig.write("a.yaml", email_yaml("Alpha", subject="New subject", reply_to=""))

    plan, result = rig.apply()

    assert plan.get(EMAIL_KIND, "Alpha") is not None
    assert result.summary_line() == (
        "Apply complete: 0 created, 1 updated, 0 deleted, 0 blocked, 0 failed."
    )
    remote_id = int(rig.state().campaigns["EmailCampaign/Alpha"].remote_id)
    stored = rig.sandbox.email_campaign(remote_id)
    assert stored["subject"] == "New subject"
    assert not stored.get("reply_to")
    assert rig.sandbox.request_count("PUT") == 1
    last = rig.state().campaigns["EmailCampaign/Alpha"].last_applied
    assert "reply_to" not in last
    rig.assert_converged()


def test_touchpoints_update_insert_reorder_and_delete_converge(rig: Rig) -> None:
    rig.write("j.yaml", journey_yaml("J", [("a", "A"), ("b", "B"), ("c", "C"), ("d", "D")]))
    rig.apply()
    old_ids = rig.state().campaigns["MessagingCampaign/J"].touchpoint_ids
    # a: message changes; b: removed; new x inserted after c; d stays last
    rig.write("j.yaml", journey_yaml("J", [("a", "A2"), ("c", "C"), ("x", "X"), ("d", "D")]))

    plan, result = rig.apply()

    action = plan.get(MESSAGING_KIND, "J")
    assert action is not None and action.action == ActionKind.UPDATE
    assert outcomes(result) == {"J": "applied"}
    touchpoints = rig.journeys()["J"]
    assert [tp["name"] for tp in touchpoints] == ["a", "c", "x", "d"]
    assert touchpoints[0]["message"] == {"text": "A2"}
    ids = rig.state().campaigns["MessagingCampaign/J"].touchpoint_ids
    assert ids["a"] == old_ids["a"] and ids["c"] == old_ids["c"]  # updated in place, kept
    assert ids["d"] != old_ids["d"]  # recreated after the insertion
    assert "b" not in ids
    rig.assert_converged()


# --------------------------------------------------------------------------- delete & replace


def test_delete_removes_the_campaign_and_its_state_record(rig: Rig) -> None:
    rig.write("a.yaml", email_yaml("Alpha"))
    rig.write("b.yaml", email_yaml("Beta"))
    rig.write("j.yaml", journey_yaml("J", [("a", "A"), ("b", "B")]))
    rig.write("k.yaml", journey_yaml("K", [("a", "A")]))
    rig.apply()
    rig.remove("a.yaml")
    rig.remove("j.yaml")

    _, result = rig.apply()

    assert result.summary_line() == (
        "Apply complete: 0 created, 0 updated, 2 deleted, 0 blocked, 0 failed."
    )
    assert rig.email_names() == Counter({"Beta": 1})
    assert set(rig.journeys()) == {"K"}
    assert set(rig.state().campaigns) == {"EmailCampaign/Beta", "MessagingCampaign/K"}
    # touchpoints go before their campaign
    deletes = [e.path for e in rig.sandbox.log if e.method == "DELETE"]
    tp_deletes = [i for i, p in enumerate(deletes) if p.startswith(TOUCHPOINTS)]
    campaign_delete = next(i for i, p in enumerate(deletes) if p.startswith(TP_CAMPAIGNS))
    assert len(tp_deletes) == 2 and max(tp_deletes) < campaign_delete
    rig.assert_converged()


def test_delete_of_a_campaign_already_gone_counts_as_deleted(rig: Rig) -> None:
    rig.write("a.yaml", email_yaml("Alpha"))
    rig.write("b.yaml", email_yaml("Beta"))
    rig.apply()
    rig.remove("a.yaml")
    alpha_id = rig.state().campaigns["EmailCampaign/Alpha"].remote_id

    def delete_out_of_band(plan: Plan) -> None:
        with rig.providers() as providers:
            assert providers.email is not None
            providers.email.delete_campaign(alpha_id)

    _, result = rig.apply(between=delete_out_of_band)
    assert outcomes(result) == {"Alpha": "applied"}
    assert result.counts()["deleted"] == 1
    assert "EmailCampaign/Alpha" not in rig.state().campaigns


def test_replace_of_a_messaging_campaign_deletes_then_creates(rig: Rig) -> None:
    rig.write("j.yaml", journey_yaml("J", [("a", "A"), ("b", "B")]))
    rig.apply()
    old_id = rig.state().campaigns["MessagingCampaign/J"].remote_id
    rig.write("j.yaml", journey_yaml("J", [("a", "A"), ("b", "B")], channel="email"))

    plan, result = rig.apply()

    action = plan.get(MESSAGING_KIND, "J")
    assert action is not None and action.action == ActionKind.REPLACE
    assert result.summary_line() == (
        "Apply complete: 1 created, 0 updated, 1 deleted, 0 blocked, 0 failed."
    )
    campaigns = rig.sandbox.touchpoint_campaigns()
    assert [(c["name"], c["channel_type"]) for c in campaigns] == [("J", "email")]
    assert campaigns[0]["_id"] != old_id
    assert [tp["name"] for tp in rig.journeys()["J"]] == ["a", "b"]
    assert rig.state().campaigns["MessagingCampaign/J"].remote_id == campaigns[0]["_id"]
    rig.assert_converged()


def test_replace_of_an_email_campaign_deletes_then_creates(rig: Rig) -> None:
    # The planner never replaces an email campaign today; the applier still supports it.
    rig.write("a.yaml", email_yaml("Alpha"))
    _, first = rig.apply()
    old_id = first.steps[0].remote_id
    desired = load_directory(rig.config).campaigns[0].canonical()
    plan = Plan(
        actions=(
            Action(
                ActionKind.REPLACE,
                EMAIL_KIND,
                "Alpha",
                old_id,
                Reason.FIELDS_DIFFER,
                "",
                (),
                desired=desired,
            ),
        )
    )
    store = StateStore(rig.state_path)
    with store.lock("test"), rig.providers() as providers:
        result = apply_plan(plan, email=providers.email, touchpoint=None, store=store)
    assert result.counts()["created"] == 1 and result.counts()["deleted"] == 1
    assert rig.email_names() == Counter({"Alpha": 1})
    assert rig.state().campaigns["EmailCampaign/Alpha"].remote_id != old_id
    rig.assert_converged()


# --------------------------------------------------------------------------- blocked


def test_status_flip_between_plan_and_apply_is_blocked_and_the_run_goes_on(rig: Rig) -> None:
    for name in ("Alpha", "Beta", "Gamma"):
        rig.write(f"{name}.yaml", email_yaml(name))
    rig.apply()
    for name in ("Alpha", "Beta", "Gamma"):
        rig.write(f"{name}.yaml", email_yaml(name, subject="Changed"))
    beta_id = int(rig.state().campaigns["EmailCampaign/Beta"].remote_id)

    def start_sending(plan: Plan) -> None:
        assert {a.action for a in plan.actions} == {ActionKind.UPDATE}
        rig.sandbox.set_email_status(beta_id, 1)

    _, result = rig.apply(between=start_sending)

    assert outcomes(result) == {"Alpha": "applied", "Beta": "blocked", "Gamma": "applied"}
    beta = next(s for s in result.steps if s.name == "Beta")
    assert "32110" in beta.message or "executed" in beta.message.lower()
    assert result.summary_line() == (
        "Apply complete: 0 created, 2 updated, 0 deleted, 1 blocked, 0 failed."
    )
    assert rig.sandbox.email_campaign(beta_id)["subject"] != "Changed"
    # the blocked campaign keeps its old record, so the next plan still shows it (blocked)
    plan = rig.plan()
    assert [(a.name, a.action) for a in plan.actions if a.is_change] == [
        ("Beta", ActionKind.BLOCKED)
    ]


def test_a_blocked_plan_action_is_never_sent(rig: Rig) -> None:
    rig.write("a.yaml", email_yaml("Alpha"))
    rig.apply()
    rig.sandbox.set_email_status(int(rig.state().campaigns["EmailCampaign/Alpha"].remote_id), 2)
    rig.write("a.yaml", email_yaml("Alpha", subject="Changed"))
    puts = rig.sandbox.request_count("PUT")

    plan, result = rig.apply()

    assert plan.actions[0].action == ActionKind.BLOCKED
    assert outcomes(result) == {"Alpha": "blocked"}
    assert rig.sandbox.request_count("PUT") == puts


def test_completed_messaging_campaign_at_apply_time_is_blocked(rig: Rig) -> None:
    rig.write("j.yaml", journey_yaml("J", [("a", "A")]))
    rig.write("a.yaml", email_yaml("Alpha"))
    rig.apply()
    rig.write("j.yaml", journey_yaml("J", [("a", "A"), ("b", "B")]))
    rig.write("a.yaml", email_yaml("Alpha", subject="Changed"))
    j_id = rig.state().campaigns["MessagingCampaign/J"].remote_id

    _, result = rig.apply(
        between=lambda plan: rig.sandbox.set_touchpoint_campaign_status(j_id, "completed")
    )

    assert outcomes(result) == {"Alpha": "applied", "J": "blocked"}
    assert [tp["name"] for tp in rig.journeys()["J"]] == ["a"]


# --------------------------------------------------------------------------- faults


def test_429_storm_on_create_still_converges(rig: Rig) -> None:
    names = [f"Storm {i}" for i in range(6)]
    for name in names:
        rig.write(f"{name}.yaml", email_yaml(name))
    rig.sandbox.faults.add("POST", EMAIL_CAMPAIGNS, "429", count=8, retry_after=0)

    _, result = rig.apply(parallelism=3)

    assert all(step.outcome == Outcome.APPLIED for step in result.steps)
    assert rig.sandbox.request_count("POST", EMAIL_CAMPAIGNS, status=429) == 8
    assert rig.email_names() == Counter(dict.fromkeys(names, 1))
    rig.assert_converged()


def test_5xx_storm_on_update_delete_and_touchpoints_still_converges(rig: Rig) -> None:
    for name in ("Alpha", "Beta", "Gamma"):
        rig.write(f"{name}.yaml", email_yaml(name))
    rig.write("j.yaml", journey_yaml("J", [("a", "A")]))
    rig.apply()
    rig.write("Alpha.yaml", email_yaml("Alpha", subject="Changed"))
    rig.write("Beta.yaml", email_yaml("Beta", subject="Changed"))
    rig.remove("Gamma.yaml")
    rig.write("j.yaml", journey_yaml("J", [("a", "A2"), ("b", "B")]))
    for method, path in (
        ("PUT", EMAIL_CAMPAIGNS),
        ("DELETE", EMAIL_CAMPAIGNS),
        ("PUT", TOUCHPOINTS),
        ("GET", EMAIL_CAMPAIGNS),
    ):
        rig.sandbox.faults.add(method, path, "503", count=2)
    rig.sandbox.faults.add("PUT", EMAIL_CAMPAIGNS, "500", count=1)

    _, result = rig.apply()

    assert outcomes(result) == {
        "Alpha": "applied",
        "Beta": "applied",
        "Gamma": "applied",
        "J": "applied",
    }
    assert rig.sandbox.request_count(status=503) == 8
    assert rig.email_names() == Counter({"Alpha": 1, "Beta": 1})
    rig.assert_converged()


def test_dropped_after_commit_create_is_adopted_not_duplicated(rig: Rig) -> None:
    rig.write("a.yaml", email_yaml("Alpha"))
    rig.write("ab.yaml", email_yaml("Alpha Beta"))  # a substring match that must not be adopted
    rig.apply(plan_kw={"targets": ["Alpha Beta"]})
    rig.sandbox.faults.add("POST", EMAIL_CAMPAIGNS, "drop_after_commit")
    posts = rig.sandbox.request_count("POST", EMAIL_CAMPAIGNS)

    _, result = rig.apply()

    step = next(s for s in result.steps if s.name == "Alpha")
    assert step.outcome == Outcome.APPLIED
    assert "adopted" in step.message
    assert rig.sandbox.request_count("POST", EMAIL_CAMPAIGNS) == posts + 1  # never sent twice
    assert rig.email_names() == Counter({"Alpha": 1, "Alpha Beta": 1})
    live_id = next(
        str(c["campaign_id"]) for c in rig.sandbox.email_campaigns() if c["name"] == "Alpha"
    )
    assert rig.state().campaigns["EmailCampaign/Alpha"].remote_id == live_id
    rig.assert_converged()


def test_dropped_after_commit_messaging_and_touchpoint_creates_are_adopted(rig: Rig) -> None:
    rig.write("j.yaml", journey_yaml("J", [("a", "A"), ("b", "B")]))
    rig.sandbox.faults.add("POST", TP_CAMPAIGNS, "drop_after_commit")
    rig.sandbox.faults.add("POST", TOUCHPOINTS, "drop_after_commit")

    _, result = rig.apply()

    assert outcomes(result) == {"J": "applied"}
    assert [c["name"] for c in rig.sandbox.touchpoint_campaigns()] == ["J"]
    assert [tp["name"] for tp in rig.journeys()["J"]] == ["a", "b"]
    assert rig.sandbox.request_count("POST", TP_CAMPAIGNS) == 1
    rig.assert_converged()


def test_create_dropped_before_is_retried_once_after_the_lookup(rig: Rig) -> None:
    rig.write("a.yaml", email_yaml("Alpha"))
    rig.sandbox.faults.add("POST", EMAIL_CAMPAIGNS, "drop_before")

    _, result = rig.apply()

    assert outcomes(result) == {"Alpha": "applied"}
    assert rig.sandbox.request_count("POST", EMAIL_CAMPAIGNS) == 2
    assert rig.email_names() == Counter({"Alpha": 1})
    rig.assert_converged()


def test_create_that_fails_twice_fails_its_step_and_a_rerun_converges(rig: Rig) -> None:
    rig.write("a.yaml", email_yaml("Alpha"))
    rig.write("b.yaml", email_yaml("Beta"))
    rig.sandbox.faults.add("POST", EMAIL_CAMPAIGNS, "500", count=2)

    _, result = rig.apply(parallelism=1)

    # Alpha sorts first and takes both 500s; Beta goes through.
    assert outcomes(result) == {"Alpha": "failed", "Beta": "applied"}
    assert result.summary_line().endswith("1 created, 0 updated, 0 deleted, 0 blocked, 1 failed.")
    assert rig.email_names() == Counter({"Beta": 1})
    _, again = rig.apply()
    assert outcomes(again) == {"Alpha": "applied"}
    assert rig.email_names() == Counter({"Alpha": 1, "Beta": 1})
    rig.assert_converged()


# --------------------------------------------------------------------------- adoption & validation


def test_a_crash_between_create_and_journal_is_adopted_by_the_next_plan(rig: Rig) -> None:
    rig.write("a.yaml", email_yaml("Alpha"))
    rig.write("j.yaml", journey_yaml("J", [("a", "A")]))
    with rig.providers() as providers:  # what a crashed run created but never recorded
        assert providers.email is not None and providers.touchpoint is not None
        desired = {c.name: c.canonical() for c in load_directory(rig.config).campaigns}
        providers.email.create_campaign(desired["Alpha"])
        made = providers.touchpoint.create_campaign("J", "whatsapp")
        providers.touchpoint.create_touchpoint(
            made.remote_id, {"name": "a", "type": "message", "message": {"text": "A"}}
        )
    posts = rig.sandbox.request_count("POST")

    plan, result = rig.apply()

    assert {a.reason for a in plan.actions} == {Reason.ADOPTED_BY_NAME}
    assert all(s.outcome == Outcome.APPLIED for s in result.steps)
    assert rig.email_names() == Counter({"Alpha": 1})
    assert [c["name"] for c in rig.sandbox.touchpoint_campaigns()] == ["J"]
    assert [tp["name"] for tp in rig.journeys()["J"]] == ["a"]
    assert rig.sandbox.request_count("POST", EMAIL_CAMPAIGNS) == 1
    assert rig.sandbox.request_count("POST", TP_CAMPAIGNS) == 1
    assert rig.sandbox.request_count("POST") >= posts
    assert set(rig.state().campaigns) == {"EmailCampaign/Alpha", "MessagingCampaign/J"}
    rig.assert_converged()


def test_adopting_a_new_messaging_campaign_drops_the_old_records_touchpoint_ids(
    rig: Rig,
) -> None:
    rig.write("j.yaml", journey_yaml("J", [("a", "A"), ("b", "B"), ("z", "Z")]))
    rig.apply()
    rig.write("j.yaml", journey_yaml("J", [("a", "A"), ("b", "B")]))
    old = rig.state().campaigns["MessagingCampaign/J"]
    with rig.providers() as providers:  # gone out of band, then remade by a crashed run
        assert providers.touchpoint is not None
        providers.touchpoint.delete_campaign(old.remote_id)
        made = providers.touchpoint.create_campaign("J", "whatsapp")
        tp = {"name": "a", "type": "message", "message": {"text": "A"}}
        providers.touchpoint.create_touchpoint(made.remote_id, tp)

    plan, result = rig.apply()

    action = plan.get(MESSAGING_KIND, "J")
    assert action is not None and action.reason == Reason.ADOPTED_BY_NAME
    assert outcomes(result) == {"J": "applied"}
    record = rig.state().campaigns["MessagingCampaign/J"]
    live = {tp["name"]: tp["_id"] for tp in rig.journeys()["J"]}
    assert record.remote_id == made.remote_id
    assert record.touchpoint_ids == live and list(live) == ["a", "b"]
    assert not set(record.touchpoint_ids.values()) & set(old.touchpoint_ids.values())
    rig.assert_converged()


def _journey_plan(rig: Rig, touchpoints: list[dict[str, Any]]) -> Plan:
    desired = {
        "kind": MESSAGING_KIND,
        "name": "J",
        "channel_type": "whatsapp",
        "touchpoints": touchpoints,
    }
    return Plan(
        actions=(
            Action(
                ActionKind.CREATE,
                MESSAGING_KIND,
                "J",
                None,
                Reason.NOT_IN_LIVE,
                "",
                (),
                desired=desired,
            ),
        )
    )


def test_failed_touchpoint_validation_fails_the_step_and_state_records_what_exists(
    rig: Rig,
) -> None:
    # Offline validation would refuse this YAML; the API's validate is the second line.
    bad = [
        {"name": "ok", "type": "message", "message": {"text": "fine"}},
        {"name": "empty", "type": "message", "message": {"text": "  "}},
    ]
    store = StateStore(rig.state_path)
    with store.lock("test"), rig.providers() as providers:
        result = apply_plan(
            _journey_plan(rig, bad), email=None, touchpoint=providers.touchpoint, store=store
        )

    (step,) = result.steps
    assert step.outcome == Outcome.FAILED
    assert "empty" in step.message and "non-empty message" in step.message
    assert result.summary_line().endswith("1 created, 0 updated, 0 deleted, 0 blocked, 1 failed.")
    record = rig.state().campaigns["MessagingCampaign/J"]
    assert set(record.touchpoint_ids) == {"ok", "empty"}
    assert record.last_applied == hash_write_only(_journey_plan(rig, bad).actions[0].desired or {})


# --------------------------------------------------------------------------- interruption


def test_stop_after_k_steps_saves_state_and_the_rerun_converges(rig: Rig) -> None:
    names = [f"C{i:02d}" for i in range(20)]
    for name in names:
        rig.write(f"{name}.yaml", email_yaml(name))
    stop = threading.Event()
    seen: list[StepResult] = []

    def progress(done: int, total: int, step: StepResult) -> None:
        assert total == 20
        seen.append(step)
        if done == 5:
            stop.set()

    rig.sandbox.set_latency(20)
    _, result = rig.apply(parallelism=2, on_progress=progress, stop=stop)

    assert result.interrupted
    applied = [s.name for s in result.steps if s.outcome == Outcome.APPLIED]
    skipped = [s.name for s in result.steps if s.outcome == Outcome.SKIPPED]
    # the steps in flight finished; nothing new started (slack: the main thread may lag)
    assert 5 <= len(applied) <= 5 + 2 * 2
    assert len(applied) + len(skipped) == 20
    assert set(rig.state().campaigns) == {f"EmailCampaign/{n}" for n in applied}
    assert sorted(rig.email_names()) == sorted(applied)

    rig.sandbox.set_latency(0)
    _, rest = rig.apply()
    assert sorted(s.name for s in rest.steps) == sorted(skipped)
    assert rig.email_names() == Counter(dict.fromkeys(names, 1))
    rig.assert_converged()


def test_result_json_and_counts(rig: Rig) -> None:
    rig.write("a.yaml", email_yaml("Alpha"))
    _, result = rig.apply()
    data = result.to_json()
    assert data["summary"]["created"] == 1 and data["summary"]["failed"] == 0
    assert data["interrupted"] is False
    assert data["steps"][0] == {
        "kind": EMAIL_KIND,
        "name": "Alpha",
        "action": "create",
        "outcome": "applied",
        "message": "",
        "remote_id": result.steps[0].remote_id,
        "effects": ["created"],
    }


def test_parallelism_must_be_positive(rig: Rig) -> None:
    with pytest.raises(ValueError, match="parallelism"):
        apply_plan(Plan(), email=None, touchpoint=None, store=StateStore(None), parallelism=0)


def test_independent_campaigns_run_concurrently(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(16):
        rig.write(f"c{i}.yaml", email_yaml(f"C{i}"))
    # Each create waits until 8 creates are in flight together: run one at a time, the
    # barrier breaks (after its timeout) and the creates fail. No clock decides the outcome.
    barrier = threading.Barrier(8, timeout=20)
    real_create = EmailProvider.create_campaign

    def create_in_step(self: EmailProvider, desired: Any) -> Any:
        barrier.wait()
        return real_create(self, desired)

    monkeypatch.setattr(EmailProvider, "create_campaign", create_in_step)

    _, result = rig.apply(parallelism=8)

    assert outcomes(result) == {f"C{i}": "applied" for i in range(16)}
    assert result.counts()["created"] == 16
    assert rig.sandbox.request_count("POST") == 16


def test_failed_validation_after_an_update_counts_the_update_and_the_failure(rig: Rig) -> None:
    rig.write("j.yaml", journey_yaml("J", [("ok", "fine")]))
    rig.apply()
    record = rig.state().campaigns["MessagingCampaign/J"]
    ok = {"name": "ok", "type": "message", "message": {"text": "fine"}}
    empty = {"name": "empty", "type": "message", "message": {"text": " "}}
    desired = {"kind": MESSAGING_KIND, "name": "J", "channel_type": "whatsapp"}
    plan = Plan(
        actions=(
            Action(
                ActionKind.UPDATE,
                MESSAGING_KIND,
                "J",
                record.remote_id,
                Reason.TOUCHPOINTS_DIFFER,
                "",
                touchpoints=(
                    TouchpointAction(
                        ActionKind.NO_OP,
                        "ok",
                        record.touchpoint_ids["ok"],
                        Reason.UP_TO_DATE,
                        desired=ok,
                    ),
                    TouchpointAction(
                        ActionKind.CREATE, "empty", None, Reason.TOUCHPOINT_NEW, desired=empty
                    ),
                ),
                desired={**desired, "touchpoints": [ok, empty]},
                live_status="draft",
            ),
        )
    )
    store = StateStore(rig.state_path)
    with store.lock("test"), rig.providers() as providers:
        result = apply_plan(plan, email=None, touchpoint=providers.touchpoint, store=store)

    assert result.summary_line() == (
        "Apply complete: 0 created, 1 updated, 0 deleted, 0 blocked, 1 failed."
    )
    assert "touchpoint 'empty'" in result.steps[0].message
    ids = rig.state().campaigns["MessagingCampaign/J"].touchpoint_ids
    assert ids == {tp["name"]: tp["_id"] for tp in rig.journeys()["J"]}
    assert set(ids) == {"ok", "empty"}
