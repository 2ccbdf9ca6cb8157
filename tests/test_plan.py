"""reconciler.plan: value types, counts, ordering and the JSON round-trip."""

from __future__ import annotations

import json

import pytest

from reconciler.errors import PlanError
from reconciler.plan import (
    FORMAT_VERSION,
    Action,
    ActionKind,
    FieldChange,
    Plan,
    Reason,
    TouchpointAction,
    format_path,
)


def act(action: ActionKind, name: str, reason: Reason, kind: str = "EmailCampaign") -> Action:
    return Action(action, kind, name, None if action == ActionKind.CREATE else f"id-{name}",
                  reason, f"{action} {name}")  # fmt: skip


def full_plan() -> Plan:
    """A plan with one action of every kind, touchpoints and nested change paths."""
    touchpoints = (
        TouchpointAction(ActionKind.DELETE, "old", "tp1", Reason.TOUCHPOINT_REMOVED),
        TouchpointAction(
            ActionKind.UPDATE,
            "hello",
            "tp2",
            Reason.TOUCHPOINT_FIELDS_DIFFER,
            (FieldChange(("message",), "sha256:00", {"text": "hi"}),),
            {"name": "hello", "type": "message", "message": {"text": "hi"}},
        ),
        TouchpointAction(
            ActionKind.MOVE, "later", "tp3", Reason.REORDER_RECREATES, (), {"name": "later"}
        ),
        TouchpointAction(
            ActionKind.CREATE, "new", None, Reason.TOUCHPOINT_NEW, (), {"name": "new"}
        ),
        TouchpointAction(ActionKind.NO_OP, "same", "tp4", Reason.UP_TO_DATE, (), {"name": "same"}),
    )
    actions = (
        act(ActionKind.NO_OP, "zeta", Reason.UP_TO_DATE),
        Action(
            ActionKind.UPDATE,
            "EmailCampaign",
            "beta",
            "42",
            Reason.FIELDS_DIFFER,
            "2 fields differ",
            (
                FieldChange(("ab_test", "subjects", 1), "B", "C"),
                FieldChange(("reply_to",), "a@example.com", None),
            ),
            desired={
                "kind": "EmailCampaign",
                "name": "beta",
                "to": {"type": "tag", "value": ["x"]},
            },
            live_fingerprint="f" * 32,
            live_status=0,
        ),
        act(ActionKind.CREATE, "alpha", Reason.NOT_IN_LIVE),
        act(ActionKind.DELETE, "gone", Reason.DELETE_BECAUSE_NO_CONFIG),
        act(ActionKind.DELETE, "stray", Reason.PRUNE_UNMANAGED),
        act(ActionKind.BLOCKED, "sent", Reason.EXECUTED_CANNOT_UPDATE),
        act(ActionKind.NO_OP, "foreign", Reason.UNMANAGED),
        Action(
            ActionKind.UPDATE,
            "MessagingCampaign",
            "journey",
            "cmp_1",
            Reason.TOUCHPOINTS_DIFFER,
            "touchpoints differ",
            touchpoints=touchpoints,
            live_status="active",
        ),
        act(ActionKind.REPLACE, "swap", Reason.REPLACE_BECAUSE_CANNOT_UPDATE, "MessagingCampaign"),
    )
    return Plan(
        actions=actions,
        state_lineage="lin",
        state_serial=7,
        config_dir="campaigns.d",
        warnings=("a warning",),
        managed=5,
    )


def test_actions_sorted_by_kind_then_name() -> None:
    names = [(a.kind, a.name) for a in full_plan().actions]
    assert names == sorted(names)
    assert names[0] == ("EmailCampaign", "alpha")
    assert names[-1] == ("MessagingCampaign", "swap")


def test_summary_counts_campaigns_and_replace_twice() -> None:
    assert full_plan().summary() == {
        "create": 2,  # alpha + swap
        "update": 2,  # beta + journey
        "delete": 3,  # gone + stray + swap
        "blocked": 1,
        "no_op": 1,
        "unmanaged": 1,
    }
    assert full_plan().summary_line() == "Plan: 2 to create, 2 to update, 3 to delete, 1 blocked."


