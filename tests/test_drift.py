"""drift (pure): state records vs live campaigns -> drift items, and their renderings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from builders import state_of

from reconciler.canonical import hash_write_only
from reconciler.drift import (
    MARKDOWN_LIMIT,
    DriftKind,
    compute_drift,
    render_drift_json,
    render_drift_markdown,
    render_drift_text,
)
from reconciler.live import EMAIL_KIND, MESSAGING_KIND, LiveCampaign, LiveTouchpoint
from reconciler.loader import load_directory
from reconciler.state import ManagedRecord, State

EMAIL_FIELDS: dict[str, Any] = {
    "kind": EMAIL_KIND,
    "name": "Promo",
    "campaign_type": "normal",
    "to": {"type": "tag", "value": ["vip"]},
    "sender_id": "53",
    "template_invoke_name": "promo_v1",
    "reply_to": "a@example.com",
    "subject": "Big sale",
    "ab_test": None,
}


def applied(fields: dict[str, Any]) -> dict[str, Any]:
    return hash_write_only({k: v for k, v in fields.items() if v is not None})


def live_of(fields: dict[str, Any], remote_id: str = "1", status: int | str = 0) -> LiveCampaign:
    readable = {k: v for k, v in fields.items() if k != "subject" and v is not None}
    return LiveCampaign(fields["kind"], remote_id, fields["name"], status, readable)


def record_of(fields: dict[str, Any], remote_id: str = "1", status: int | str = 0) -> ManagedRecord:
    return ManagedRecord(
        kind=fields["kind"],
        name=fields["name"],
        remote_id=remote_id,
        last_applied=applied(fields),
        status=status,
    )


def test_unchanged_campaign_is_no_drift() -> None:
    drift = compute_drift(state_of(record_of(EMAIL_FIELDS)), [live_of(EMAIL_FIELDS)])
    assert not drift.has_drift
    assert drift.managed == 1
    assert "No drift" in render_drift_text(drift)


def test_edited_field_is_fields_changed_with_path_before_after() -> None:
    edited = {
        **EMAIL_FIELDS,
        "reply_to": "b@example.com",
        "to": {"type": "tag", "value": ["vip", "new"]},
    }
    drift = compute_drift(state_of(record_of(EMAIL_FIELDS)), [live_of(edited)])
    (item,) = drift.items
    assert item.drift == DriftKind.fields_changed
    assert [(c.path, c.before, c.after) for c in item.changes] == [
        (("reply_to",), "a@example.com", "b@example.com"),
        # One diff engine with the plan (reconciler.diff): the added item, at its index.
        (("to", "value", 1), None, "new"),
    ]


def test_field_the_last_apply_did_not_set_is_not_drift() -> None:
    # The vendor fills time_zone and google_track; the last apply never set them.
    live = live_of({**EMAIL_FIELDS, "time_zone": 8, "google_track": {"campaign_source": "x"}})
    assert not compute_drift(state_of(record_of(EMAIL_FIELDS)), [live]).has_drift


def test_cleared_field_is_drift_and_write_only_fields_are_not() -> None:
    live = live_of({**EMAIL_FIELDS, "reply_to": None})
    (item,) = compute_drift(state_of(record_of(EMAIL_FIELDS)), [live]).items
    assert [(c.path, c.after) for c in item.changes] == [(("reply_to",), None)]
    assert "subject" not in render_drift_json(
        compute_drift(state_of(record_of(EMAIL_FIELDS)), [live])
    )


def test_equivalent_empty_values_are_not_drift() -> None:
    record = record_of({**EMAIL_FIELDS, "warm_up": []})
    assert not compute_drift(
        state_of(record), [live_of({**EMAIL_FIELDS, "warm_up": None})]
    ).has_drift


def test_deleted_remotely() -> None:
    drift = compute_drift(state_of(record_of(EMAIL_FIELDS, "1")), [])
    (item,) = drift.items
    assert (item.drift, item.remote_id, item.name) == (DriftKind.deleted_remotely, "1", "Promo")


def test_same_name_with_another_id_is_deleted_plus_unmanaged() -> None:
    drift = compute_drift(state_of(record_of(EMAIL_FIELDS, "1")), [live_of(EMAIL_FIELDS, "2")])
    assert [(i.drift, i.remote_id) for i in drift.items] == [
        (DriftKind.deleted_remotely, "1"),
        (DriftKind.unmanaged, "2"),
    ]


def test_status_changed_since_last_apply() -> None:
    drift = compute_drift(
        state_of(record_of(EMAIL_FIELDS, status=0)), [live_of(EMAIL_FIELDS, status=2)]
    )
    (item,) = drift.items
    assert item.drift == DriftKind.status_changed
    assert item.changes[0].before == 0 and item.changes[0].after == 2
    assert "from 0 (waiting) to 2 (completed)" in item.message


def test_unmanaged_live_campaign() -> None:
    other = {**EMAIL_FIELDS, "name": "Made in the UI"}
    drift = compute_drift(
        state_of(record_of(EMAIL_FIELDS)), [live_of(EMAIL_FIELDS), live_of(other, "9")]
    )
    (item,) = drift.items
    assert (item.drift, item.name, item.remote_id) == (DriftKind.unmanaged, "Made in the UI", "9")


def test_kinds_do_not_share_remote_ids() -> None:
    messaging = {"kind": MESSAGING_KIND, "name": "Promo", "channel_type": "sms", "touchpoints": []}
    drift = compute_drift(
        state_of(record_of(EMAIL_FIELDS, "1")), [live_of(messaging, "1", "draft")]
    )
    assert {i.drift for i in drift.items} == {DriftKind.deleted_remotely, DriftKind.unmanaged}


def test_touchpoint_renamed_remotely_is_drift_but_messages_are_not_compared() -> None:
    fields = {
        "kind": MESSAGING_KIND,
        "name": "Journey",
        "channel_type": "whatsapp",
        "touchpoints": [{"name": "Hello", "type": "message", "message": {"text": "hi"}}],
    }
    record = ManagedRecord(MESSAGING_KIND, "Journey", "cmp_1", applied(fields), status="draft")
    same = LiveCampaign(
        MESSAGING_KIND,
        "cmp_1",
        "Journey",
        "draft",
        {"kind": MESSAGING_KIND, "name": "Journey", "channel_type": "whatsapp"},
        (LiveTouchpoint("tp_1", "Hello", "message"),),
    )
    assert not compute_drift(state_of(record), [same]).has_drift
    renamed = LiveCampaign(
        MESSAGING_KIND,
        "cmp_1",
        "Journey",
        "draft",
        same.fields,
        (LiveTouchpoint("tp_1", "Hi", "message"),),
    )
    (item,) = compute_drift(state_of(record), [renamed]).items
    assert [(c.path, c.before, c.after) for c in item.changes] == [
        (("touchpoints", 0, "name"), "Hello", "Hi")
    ]


def test_lifecycle_ignore_changes_is_not_drift(tmp_path: Path) -> None:
    (tmp_path / "promo.yaml").write_text(
        "name: Promo\ncampaign_type: normal\nto: {type: tag, value: [vip]}\nsender_id: 53\n"
        "template_invoke_name: promo_v1\nreply_to: a@example.com\nsubject: Big sale\n"
        "lifecycle: {ignore_changes: [reply_to]}\n"
    )
    desired = load_directory(tmp_path).campaigns
    live = live_of({**EMAIL_FIELDS, "reply_to": "ui@example.com"})
    assert compute_drift(state_of(record_of(EMAIL_FIELDS)), [live]).has_drift
    assert not compute_drift(state_of(record_of(EMAIL_FIELDS)), [live], desired).has_drift


def test_json_is_stable_and_documented_shape() -> None:
    drift = compute_drift(
        state_of(record_of(EMAIL_FIELDS)), [live_of({**EMAIL_FIELDS, "reply_to": "x@y.z"})]
    )
    data = json.loads(render_drift_json(drift))
    assert data["format_version"] == 1
    assert data["summary"] == {
        "fields_changed": 1,
        "deleted_remotely": 0,
        "status_changed": 0,
        "unmanaged": 0,
    }
    assert data["drift"][0]["changes"] == [
        {"path": ["reply_to"], "before": "a@example.com", "after": "x@y.z"}
    ]
    assert render_drift_json(drift) == render_drift_json(drift)


def test_text_and_markdown_name_each_item() -> None:
    drift = compute_drift(
        state_of(record_of(EMAIL_FIELDS, "1"), record_of({**EMAIL_FIELDS, "name": "Gone"}, "2")),
        [live_of({**EMAIL_FIELDS, "reply_to": "x@y.z"}, "1")],
    )
    text = render_drift_text(drift)
    assert "~ EmailCampaign/Promo [1]" in text and 'reply_to: "a@example.com" -> "x@y.z"' in text
    assert "- EmailCampaign/Gone [2]" in text
    markdown = render_drift_markdown(drift)
    assert "| fields_changed | EmailCampaign | Promo | `1` |" in markdown
    assert "<details><summary>EmailCampaign/Promo</summary>" in markdown


def test_markdown_fits_one_github_comment_at_5000_drifted_campaigns() -> None:
    records = [
        record_of({**EMAIL_FIELDS, "name": f"Campaign {i:05d}"}, str(i)) for i in range(5000)
    ]
    live = [
        live_of({**EMAIL_FIELDS, "name": f"Campaign {i:05d}", "reply_to": f"n{i}@x.y"}, str(i))
        for i in range(5000)
    ]
    drift = compute_drift(state_of(*records), live)
    assert len(drift.items) == 5000
    markdown = render_drift_markdown(drift)
    assert len(markdown) <= MARKDOWN_LIMIT < 65_536
    assert "_Truncated to fit one comment:" in markdown
    assert "Run `campaignctl drift --format json` for the full report" in markdown
    assert "5000 changed" in markdown


def test_markdown_keeps_everything_when_it_fits() -> None:
    drift = compute_drift(
        state_of(record_of(EMAIL_FIELDS)), [live_of({**EMAIL_FIELDS, "reply_to": "x@y.z"})]
    )
    assert "Truncated" not in render_drift_markdown(drift)


def test_markdown_escapes_names_that_would_break_the_table() -> None:
    other = {**EMAIL_FIELDS, "name": "a | b <script>"}
    markdown = render_drift_markdown(compute_drift(State(), [live_of(other, "9")]))
    assert "a \\| b &lt;script&gt;" in markdown


def test_refreshed_statuses_records_only_moved_statuses() -> None:
    from reconciler.drift import refreshed_statuses

    state = state_of(
        record_of(EMAIL_FIELDS, "1", status=0), record_of({**EMAIL_FIELDS, "name": "B"}, "2")
    )
    live = [
        live_of(EMAIL_FIELDS, "1", status=2),
        live_of({**EMAIL_FIELDS, "name": "B", "reply_to": "x@y.z"}, "2"),
    ]
    (record,) = refreshed_statuses(state, live)
    assert (record.name, record.status) == ("Promo", 2)
    assert (
        record.last_applied == state.get(EMAIL_KIND, "Promo").last_applied
    )  # fields never accepted


def test_markdown_counts_utf16_units_as_github_does() -> None:
    from reconciler.drift import Drift, DriftItem, DriftKind, render_drift_markdown
    from reconciler.render import MARKDOWN_LIMIT, utf16_length

    # Emoji are two UTF-16 units each: counting code points would overshoot GitHub's limit.
    items = tuple(
        DriftItem(DriftKind.unmanaged, "EmailCampaign", f"🎉🎉🎉🎉 {i:05d}", str(i), "🎉" * 40)
        for i in range(2_000)
    )
    drift = Drift(items=items, managed=0, live=len(items), state_serial=1)
    text = render_drift_markdown(drift)
    assert utf16_length(text) <= MARKDOWN_LIMIT
    assert "Truncated to fit one comment" in text
