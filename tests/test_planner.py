"""reconciler.planner: (desired, state, live) -> Plan, safety and stale checks; pure, no HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.canonical import comparable, content_hash, hash_write_only
from reconciler.errors import PlanError, UnsafePlan
from reconciler.live import LiveCampaign, LiveTouchpoint
from reconciler.loader import LoadedCampaign
from reconciler.model import ResolvedFile, Source, campaign_adapter
from reconciler.plan import Action, ActionKind, Plan, Reason
from reconciler.planner import check_safety, compute_plan, find_stale
from reconciler.providers.vendors import EMAIL_WRITE_ONLY
from reconciler.state import ManagedRecord, State

# --------------------------------------------------------------------------- builders


def _resolve(path: str) -> ResolvedFile:
    # A stand-in for the loader's resolver: a file's "content" is its directory's name.
    return ResolvedFile(f"/cfg/{path}", 10, content_hash(path.split("/")[-2]))


def loaded(data: Mapping[str, Any]) -> LoadedCampaign:
    model = campaign_adapter.validate_python(dict(data), context={"resolve_attachment": _resolve})
    return LoadedCampaign(model=model, source=Source("c.yaml", 1, 1))


def email(name: str = "Promo", **over: Any) -> LoadedCampaign:
    data: dict[str, Any] = {
        "kind": "EmailCampaign",
        "name": name,
        "campaign_type": "normal",
        "to": {"type": "tag", "value": ["vip"]},
        "sender_id": 53,
        "template_invoke_name": "tpl",
        "subject": "Hello",
        "reply_to": "support@example.com",
    }
    data.update(over)
    return loaded({k: v for k, v in data.items() if v is not None})


def tp(name: str, text: str | None = None, type_: str = "message") -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "type": type_}
    if type_ == "message":
        out["message"] = text or f"text of {name}"
    return out


def messaging(name: str = "Journey", *names: str, **over: Any) -> LoadedCampaign:
    data: dict[str, Any] = {
        "kind": "MessagingCampaign",
        "name": name,
        "channel_type": "whatsapp",
        "touchpoints": [tp(n) for n in names],
    }
    data.update(over)
    return loaded(data)


def live_of(
    campaign: LoadedCampaign, remote_id: str, status: int | str | None = None, **fields: Any
) -> LiveCampaign:
    """The live object a provider would list for `campaign` as applied (readable fields only)."""
    canon = campaign.canonical()
    readable = {
        k: v for k, v in comparable(canon).items() if k not in EMAIL_WRITE_ONLY | {"touchpoints"}
    }
    readable.update(fields)
    readable = {k: v for k, v in readable.items() if v is not None}
    touchpoints = tuple(
        LiveTouchpoint(f"{remote_id}-tp-{t['name']}", t["name"], t["type"])
        for t in canon.get("touchpoints", ())
    )
    if status is None:
        status = "draft" if campaign.kind == "MessagingCampaign" else 0
    return LiveCampaign(campaign.kind, remote_id, campaign.name, status, readable, touchpoints)


def record_of(campaign: LoadedCampaign, remote_id: str) -> ManagedRecord:
    """The state record an apply of `campaign` leaves."""
    canon = campaign.canonical()
    ids = {t["name"]: f"{remote_id}-tp-{t['name']}" for t in canon.get("touchpoints", ())}
    return ManagedRecord(
        kind=campaign.kind,
        name=campaign.name,
        remote_id=remote_id,
        last_applied=hash_write_only(canon),
        touchpoint_ids=ids,
    )


def state_of(*records: ManagedRecord, serial: int = 3) -> State:
    return State(lineage="lin-1", serial=serial, campaigns={r.key: r for r in records})


def synced(*campaigns: LoadedCampaign) -> tuple[State, list[LiveCampaign]]:
    """State and live for campaigns that were applied and are unchanged (ids r0, r1, ...)."""
    records = [record_of(c, f"r{i}") for i, c in enumerate(campaigns)]
    live = [live_of(c, f"r{i}") for i, c in enumerate(campaigns)]
    return state_of(*records), live


def only(plan: Plan) -> Action:
    assert len(plan.actions) == 1, plan.actions
    return plan.actions[0]


def paths(action: Action) -> list[tuple[str | int, ...]]:
    return [c.path for c in action.changes]


# --------------------------------------------------------------------------- create / no-op


def test_create_when_not_live() -> None:
    campaign = email(subject="Big sale")
    action = only(compute_plan([campaign], state_of(), []))
    assert (action.action, action.reason, action.remote_id) == (
        ActionKind.CREATE,
        Reason.NOT_IN_LIVE,
        None,
    )
    assert action.desired == campaign.canonical()
    by_path = {c.path: c for c in action.changes}
    assert by_path[("subject",)].after == "Big sale"
    assert by_path[("to",)].before is None
    assert ("kind",) not in by_path and ("name",) not in by_path


def test_unchanged_campaign_is_noop() -> None:
    campaign = email()
    state, live = synced(campaign)
    action = only(compute_plan([campaign], state, live))
    assert (action.action, action.reason) == (ActionKind.NO_OP, Reason.UP_TO_DATE)
    assert action.remote_id == "r0"
    assert action.live_fingerprint == live[0].fingerprint
    assert action.live_status == 0


def test_deleted_remotely_is_created_again() -> None:
    campaign = email()
    state, _ = synced(campaign)
    action = only(compute_plan([campaign], state, []))
    assert (action.action, action.reason) == (ActionKind.CREATE, Reason.DELETED_REMOTELY)
    assert "r0" in action.message


# --------------------------------------------------------------------------- field diff


def test_readable_change_has_field_level_path() -> None:
    old = email(
        campaign_type="ab",
        subject=None,
        ab_test={
            "percent": 20,
            "win_condition": {"time_unit": "hour", "after_time": 18, "compare": "open_percent"},
            "subjects": ["A", "B"],
        },
    )
    new = email(
        campaign_type="ab",
        subject=None,
        ab_test={
            "percent": 20,
            "win_condition": {"time_unit": "hour", "after_time": 18, "compare": "open_percent"},
            "subjects": ["A", "C"],
        },
    )
    state = state_of(record_of(old, "r0"))
    action = only(compute_plan([new], state, [live_of(old, "r0")]))
    assert (action.action, action.reason) == (ActionKind.UPDATE, Reason.FIELDS_DIFFER)
    assert [(c.path, c.before, c.after) for c in action.changes] == [
        (("ab_test", "subjects", 1), "B", "C")
    ]
    assert action.fields_to_send() == ["ab_test"]


def test_list_item_added_and_scalar_change() -> None:
    old = email(to={"type": "tag", "value": ["vip"]}, reply_to="a@example.com")
    new = email(to={"type": "tag", "value": ["vip", "new"]}, reply_to="b@example.com")
    state = state_of(record_of(old, "r0"))
    action = only(compute_plan([new], state, [live_of(old, "r0")]))
    changes = {c.path: (c.before, c.after) for c in action.changes}
    assert changes == {
        ("to", "value", 1): (None, "new"),
        ("reply_to",): ("a@example.com", "b@example.com"),
    }


def test_live_drift_of_readable_field_is_an_update() -> None:
    campaign = email()
    state = state_of(record_of(campaign, "r0"))
    live = live_of(campaign, "r0", template_invoke_name="edited_in_ui")
    action = only(compute_plan([campaign], state, [live]))
    assert action.action == ActionKind.UPDATE
    assert [(c.path, c.before, c.after) for c in action.changes] == [
        (("template_invoke_name",), "edited_in_ui", "tpl")
    ]


def test_subject_change_is_seen_only_through_state() -> None:
    old, new = email(subject="Old subject"), email(subject="New subject")
    state = state_of(record_of(old, "r0"))
    live = live_of(old, "r0")
    assert live_of(new, "r0").fields == live.fields  # live cannot tell them apart
    action = only(compute_plan([new], state, [live]))
    assert action.action == ActionKind.UPDATE
    [change] = action.changes
    assert change.path == ("subject",)
    assert change.before == content_hash("Old subject")
    assert change.after == "New subject"


def test_subject_unchanged_against_state_is_noop() -> None:
    campaign = email(subject="Same")
    state, live = synced(campaign)
    assert only(compute_plan([campaign], state, live)).action == ActionKind.NO_OP


def test_attachments_compared_by_content_hash() -> None:
    old = email(attachments=[{"path": "files/v1/offer.pdf", "filename": "offer.pdf"}])
    moved = email(attachments=[{"path": "other/v1/offer.pdf", "filename": "offer.pdf"}])
    changed = email(attachments=[{"path": "files/v2/offer.pdf", "filename": "offer.pdf"}])
    state = state_of(record_of(old, "r0"))
    live = [live_of(old, "r0")]
    # Same file name and content at another path: no change.
    assert only(compute_plan([moved], state, live)).action == ActionKind.NO_OP
    action = only(compute_plan([changed], state, live))
    assert action.action == ActionKind.UPDATE
    [change] = action.changes
    assert change.path == ("attachments", 0, "sha256")
    assert (change.before, change.after) == (content_hash("v1"), content_hash("v2"))
    create = only(compute_plan([changed], state_of(), []))
    shown = {c.path: c.after for c in create.changes}[("attachments",)]
    assert shown == [{"filename": "offer.pdf", "sha256": content_hash("v2")}]  # no path, no bytes


def test_field_removed_from_yaml_is_cleared() -> None:
    old, new = email(reply_to="a@example.com"), email(reply_to=None)
    state = state_of(record_of(old, "r0"))
    action = only(compute_plan([new], state, [live_of(old, "r0")]))
    assert [(c.path, c.before, c.after) for c in action.changes] == [
        (("reply_to",), "a@example.com", None)
    ]
    assert action.fields_to_send() == ["reply_to"]


def test_field_unset_in_yaml_and_state_is_unmanaged() -> None:
    campaign = email(reply_to=None)
    state = state_of(record_of(campaign, "r0"))
    live = live_of(campaign, "r0", reply_to="set-in-ui@example.com", google_track=None)
    assert only(compute_plan([campaign], state, [live])).action == ActionKind.NO_OP


def test_subject_removed_from_yaml_is_cleared_with_hash_before() -> None:
    old, new = email(subject="Hi"), email(subject=None)
    action = only(compute_plan([new], state_of(record_of(old, "r0")), [live_of(old, "r0")]))
    assert [(c.path, c.before, c.after) for c in action.changes] == [
        (("subject",), content_hash("Hi"), None)
    ]


def test_ignore_changes_is_not_diffed_but_sent_on_create() -> None:
    campaign = email(reply_to="a@example.com", lifecycle={"ignore_changes": ["reply_to"]})
    state = state_of(record_of(campaign, "r0"))
    live = live_of(campaign, "r0", reply_to="edited@example.com")
    assert only(compute_plan([campaign], state, [live])).action == ActionKind.NO_OP
    create = only(compute_plan([campaign], state_of(), []))
    assert create.desired is not None and create.desired["reply_to"] == "a@example.com"


def test_empty_forms_are_one_value() -> None:
    campaign = email(warm_up=[], google_track={"campaign_source": ""})
    state = state_of(record_of(campaign, "r0"))
    live = live_of(campaign, "r0", warm_up=[], google_track={})
    assert only(compute_plan([campaign], state, [live])).action == ActionKind.NO_OP


# --------------------------------------------------------------------------- executed


def test_executed_campaign_with_changes_is_blocked() -> None:
    old, new = email(subject="a"), email(subject="b")
    state = state_of(record_of(old, "r0"))
    action = only(compute_plan([new], state, [live_of(old, "r0", status=2)]))
    assert (action.action, action.reason) == (ActionKind.BLOCKED, Reason.EXECUTED_CANNOT_UPDATE)
    assert paths(action) == [("subject",)]
    assert action.live_status == 2


@pytest.mark.parametrize("status", [1, 2, -1])
def test_executed_campaign_without_changes_is_noop(status: int) -> None:
    campaign = email()
    state = state_of(record_of(campaign, "r0"))
    action = only(compute_plan([campaign], state, [live_of(campaign, "r0", status=status)]))
    assert (action.action, action.reason) == (ActionKind.NO_OP, Reason.UP_TO_DATE)


# --------------------------------------------------------------------------- delete / prune


def test_managed_campaign_removed_from_config_is_deleted() -> None:
    gone = email("Old")
    state = state_of(record_of(gone, "r9"))
    action = only(compute_plan([], state, [live_of(gone, "r9")]))
    assert (action.action, action.reason, action.remote_id) == (
        ActionKind.DELETE,
        Reason.DELETE_BECAUSE_NO_CONFIG,
        "r9",
    )
    assert action.desired is None


def test_delete_of_executed_campaign_is_blocked_unless_allowed() -> None:
    gone = email("Old")
    state, live = state_of(record_of(gone, "r9")), [live_of(gone, "r9", status=2)]
    blocked = only(compute_plan([], state, live))
    assert (blocked.action, blocked.reason) == (ActionKind.BLOCKED, Reason.EXECUTED_CANNOT_DELETE)
    allowed = only(compute_plan([], state, live, allow_delete_executed=True))
    assert allowed.action == ActionKind.DELETE


def test_state_record_gone_everywhere_is_forgotten_by_a_state_only_step() -> None:
    # Issue 12: a warning here stayed forever (until `state rm`); the rerun must finish.
    plan = compute_plan([], state_of(record_of(email("Ghost"), "r5")), [])
    forget = only(plan)
    assert (forget.action, forget.reason) == (ActionKind.STATE_ONLY, Reason.FORGET_DELETED)
    assert forget.remote_id == "r5"
    assert plan.has_changes
    assert plan.warnings == ()


def test_unmanaged_live_campaign_is_reported_not_deleted() -> None:
    stranger = live_of(email("Stranger"), "x1")
    plan = compute_plan([], state_of(), [stranger])
    action = only(plan)
    assert (action.action, action.reason) == (ActionKind.NO_OP, Reason.UNMANAGED)
    assert plan.summary()["unmanaged"] == 1
    assert not plan.has_changes


def test_prune_deletes_unmanaged() -> None:
    stranger = live_of(email("Stranger"), "x1")
    action = only(compute_plan([], state_of(), [stranger], prune=True))
    assert (action.action, action.reason) == (ActionKind.DELETE, Reason.PRUNE_UNMANAGED)
    executed = live_of(email("Sent"), "x2", status=2)
    blocked = only(compute_plan([], state_of(), [executed], prune=True))
    assert (blocked.action, blocked.reason) == (ActionKind.BLOCKED, Reason.EXECUTED_CANNOT_DELETE)


def test_prevent_destroy_recorded_in_state_forbids_delete() -> None:
    gone = email("Keep")
    record = record_of(gone, "r1")
    record.last_applied["lifecycle"] = {"prevent_destroy": True}
    with pytest.raises(PlanError, match="EmailCampaign/Keep"):
        compute_plan([], state_of(record), [live_of(gone, "r1")])


# --------------------------------------------------------------------------- identity


def test_without_state_record_the_live_campaign_of_that_name_is_adopted() -> None:
    campaign = email(subject="Hi")
    live = live_of(campaign, "x7")
    action = only(compute_plan([campaign], state_of(), [live]))
    # With a state but no record: the subject cannot be known, so it is sent (then recorded).
    assert (action.action, action.reason, action.remote_id) == (
        ActionKind.UPDATE,
        Reason.ADOPTED_BY_NAME,
        "x7",
    )
    assert paths(action) == [("subject",)]
    assert "x7" in action.message


def test_adopted_without_write_only_fields_is_noop() -> None:
    campaign = email(subject=None)
    action = only(compute_plan([campaign], state_of(), [live_of(campaign, "x7")]))
    assert (action.action, action.reason) == (ActionKind.NO_OP, Reason.ADOPTED_BY_NAME)


def test_no_state_adopts_by_name_and_skips_write_only_fields() -> None:
    campaign = email(subject="Hi")
    action = only(compute_plan([campaign], None, [live_of(campaign, "x7")]))
    assert (action.action, action.reason) == (ActionKind.NO_OP, Reason.ADOPTED_BY_NAME)
    plan = compute_plan([campaign], None, [live_of(campaign, "x7")])
    assert (plan.state_lineage, plan.state_serial, plan.managed) == (None, None, 0)


def test_two_live_campaigns_with_one_name_is_an_error_naming_both() -> None:
    campaign = email("Twin")
    live = [live_of(campaign, "id-a"), live_of(campaign, "id-b")]
    for state in (None, state_of()):
        with pytest.raises(PlanError) as caught:
            compute_plan([campaign], state, live)
        assert "id-a" in str(caught.value) and "id-b" in str(caught.value)


def test_adoption_skips_live_campaigns_the_state_knows() -> None:
    known, new = email("Twin"), email("Twin-2")
    # A live "Twin-2" already managed under another name cannot be adopted by "Twin-2".
    state = state_of(record_of(known, "id-a"))
    live = [live_of(known, "id-a"), live_of(new, "id-b")]
    plan = compute_plan([known, new], state, live)
    assert plan.get("EmailCampaign", "Twin-2").reason == Reason.ADOPTED_BY_NAME  # type: ignore[union-attr]
    moved = State(lineage="l", serial=1, campaigns={})
    other = record_of(new, "id-b")
    other.name = "Renamed"
    moved.put(other)
    plan = compute_plan([new], moved, [live_of(new, "id-b")])
    create = plan.get("EmailCampaign", "Twin-2")
    assert create is not None and create.action == ActionKind.CREATE
    assert plan.get("EmailCampaign", "Renamed").action == ActionKind.DELETE  # type: ignore[union-attr]


def test_duplicate_name_known_to_state_is_not_ambiguous() -> None:
    campaign = email("Twin")
    state = state_of(record_of(campaign, "id-a"))
    live = [live_of(campaign, "id-a"), live_of(campaign, "id-b")]
    plan = compute_plan([campaign], state, live)
    assert [(a.remote_id, a.reason) for a in plan.actions] == [
        ("id-a", Reason.UP_TO_DATE),
        ("id-b", Reason.UNMANAGED),
    ]


def test_state_record_gone_live_adopts_a_same_named_campaign_instead_of_duplicating() -> None:
    campaign = email(subject=None)
    state = state_of(record_of(campaign, "old"))
    action = only(compute_plan([campaign], state, [live_of(campaign, "new")]))
    assert (action.action, action.reason, action.remote_id) == (
        ActionKind.NO_OP,
        Reason.ADOPTED_BY_NAME,
        "new",
    )


def test_renamed_in_state_updates_the_live_name() -> None:
    old, new = email("Old name"), email("New name")
    record = record_of(new, "r0")  # after `state mv "Old name" "New name"`
    action = only(compute_plan([new], state_of(record), [live_of(old, "r0")]))
    assert action.action == ActionKind.UPDATE
    assert [(c.path, c.before, c.after) for c in action.changes] == [
        (("name",), "Old name", "New name")
    ]


# --------------------------------------------------------------------------- targets


def test_target_restricts_the_plan() -> None:
    a, b = email("A"), email("B", subject="changed")
    state = state_of(record_of(a, "ra"), record_of(email("B"), "rb"), record_of(email("C"), "rc"))
    live = [live_of(a, "ra"), live_of(b, "rb"), live_of(email("C"), "rc"), live_of(email("U"), "u")]
    plan = compute_plan([a, b], state, live, targets=["B"])
    assert [(x.name, x.action) for x in plan.actions] == [("B", ActionKind.UPDATE)]
    plan = compute_plan([a, b], state, live, targets=["EmailCampaign/C", "nope"])
    assert [(x.name, x.action) for x in plan.actions] == [("C", ActionKind.DELETE)]
    assert plan.warnings == (
        "--target 'nope' matches no campaign",
        "targeting is in effect: 1 change outside the target is not shown",  # B's update
    )
    assert plan.managed == 3 and plan.outside_target == 1


def test_actions_sorted_by_kind_then_name() -> None:
    campaigns = [email("b"), messaging("a", "t1"), email("a")]
    plan = compute_plan(campaigns, state_of(), [])
    assert [(a.kind, a.name) for a in plan.actions] == [
        ("EmailCampaign", "a"),
        ("EmailCampaign", "b"),
        ("MessagingCampaign", "a"),
    ]


# --------------------------------------------------------------------------- messaging


def tp_plan(action: Action) -> list[tuple[str, str, str]]:
    return [(str(t.action), t.name, str(t.reason)) for t in action.touchpoints]


def test_messaging_create_creates_touchpoints_in_order() -> None:
    action = only(compute_plan([messaging("J", "one", "two")], state_of(), []))
    assert action.action == ActionKind.CREATE
    assert tp_plan(action) == [
        ("create", "one", "touchpoint_new"),
        ("create", "two", "touchpoint_new"),
    ]
    assert action.touchpoints[0].desired == {
        "name": "one",
        "type": "message",
        "message": {"text": "text of one"},
    }


def test_messaging_unchanged_is_noop_with_touchpoint_ids() -> None:
    campaign = messaging("J", "one", "two")
    state, live = synced(campaign)
    action = only(compute_plan([campaign], state, live))
    assert (action.action, action.reason) == (ActionKind.NO_OP, Reason.UP_TO_DATE)
    assert [(t.action, t.remote_id) for t in action.touchpoints] == [
        (ActionKind.NO_OP, "r0-tp-one"),
        (ActionKind.NO_OP, "r0-tp-two"),
    ]


def test_channel_type_change_replaces() -> None:
    old, new = messaging("J", "one"), messaging("J", "one", channel_type="email")
    state = state_of(record_of(old, "r0"))
    action = only(compute_plan([new], state, [live_of(old, "r0")]))
    assert (action.action, action.reason) == (
        ActionKind.REPLACE,
        Reason.REPLACE_BECAUSE_CANNOT_UPDATE,
    )
    assert [(c.path, c.before, c.after) for c in action.changes] == [
        (("channel_type",), "whatsapp", "email")
    ]
    assert tp_plan(action) == [
        ("delete", "one", "touchpoint_removed"),
        ("create", "one", "touchpoint_new"),
    ]
    summary = Plan(actions=(action,)).summary()
    assert (summary["create"], summary["delete"]) == (1, 1)


def test_replace_of_active_campaign_is_blocked_unless_allowed() -> None:
    old, new = messaging("J", "one"), messaging("J", "one", channel_type="email")
    state, live = state_of(record_of(old, "r0")), [live_of(old, "r0", status="active")]
    blocked = only(compute_plan([new], state, live))
    assert (blocked.action, blocked.reason) == (ActionKind.BLOCKED, Reason.EXECUTED_CANNOT_DELETE)
    assert only(compute_plan([new], state, live, allow_delete_executed=True)).action == (
        ActionKind.REPLACE
    )


def test_prevent_destroy_on_replace_is_an_error() -> None:
    old = messaging("J", "one")
    new = messaging("J", "one", channel_type="email", lifecycle={"prevent_destroy": True})
    with pytest.raises(PlanError, match=r"prevent_destroy.*MessagingCampaign/J"):
        compute_plan([new], state_of(record_of(old, "r0")), [live_of(old, "r0")])


def _touchpoint_case(before: list[str], after: list[str]) -> Action:
    old, new = messaging("J", *before), messaging("J", *after)
    return only(compute_plan([new], state_of(record_of(old, "r0")), [live_of(old, "r0")]))


def test_touchpoint_appended_is_one_create() -> None:
    action = _touchpoint_case(["a", "b"], ["a", "b", "c"])
    assert (action.action, action.reason) == (ActionKind.UPDATE, Reason.TOUCHPOINTS_DIFFER)
    assert action.changes == ()
    assert tp_plan(action) == [
        ("no-op", "a", "up_to_date"),
        ("no-op", "b", "up_to_date"),
        ("create", "c", "touchpoint_new"),
    ]


def test_touchpoint_removed_from_the_middle_is_one_delete() -> None:
    action = _touchpoint_case(["a", "b", "c"], ["a", "c"])
    assert tp_plan(action) == [
        ("delete", "b", "touchpoint_removed"),
        ("no-op", "a", "up_to_date"),
        ("no-op", "c", "up_to_date"),
    ]
    assert action.touchpoints[0].remote_id == "r0-tp-b"


def test_touchpoint_inserted_recreates_from_the_insertion() -> None:
    action = _touchpoint_case(["a", "b", "c"], ["a", "x", "b", "c"])
    assert tp_plan(action) == [
        ("no-op", "a", "up_to_date"),
        ("create", "x", "touchpoint_new"),
        ("move", "b", "reorder_recreates"),
        ("move", "c", "reorder_recreates"),
    ]
    move = action.touchpoints[2]
    assert move.remote_id == "r0-tp-b" and move.desired is not None
    assert move.desired["message"] == {"text": "text of b"}


def test_touchpoint_reorder_recreates_from_first_difference() -> None:
    action = _touchpoint_case(["a", "b", "c", "d"], ["a", "c", "b", "d"])
    assert tp_plan(action) == [
        ("no-op", "a", "up_to_date"),
        ("move", "c", "reorder_recreates"),
        ("move", "b", "reorder_recreates"),
        ("move", "d", "reorder_recreates"),
    ]


def test_touchpoint_message_change_is_seen_through_state() -> None:
    old = messaging("J", touchpoints=[tp("a", "hi"), tp("b")])
    new = messaging("J", touchpoints=[tp("a", "hello"), tp("b")])
    action = only(compute_plan([new], state_of(record_of(old, "r0")), [live_of(old, "r0")]))
    assert action.action == ActionKind.UPDATE
    first = action.touchpoints[0]
    assert (first.action, first.reason) == (ActionKind.UPDATE, Reason.TOUCHPOINT_FIELDS_DIFFER)
    assert [(c.path, c.before, c.after) for c in first.changes] == [
        (("message",), content_hash({"text": "hi"}), {"text": "hello"})
    ]
    assert action.touchpoints[1].action == ActionKind.NO_OP


def test_touchpoint_string_and_object_message_are_one_value() -> None:
    old = messaging("J", touchpoints=[tp("a", "hi")])
    new = messaging("J", touchpoints=[{"name": "a", "type": "message", "message": {"text": "hi"}}])
    action = only(compute_plan([new], state_of(record_of(old, "r0")), [live_of(old, "r0")]))
    assert action.action == ActionKind.NO_OP


def test_touchpoint_type_change_is_an_update() -> None:
    old = messaging("J", touchpoints=[tp("a", type_="action")])
    new = messaging("J", touchpoints=[tp("a", "now a message")])
    action = only(compute_plan([new], state_of(record_of(old, "r0")), [live_of(old, "r0")]))
    changes = {c.path: (c.before, c.after) for c in action.touchpoints[0].changes}
    assert changes == {
        ("type",): ("action", "message"),
        ("message",): (None, {"text": "now a message"}),
    }


def test_touchpoint_renamed_in_ui_is_renamed_back_by_state_id() -> None:
    campaign = messaging("J", "a")
    live = live_of(campaign, "r0")
    renamed = LiveCampaign(
        live.kind, live.remote_id, live.name, live.status, live.fields,
        (LiveTouchpoint("r0-tp-a", "edited", "message"),),
    )  # fmt: skip
    action = only(compute_plan([campaign], state_of(record_of(campaign, "r0")), [renamed]))
    [line] = action.touchpoints
    assert (line.action, line.remote_id) == (ActionKind.UPDATE, "r0-tp-a")
    assert [(c.path, c.before, c.after) for c in line.changes] == [(("name",), "edited", "a")]


def test_completed_campaign_with_touchpoint_changes_is_blocked() -> None:
    old, new = messaging("J", "a"), messaging("J", "a", "b")
    state = state_of(record_of(old, "r0"))
    blocked = only(compute_plan([new], state, [live_of(old, "r0", status="completed")]))
    assert (blocked.action, blocked.reason) == (ActionKind.BLOCKED, Reason.CAMPAIGN_COMPLETED)
    active = only(compute_plan([new], state, [live_of(old, "r0", status="active")]))
    assert active.action == ActionKind.UPDATE
    unchanged = only(compute_plan([old], state, [live_of(old, "r0", status="completed")]))
    assert unchanged.action == ActionKind.NO_OP


def test_messaging_delete_lists_its_touchpoints() -> None:
    gone = messaging("J", "a", "b")
    action = only(compute_plan([], state_of(record_of(gone, "r0")), [live_of(gone, "r0")]))
    assert action.action == ActionKind.DELETE
    assert tp_plan(action) == [
        ("delete", "a", "touchpoint_removed"),
        ("delete", "b", "touchpoint_removed"),
    ]


# --------------------------------------------------------------------------- safety


def _deleting(managed: int, deleted: int) -> tuple[Plan, State]:
    campaigns = [email(f"c{i:02}") for i in range(managed)]
    state, live = synced(*campaigns)
    return compute_plan(campaigns[deleted:], state, live), state


def test_3_of_10_deletes_is_safe() -> None:
    plan, state = _deleting(10, 3)
    assert plan.summary()["delete"] == 3
    check_safety(plan, state, force=False)


def test_4_of_10_deletes_needs_force() -> None:
    plan, state = _deleting(10, 4)
    with pytest.raises(UnsafePlan) as caught:
        check_safety(plan, state, force=False)
    assert "4 of 10" in str(caught.value) and "40%" in str(caught.value)
    assert caught.value.hint is not None and "--force" in caught.value.hint
    check_safety(plan, state, force=True)


def test_8_of_9_deletes_is_below_the_ratio_minimum() -> None:
    plan, state = _deleting(9, 8)
    check_safety(plan, state, force=False)


def test_deleting_every_managed_campaign_needs_force() -> None:
    for managed in (1, 9, 12):
        plan, state = _deleting(managed, managed)
        with pytest.raises(
            UnsafePlan, match=f"every managed campaign \\({managed} of {managed}\\)"
        ):
            check_safety(plan, state, force=False)
        check_safety(plan, state, force=True)


def test_replaces_count_toward_the_threshold() -> None:
    olds = [messaging(f"m{i:02}", "a") for i in range(10)]
    news = [messaging(f"m{i:02}", "a", channel_type="sms") if i < 4 else olds[i] for i in range(10)]
    state, live = synced(*olds)
    plan = compute_plan(news, state, live)
    with pytest.raises(UnsafePlan, match="4 of 10"):
        check_safety(plan, state, force=False)


def test_empty_state_and_empty_plan_are_safe() -> None:
    check_safety(compute_plan([], state_of(), []), state_of(), force=False)
    check_safety(compute_plan([], None, [live_of(email(), "u")], prune=True), None, force=False)


def test_targeted_single_delete_is_not_delete_everything() -> None:
    campaigns = [email(f"c{i}") for i in range(5)]
    state, live = synced(*campaigns)
    plan = compute_plan(campaigns[1:], state, live, targets=["c0"])
    assert plan.summary()["delete"] == 1
    check_safety(plan, state, force=False)


# --------------------------------------------------------------------------- stale


def test_fresh_plan_is_not_stale() -> None:
    campaign = email(subject="new")
    state, live = synced(email(subject="old"), email("Gone"))
    plan = compute_plan([campaign, email("Other")], state, live)
    assert find_stale(plan, state, live) == []


def test_changed_disappeared_and_appeared_objects_are_stale() -> None:
    a, b, c = email("A", subject="x"), email("B", subject="y"), email("C")
    state = state_of(record_of(email("A"), "ra"), record_of(email("B"), "rb"))
    live = [live_of(a, "ra"), live_of(b, "rb")]
    plan = compute_plan([a, b, c], state, live)
    later = [live_of(a, "ra", status=1), live_of(c, "rc")]
    stale = find_stale(plan, state, later)
    assert len(stale) == 3
    assert any("'A'" in s and "changed" in s for s in stale)
    assert any("'B'" in s and "gone" in s for s in stale)
    assert any("'C'" in s and "appeared" in s and "rc" in s for s in stale)


def test_state_serial_or_lineage_change_is_stale() -> None:
    campaign = email()
    state, live = synced(campaign)
    plan = compute_plan([campaign], state, live)
    moved = state_of(*state.campaigns.values(), serial=state.serial + 1)
    assert find_stale(plan, moved, live) == [
        f"the state changed since the plan (serial {state.serial} -> {state.serial + 1})"
    ]
    other = State(lineage="other", serial=state.serial, campaigns=dict(state.campaigns))
    assert "lineage" in find_stale(plan, other, live)[0]


def test_noop_actions_are_never_stale() -> None:
    campaign = email()
    state, live = synced(campaign)
    plan = compute_plan([campaign], state, live)
    assert find_stale(plan, state, [live_of(campaign, "r0", status=2)]) == []


# --------------------------------------------------------------------------- property tests
# "No perpetual diff": a campaign as applied (live = its readable canonical fields, state =
# its hashed canonical form) plans no-op, whichever documented form each value was written in.


_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=12)
_NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ABCDEF0123456789-", min_size=1, max_size=64)
_RATE = st.integers(min_value=1, max_value=100).map(lambda k: k / 100)
_WHEN = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2030, 12, 31)).map(
    lambda d: d.replace(microsecond=0)
)


@st.composite
def email_values(draw: st.DrawFn) -> dict[str, Any]:
    """The values of a valid EmailCampaign, before choosing how each is written."""
    ab = draw(st.booleans())
    values: dict[str, Any] = {
        "name": draw(_NAME.filter(str.strip)),  # the API refuses a blank name
        "campaign_type": "ab" if ab else "normal",
        "to": {"type": draw(st.sampled_from(["list", "tag", "segment"])),
               "value": draw(st.lists(_WORD, min_size=1, max_size=3))},
        "sender_id": draw(st.integers(min_value=1, max_value=10**6)),
        "template_invoke_name": draw(_WORD),
        "subject": draw(st.none() | _NAME),
        "reply_to": draw(st.none() | _WORD.map(lambda w: f"{w}@example.com")),
        "time_zone": draw(st.none() | st.integers(min_value=-12, max_value=14)),
        "send_time": draw(st.none() | _WHEN),
        "google_track": draw(
            st.dictionaries(
                st.sampled_from(["campaign_name", "campaign_source", "campaign_medium"]),
                _WORD,
                max_size=3,
            )
        ),
        "warm_up": [],
    }  # fmt: skip
    if ab:
        dimension = draw(
            st.sampled_from(["subjects", "template_invoke_names", "sender_ids", "send_times"])
        )
        tested: list[Any] = draw(st.lists(_WORD, min_size=2, max_size=3))
        if dimension == "sender_ids":
            tested = [str(draw(st.integers(1, 999))) for _ in tested]
        if dimension == "send_times":
            tested = [draw(_WHEN).strftime("%Y-%m-%d %H:%M:%S") for _ in tested]
        values["ab_test"] = {
            "percent": draw(st.integers(1, 100)),
            "win_condition": {"time_unit": "day", "after_time": draw(st.integers(0, 10)),
                              "compare": draw(st.sampled_from(["open_percent", "click_percent"]))},
            dimension: tested,
        }  # fmt: skip
        overridden = {
            "subjects": "subject",
            "template_invoke_names": "template_invoke_name",
            "sender_ids": "sender_id",
            "send_times": "send_time",
        }[dimension]
        values[overridden] = None
        if dimension == "template_invoke_names" and not values["subject"]:
            values["subject"] = "Required subject"
    else:
        values["warm_up"] = draw(
            st.lists(
                st.fixed_dictionaries(
                    {"domain": _WORD.map(lambda w: f"{w}.com"), "rate": st.integers(1, 5),
                     "upgrade_value": _RATE, "downgrade_value": _RATE}
                ),
                max_size=3,
            )
        )  # fmt: skip
    return values


def write_email(values: Mapping[str, Any], draw: st.DrawFn) -> dict[str, Any]:
    """One documented way of writing `values` (each field's form chosen independently)."""
    out: dict[str, Any] = {"kind": "EmailCampaign", "name": values["name"]}
    kind = values["campaign_type"]
    out["campaign_type"] = draw(
        st.sampled_from([kind, {"normal": 2, "ab": 1}[kind], {"normal": "2", "ab": "1"}[kind]])
    )
    to = dict(values["to"])
    if len(to["value"]) == 1 and draw(st.booleans()):
        to["value"] = to["value"][0]
    out["to"] = draw(st.sampled_from([to, [to]]))
    if values["sender_id"] is not None:
        out["sender_id"] = draw(st.sampled_from([values["sender_id"], str(values["sender_id"])]))
    for key in ("template_invoke_name", "subject", "reply_to"):
        if values.get(key) is not None:
            out[key] = values[key]
        else:
            _write_empty(out, key, draw, ["", None])
    zone = values["time_zone"]
    if zone is not None:
        out["time_zone"] = draw(st.sampled_from([zone, str(zone), f"{zone:+d}", f"{zone:+03d}:00"]))
    when = values["send_time"]
    if when is not None:
        hours = 8 if zone is None else zone
        aware = when.replace(tzinfo=timezone(timedelta(hours=hours)))
        out["send_time"] = draw(
            st.sampled_from(
                [
                    when.strftime("%Y-%m-%d %H:%M:%S"),
                    aware.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                ]
            )
        )
    track = dict(values["google_track"])
    if track:
        if draw(st.booleans()):
            track.setdefault("campaign_term", "")
        out["google_track"] = track
    else:
        _write_empty(out, "google_track", draw, [None, {}, {"campaign_term": ""}])
    if values["warm_up"]:
        out["warm_up"] = [_write_warm_up(entry, draw) for entry in values["warm_up"]]
    elif values["campaign_type"] == "normal":
        _write_empty(out, "warm_up", draw, [None, []])
    if "ab_test" in values:
        out["ab_test"] = values["ab_test"]
    return out


def _write_warm_up(entry: Mapping[str, Any], draw: st.DrawFn) -> dict[str, Any]:
    """Rates as numbers or as the strings the vendor's examples send ("0.95")."""
    out = dict(entry)
    for key in ("upgrade_value", "downgrade_value"):
        out[key] = draw(st.sampled_from([entry[key], str(entry[key])]))
    return out


def _write_empty(out: dict[str, Any], key: str, draw: st.DrawFn, forms: list[Any]) -> None:
    """Absent, or one of the empty forms that mean the same."""
    choice = draw(st.integers(0, len(forms)))
    if choice < len(forms):
        out[key] = forms[choice]


@st.composite
def messaging_values(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(_NAME, max_size=4, unique=True))
    return {
        "kind": "MessagingCampaign",
        "name": draw(_NAME),
        "channel_type": draw(st.sampled_from(["whatsapp", "email", "sms"])),
        "touchpoints": [
            {"name": n, "type": "message", "message": draw(_WORD)}
            if draw(st.booleans())
            else {"name": n, "type": "action"}
            for n in names
        ],
    }


def write_messaging(values: Mapping[str, Any], draw: st.DrawFn) -> dict[str, Any]:
    out = dict(values)
    out["touchpoints"] = [
        {**t, "message": draw(st.sampled_from([t["message"], {"text": t["message"]}]))}
        if "message" in t
        else t
        for t in values["touchpoints"]
    ]
    return out


@st.composite
def applied_and_rewritten(draw: st.DrawFn) -> tuple[LoadedCampaign, LoadedCampaign]:
    """A campaign as written when applied, and the same values written another way."""
    if draw(st.booleans()):
        values = draw(email_values())
        return loaded(write_email(values, draw)), loaded(write_email(values, draw))
    values = draw(messaging_values())
    return loaded(write_messaging(values, draw)), loaded(write_messaging(values, draw))


@settings(max_examples=150, deadline=None)
@given(applied_and_rewritten())
def test_property_applied_campaign_plans_noop_in_any_written_form(
    pair: tuple[LoadedCampaign, LoadedCampaign],
) -> None:
    applied, rewritten = pair
    state = state_of(record_of(applied, "r0"))
    live = [live_of(applied, "r0")]
    for desired in (applied, rewritten):
        plan = compute_plan([desired], state, live)
        assert not plan.has_changes, plan.to_json()["actions"]
        assert only(plan).reason == Reason.UP_TO_DATE


@settings(max_examples=60, deadline=None)
@given(st.lists(applied_and_rewritten(), min_size=1, max_size=6))
def test_property_many_campaigns_plan_all_noop(
    pairs: list[tuple[LoadedCampaign, LoadedCampaign]],
) -> None:
    unique = {p[0].key: p for p in pairs}.values()
    records, live = [], []
    for index, (applied, _) in enumerate(unique):
        records.append(record_of(applied, f"r{index}"))
        live.append(live_of(applied, f"r{index}"))
    plan = compute_plan([rewritten for _, rewritten in unique], state_of(*records), live)
    assert plan.summary()["no_op"] == len(unique)
    assert not plan.has_changes
    check_safety(plan, state_of(*records), force=False)


def test_blocked_actions_are_never_stale() -> None:
    old, new = email(subject="a"), email(subject="b")
    state = state_of(record_of(old, "r0"))
    plan = compute_plan([new], state, [live_of(old, "r0", status=1)])
    assert only(plan).action == ActionKind.BLOCKED
    assert find_stale(plan, state, [live_of(old, "r0", status=2)]) == []


def test_ignore_changes_on_touchpoints_and_subject() -> None:
    old = messaging("J", "a", "b")
    new = messaging("J", "b", "c", lifecycle={"ignore_changes": ["touchpoints"]})
    action = only(compute_plan([new], state_of(record_of(old, "r0")), [live_of(old, "r0")]))
    assert (action.action, action.touchpoints) == (ActionKind.NO_OP, ())
    before, after = (
        email(subject="x"),
        email(subject="y", lifecycle={"ignore_changes": ["subject"]}),
    )
    state = state_of(record_of(before, "r1"))
    assert only(compute_plan([after], state, [live_of(before, "r1")])).action == ActionKind.NO_OP


def test_adopted_messaging_campaign_sends_messages_it_cannot_compare() -> None:
    campaign = messaging("J", touchpoints=[tp("a", "hi"), tp("b", type_="action")])
    action = only(compute_plan([campaign], state_of(), [live_of(campaign, "x1")]))
    assert (action.action, action.reason) == (ActionKind.UPDATE, Reason.ADOPTED_BY_NAME)
    assert [(t.action, t.remote_id) for t in action.touchpoints] == [
        (ActionKind.UPDATE, "x1-tp-a"),
        (ActionKind.NO_OP, "x1-tp-b"),
    ]


def test_messaging_deleted_remotely_recreates_with_touchpoints() -> None:
    campaign = messaging("J", "a")
    action = only(compute_plan([campaign], state_of(record_of(campaign, "r0")), []))
    assert (action.action, action.reason) == (ActionKind.CREATE, Reason.DELETED_REMOTELY)
    assert tp_plan(action) == [("create", "a", "touchpoint_new")]


def test_campaign_declared_twice_is_an_error() -> None:
    with pytest.raises(PlanError, match="EmailCampaign/Twice is declared twice"):
        compute_plan([email("Twice"), email("Twice")], state_of(), [])


def test_prune_respects_targets() -> None:
    live = [live_of(email("U1"), "u1"), live_of(email("U2"), "u2")]
    plan = compute_plan([], state_of(), live, prune=True, targets=["U2"])
    assert [(a.name, a.action) for a in plan.actions] == [("U2", ActionKind.DELETE)]


def test_live_touchpoint_unknown_to_state_and_config_is_deleted() -> None:
    campaign = messaging("J", "a")
    live = live_of(campaign, "r0")
    extra = LiveCampaign(
        live.kind, live.remote_id, live.name, live.status, live.fields,
        (*live.touchpoints, LiveTouchpoint("added-in-ui", "Extra", "action")),
    )  # fmt: skip
    action = only(compute_plan([campaign], state_of(record_of(campaign, "r0")), [extra]))
    assert tp_plan(action) == [
        ("delete", "Extra", "touchpoint_removed"),
        ("no-op", "a", "up_to_date"),
    ]


def test_state_presence_mismatch_is_stale() -> None:
    campaign = email(subject=None)
    state, live = synced(campaign)
    with_state = compute_plan([campaign], state, live)
    without = compute_plan([campaign], None, live)
    assert find_stale(with_state, None, live) == [
        "the plan was made against state lin-1; this run has no state"
    ]
    assert find_stale(without, state, live) == [
        "the plan was made without a state file, and this run has one"
    ]
    assert find_stale(without, None, live) == []


def test_live_fields_without_name_use_the_objects_name() -> None:
    campaign = email()
    state, [live] = synced(campaign)
    fields = {k: v for k, v in live.fields.items() if k not in ("kind", "name")}
    bare = LiveCampaign(live.kind, live.remote_id, live.name, live.status, fields)
    assert only(compute_plan([campaign], state, [bare])).action == ActionKind.NO_OP


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from("abcdefgh"), unique=True, max_size=8),
    st.lists(st.sampled_from("abcdefgh"), unique=True, max_size=8),
)
def test_property_touchpoint_plan_reaches_the_desired_order(
    before: list[str], after: list[str]
) -> None:
    """Replaying the touchpoint lines as the API allows (delete, or append) gives `after`."""
    old, new = messaging("J", *before), messaging("J", *after)
    action = only(compute_plan([new], state_of(record_of(old, "r0")), [live_of(old, "r0")]))
    order = list(before)
    for line in action.touchpoints:
        if line.action in (ActionKind.DELETE, ActionKind.MOVE):
            order.remove(line.name)
    for line in action.touchpoints:
        if line.action in (ActionKind.CREATE, ActionKind.MOVE):
            order.append(line.name)
    assert order == after
    recreated = [t.name for t in action.touchpoints if t.action == ActionKind.MOVE]
    kept = [n for n in before if n in after]
    # Minimal: the touchpoints kept in place are exactly the longest common prefix.
    prefix = 0
    while prefix < len(kept) and prefix < len(after) and kept[prefix] == after[prefix]:
        prefix += 1
    assert len(recreated) == len(kept) - prefix
    assert (action.action == ActionKind.NO_OP) == (before == after)