@pytest.mark.parametrize(
    ("action", "reason", "expected"),
    [
        (ActionKind.NO_OP, Reason.UNMANAGED, False),
        (ActionKind.NO_OP, Reason.UP_TO_DATE, False),
        (ActionKind.NO_OP, Reason.ADOPTED_BY_NAME, False),
        (ActionKind.BLOCKED, Reason.EXECUTED_CANNOT_UPDATE, True),
        (ActionKind.CREATE, Reason.NOT_IN_LIVE, True),
        (ActionKind.DELETE, Reason.PRUNE_UNMANAGED, True),
        (ActionKind.REPLACE, Reason.REPLACE_BECAUSE_CANNOT_UPDATE, True),
        (ActionKind.UPDATE, Reason.FIELDS_DIFFER, True),
    ],
)
def test_has_changes(action: ActionKind, reason: Reason, expected: bool) -> None:
    assert Plan(actions=(act(action, "x", reason),)).has_changes is expected


def test_empty_plan() -> None:
    plan = Plan()
    assert not plan.has_changes
    assert plan.summary_line() == "Plan: 0 to create, 0 to update, 0 to delete, 0 blocked."


def test_changes_only_drops_noops_and_unmanaged() -> None:
    names = [a.name for a in full_plan().changes_only().actions]
    assert "zeta" not in names and "foreign" not in names
    assert len(names) == 7


def test_fields_to_send_are_top_level_paths_once() -> None:
    action = full_plan().get("EmailCampaign", "beta")
    assert action is not None
    assert action.fields_to_send() == ["ab_test", "reply_to"]


def test_format_path() -> None:
    assert format_path(("ab_test", "subjects", 1)) == "ab_test.subjects[1]"
    assert format_path(("to", "value", 0)) == "to.value[0]"
    assert format_path(()) == ""


def test_json_schema_top_level_and_action_keys() -> None:
    data = full_plan().to_json()
    assert data["format_version"] == FORMAT_VERSION
    assert data["state"] == {"lineage": "lin", "serial": 7}
    assert data["summary"]["has_changes"] is True
    email = next(a for a in data["actions"] if a["name"] == "beta")
    assert set(email) == {
        "action", "kind", "name", "remote_id", "reason", "message", "changes",
        "desired", "live_fingerprint", "live_status",
    }  # fmt: skip
    assert email["changes"][0] == {"path": ["ab_test", "subjects", 1], "before": "B", "after": "C"}
    journey = next(a for a in data["actions"] if a["name"] == "journey")
    assert [t["action"] for t in journey["touchpoints"]] == [
        "delete", "update", "move", "create", "no-op",
    ]  # fmt: skip
    assert set(journey["touchpoints"][0]) == {
        "action", "name", "remote_id", "changes", "reason", "desired",
    }  # fmt: skip
    unmanaged = next(a for a in data["actions"] if a["name"] == "foreign")
    assert (unmanaged["action"], unmanaged["reason"]) == ("no-op", "unmanaged")


def test_json_round_trip_through_text() -> None:
    plan = full_plan()
    text = json.dumps(plan.to_json(), sort_keys=True)
    again = Plan.from_json(json.loads(text))
    assert again == plan
    assert json.dumps(again.to_json(), sort_keys=True) == text
    assert isinstance(again.actions[0].action, ActionKind)


def test_from_json_refuses_another_format_version() -> None:
    data = full_plan().to_json()
    data["format_version"] = FORMAT_VERSION + 1
    with pytest.raises(PlanError, match="format_version"):
        Plan.from_json(data)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["actions"][0].update(action="explode"),
        lambda d: d["actions"][0].update(reason="because"),
        lambda d: d["actions"][0].pop("kind"),
        lambda d: d.update(actions=[42]),
    ],
)
def test_from_json_malformed_is_a_plan_error(mutate: object) -> None:
    data = json.loads(json.dumps(full_plan().to_json()))
    mutate(data)  # type: ignore[operator]
    with pytest.raises(PlanError, match="malformed"):
        Plan.from_json(data)


def test_from_json_of_a_non_object() -> None:
    with pytest.raises(PlanError):
        Plan.from_json([])  # type: ignore[arg-type]


def test_reason_codes_are_the_documented_spellings() -> None:
    assert {r.value for r in Reason} >= {
        "executed_cannot_update",
        "replace_because_cannot_update",
        "delete_because_no_config",
        "unmanaged",
        "reorder_recreates",
    }
    assert ActionKind.NO_OP.value == "no-op"
