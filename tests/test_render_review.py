"""What a reviewer reads in a plan (issue 15, item 6): write-only values, touchpoint messages
and `lifecycle`, the same in text, Markdown and JSON."""

from __future__ import annotations

import json

from reconciler.canonical import content_hash
from reconciler.plan import Action, ActionKind, FieldChange, Plan, Reason, TouchpointAction
from reconciler.planner import compute_plan
from reconciler.render import render_json, render_markdown, render_text
from reconciler.state import State
from tests.test_render import email, journey, live_of, record_of


def _update(*changes: FieldChange) -> Plan:
    action = Action(ActionKind.UPDATE, "EmailCampaign", "W", "1", Reason.FIELDS_DIFFER, "m",
                    changes)  # fmt: skip
    return Plan(actions=(action,))


def test_a_changed_subject_reads_write_only_changed_in_text_and_markdown() -> None:
    plan = _update(FieldChange(("subject",), content_hash("Old"), "New"))
    assert '    ~ subject: (write-only) changed -> "New"\n' in render_text(plan)
    markdown = render_markdown(plan)
    assert '- subject: (write-only) changed\n+ subject: "New"\n' in markdown
    assert "sha256" not in render_text(plan) + markdown


def test_a_cleared_and_a_recorded_only_write_only_value_never_show_a_hash() -> None:
    old, new = content_hash("Old"), content_hash("New")
    plan = _update(FieldChange(("subject",), old, None), FieldChange(("reply",), old, new))
    text = render_text(plan)
    assert "    - subject: (write-only) (cleared)\n" in text
    assert "    ~ reply: (write-only) changed\n" in text
    assert "sha256" not in text + render_markdown(plan)


def test_json_keeps_the_hash_and_marks_it_write_only() -> None:
    plan = _update(
        FieldChange(("subject",), content_hash("Old"), "New"),
        FieldChange(("attachments", 0, "sha256"), content_hash("a"), content_hash("b")),
    )
    subject, attachment = json.loads(render_json(plan))["actions"][0]["changes"]
    assert subject["write_only"] is True and subject["before"] == content_hash("Old")
    assert "write_only" not in attachment  # a file's content hash is the value itself


def test_attachment_hashes_are_still_shown_shortened() -> None:
    change = FieldChange(("attachments", 0, "sha256"), content_hash("a"), content_hash("b"))
    assert f'"{content_hash("a")[:19]}…" -> ' in render_text(_update(change))


def test_a_touchpoint_message_renders_the_same_in_create_and_update() -> None:
    old = journey("J", [("Hello", "Hi")])
    new = journey("J", [("Hello", "Hi there"), ("Later", "Hi there")])
    state = State(lineage="11111111-2222-3333-4444-555555555555", serial=1)
    state.put(record_of(old, "cmp_1"))
    plan = compute_plan([new], state, [live_of(old, "cmp_1")], config_dir="campaigns.d")
    (action,) = [a for a in plan.actions if a.is_change]
    assert [tp.action for tp in action.touchpoints] == [ActionKind.UPDATE, ActionKind.CREATE]
    text = render_text(plan)
    assert '        ~ message.text: (write-only) changed -> "Hi there"\n' in text
    assert '        + message.text: "Hi there"\n' in text
    markdown = render_markdown(plan)
    assert '-     message.text: (write-only) changed\n+     message.text: "Hi there"\n' in markdown
    assert '+     message.text: "Hi there"\n' in markdown.split('touchpoint "Later"')[1]


def test_lifecycle_is_shown_as_settings_not_as_fields_to_send() -> None:
    campaign = email("Guarded", lifecycle={"prevent_destroy": True, "ignore_changes": ["subject"]})
    plan = compute_plan([campaign], State(), [], config_dir="campaigns.d")
    (action,) = plan.actions
    assert action.action == ActionKind.CREATE
    assert all(c.path[0] != "lifecycle" for c in action.changes)  # apply never sends it
    assert action.desired is not None and "lifecycle" in action.desired  # the state records it
    settings = (
        "# lifecycle (campaignctl's settings, never sent): "
        'ignore_changes: ["subject"], prevent_destroy: true'
    )
    text = render_text(plan)
    assert f"    {settings}\n" in text and "+ lifecycle" not in text
    markdown = render_markdown(plan)
    assert f"\n{settings}\n" in markdown and "+ lifecycle" not in markdown


def test_a_saved_plan_listing_lifecycle_as_a_change_still_renders_it_as_settings() -> None:
    # Plans saved before lifecycle left `changes` still hold it there.
    desired = {"name": "G", "lifecycle": {"prevent_destroy": True}}
    action = Action(ActionKind.CREATE, "EmailCampaign", "G", None, Reason.NOT_IN_LIVE, "m",
                    (FieldChange(("lifecycle",), None, {"prevent_destroy": True}),),
                    desired=desired)  # fmt: skip
    text = render_text(Plan(actions=(action,)))
    assert "+ lifecycle" not in text and "prevent_destroy: true" in text


def test_touchpoint_changes_in_json_are_marked_too() -> None:
    change = FieldChange(("message",), content_hash("x"), {"text": "y"})
    tp = TouchpointAction(ActionKind.UPDATE, "T", "tp1", Reason.TOUCHPOINT_FIELDS_DIFFER, (change,))
    action = Action(ActionKind.UPDATE, "MessagingCampaign", "J", "c1",
                    Reason.TOUCHPOINTS_DIFFER, "m", (), (tp,))  # fmt: skip
    data = json.loads(render_json(Plan(actions=(action,))))
    assert data["actions"][0]["touchpoints"][0]["changes"][0]["write_only"] is True