# A type switch with the old type's field ignored sent a PUT the API refuses (32107): the
# ignored ab_test stayed on a campaign that became normal.
AB_TEST = {
    "percent": 10,
    "win_condition": {"time_unit": "hour", "after_time": 2, "compare": "open_percent"},
    "subjects": ["A", "B"],
}
WARM_UP = [{"domain": "gmail.com", "rate": 1, "upgrade_value": 0.9, "downgrade_value": 0.5}]


def test_switching_to_normal_clears_an_ignored_ab_test() -> None:
    before = email(campaign_type="ab", ab_test=AB_TEST, subject=None)
    state, live = synced(before)
    after = email(lifecycle={"ignore_changes": ["ab_test"]})
    (action,) = compute_plan([after], state, live).actions
    assert action.action == ActionKind.UPDATE
    cleared = {c.path: c.after for c in action.changes}
    assert cleared[("ab_test",)] is None and cleared[("campaign_type",)] == "normal"


def test_switching_to_ab_clears_warm_up_even_when_never_managed() -> None:
    before = email(warm_up=WARM_UP)
    record = record_of(email(), "r0")  # the state never recorded warm_up
    live = [live_of(before, "r0")]
    after = email(campaign_type="ab", ab_test=AB_TEST, subject=None)
    (action,) = compute_plan([after], state_of(record), live).actions
    assert ("warm_up",) in {c.path for c in action.changes}
    assert next(c for c in action.changes if c.path == ("warm_up",)).after is None


def test_an_ignored_ab_test_is_kept_while_the_type_stays() -> None:
    before = email(campaign_type="ab", ab_test=AB_TEST, subject=None)
    state, live = synced(before)
    after = email(
        campaign_type="ab",
        ab_test={**AB_TEST, "percent": 50},
        subject=None,
        lifecycle={"ignore_changes": ["ab_test"]},
    )
    (action,) = compute_plan([after], state, live).actions
    assert action.action == ActionKind.NO_OP
