"""reconciler.render: text, JSON and Markdown output, checked against golden files.

Regenerate the golden files after an intended change with:
    UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_render.py
(a name without the CAMPAIGNCTL_ prefix: conftest clears those for every test).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from reconciler.canonical import comparable, content_hash, hash_write_only
from reconciler.live import LiveCampaign, LiveTouchpoint
from reconciler.loader import LoadedCampaign
from reconciler.model import ResolvedFile, Source, campaign_adapter
from reconciler.plan import Action, ActionKind, FieldChange, Plan, Reason
from reconciler.planner import compute_plan
from reconciler.render import render_json, render_markdown, render_text, utf16_length
from reconciler.state import ManagedRecord, State

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def _resolve(path: str) -> ResolvedFile:
    return ResolvedFile(f"/cfg/{path}", 1234, content_hash(path))


def loaded(**data: Any) -> LoadedCampaign:
    model = campaign_adapter.validate_python(data, context={"resolve_attachment": _resolve})
    return LoadedCampaign(model=model, source=Source("campaigns.d/c.yaml", 1, 1))


def email(name: str, **over: Any) -> LoadedCampaign:
    data: dict[str, Any] = {
        "kind": "EmailCampaign",
        "name": name,
        "campaign_type": "normal",
        "to": {"type": "tag", "value": ["lapsed-90d"]},
        "sender_id": 53,
        "template_invoke_name": "reengage_v2",
        "subject": "We miss you",
    }
    data.update(over)
    return loaded(**{k: v for k, v in data.items() if v is not None})


def journey(name: str, touchpoints: list[tuple[str, str]], **over: Any) -> LoadedCampaign:
    data: dict[str, Any] = {
        "kind": "MessagingCampaign",
        "name": name,
        "channel_type": "whatsapp",
        "touchpoints": [{"name": n, "type": "message", "message": m} for n, m in touchpoints],
    }
    data.update(over)
    return loaded(**data)


def _tp_id(name: str) -> str:
    return "tp_" + name.lower().replace(" ", "_")


def live_of(campaign: LoadedCampaign, remote_id: str, status: int | str = 0) -> LiveCampaign:
    if campaign.kind == "MessagingCampaign" and status == 0:
        status = "draft"  # the iMBrace API's not-yet-sent status is a word, never 0
    canon = campaign.canonical()
    fields = {
        k: v
        for k, v in comparable(canon).items()
        if k not in ("subject", "attachments", "touchpoints")
    }
    tps = tuple(
        LiveTouchpoint(_tp_id(t["name"]), t["name"], t["type"])
        for t in canon.get("touchpoints", ())
    )
    return LiveCampaign(campaign.kind, remote_id, campaign.name, status, fields, tps)


def record_of(campaign: LoadedCampaign, remote_id: str) -> ManagedRecord:
    canon = campaign.canonical()
    ids = {t["name"]: _tp_id(t["name"]) for t in canon.get("touchpoints", ())}
    return ManagedRecord(
        campaign.kind,
        campaign.name,
        remote_id,
        hash_write_only(canon),
        touchpoint_ids=ids,
        applied_at="2026-11-01T00:00:00Z",
    )


AB = {
    "percent": 20,
    "win_condition": {"time_unit": "hour", "after_time": 18, "compare": "open_percent"},
}


def sample_plan() -> Plan:
    """One plan with every kind of line: the golden files' input."""
    spring_old = email(
        "Spring sale",
        campaign_type="ab",
        subject=None,
        reply_to="sales@example.com",
        ab_test={**AB, "subjects": ["A subject", "B subject"]},
    )
    spring_new = email(
        "Spring sale",
        campaign_type="ab",
        subject=None,
        ab_test={**AB, "subjects": ["A subject", "Better B subject"]},
    )
    sent_old, sent_new = email("Sent newsletter"), email("Sent newsletter", subject="Too late")
    welcome_old = journey("Welcome journey", [("Welcome", "Hi!"), ("Day 3", "Still there?"),
                                              ("Day 7", "Last call")])  # fmt: skip
    welcome_new = journey("Welcome journey", [("Welcome", "Hi! Welcome aboard."), ("Day 1", "Tip"),
                                              ("Day 3", "Still there?")])  # fmt: skip
    onboard_old = journey("Onboarding", [("Intro", "Hello")])
    onboard_new = journey("Onboarding", [("Intro", "Hello")], channel_type="sms")
    steady, old_promo = email("Steady"), email("Old promo")
    desired = [
        email(
            "Q3 Re-engagement",
            send_time="2026-12-01 10:00:00",
            attachments=[{"path": "files/offer.pdf"}],
        ),
        spring_new,
        sent_new,
        steady,
        welcome_new,
        onboard_new,
    ]
    pairs = [
        (spring_old, "101"),
        (sent_old, "102"),
        (steady, "103"),
        (old_promo, "104"),
        (welcome_old, "cmp_a1"),
        (onboard_old, "cmp_b2"),
    ]
    state = State(lineage="11111111-2222-3333-4444-555555555555", serial=12)
    for campaign, remote_id in pairs:
        state.put(record_of(campaign, remote_id))
    live = [live_of(c, rid, status=2 if c is sent_old else 0) for c, rid in pairs]
    live.append(live_of(email("Made in the UI"), "900"))
    return compute_plan(desired, state, live, config_dir="campaigns.d")


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} missing: run with UPDATE_GOLDEN=1 once"
    assert text == path.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- golden


def test_sample_plan_has_every_line_kind() -> None:
    plan = sample_plan()
    assert {str(a.action) for a in plan.actions} == {
        "create", "update", "blocked", "no-op", "delete", "replace",
    }  # fmt: skip
    assert plan.summary() == {
        "create": 2, "update": 2, "delete": 2, "blocked": 1, "no_op": 1, "unmanaged": 1,
    }  # fmt: skip


def test_text_golden() -> None:
    check_golden("plan.txt", render_text(sample_plan(), color=False))


def test_text_color_golden() -> None:
    check_golden("plan_color.txt", render_text(sample_plan(), color=True))


def test_json_golden() -> None:
    check_golden("plan.json", render_json(sample_plan()) + "\n")


def test_markdown_golden() -> None:
    check_golden("plan.md", render_markdown(sample_plan()))


def test_empty_plan_golden() -> None:
    check_golden("empty.txt", render_text(Plan(), color=False))
    check_golden("empty.md", render_markdown(Plan()))


# --------------------------------------------------------------------------- text


def test_text_summary_line_is_exact() -> None:
    text = render_text(sample_plan(), color=False)
    assert (
        text.rstrip().splitlines()[-1] == "Plan: 2 to create, 2 to update, 2 to delete, 1 blocked."
    )


def test_text_lines_by_action() -> None:
    text = render_text(sample_plan(), color=False)
    assert '+ EmailCampaign "Q3 Re-engagement" will be created (not_in_live)' in text
    assert '~ EmailCampaign "Spring sale" [101] will be updated in place (fields_differ)' in text
    assert '    ~ ab_test.subjects[1]: "B subject" -> "Better B subject"' in text
    assert '    - reply_to: "sales@example.com" (cleared)' in text
    assert '-/+ MessagingCampaign "Onboarding" [cmp_b2] will be replaced' in text
    assert '- EmailCampaign "Old promo" [104] will be deleted (delete_because_no_config)' in text
    assert '! EmailCampaign "Sent newsletter" [102] will be blocked (executed_cannot_update)' in (
        text
    )
    assert '    + touchpoint "Day 1" (create: touchpoint_new)' in text
    assert '    - touchpoint "Day 7" [tp_day_7] (delete: touchpoint_removed)' in text
    assert '"Steady"' not in text  # no-ops are not listed


def test_text_write_only_change_reads_write_only_changed_never_the_hash() -> None:
    text = render_text(sample_plan(), color=False)
    line = next(x for x in text.splitlines() if x.strip().startswith("~ subject:"))
    assert line == '    ~ subject: (write-only) changed -> "Too late"'
    assert "sha256:0d1e" not in text and "sha256:88a3" not in text


def test_text_unmanaged_section() -> None:
    text = render_text(sample_plan(), color=False)
    section = text.split("Unmanaged live campaigns")[1]
    assert 'EmailCampaign "Made in the UI" [900]' in section


def test_text_empty_plan_has_its_own_sentence() -> None:
    text = render_text(Plan(), color=False)
    assert text.startswith("No changes.")
    assert "Plan:" not in text


def test_text_no_changes_but_unmanaged() -> None:
    unmanaged = Action(ActionKind.NO_OP, "EmailCampaign", "X", "9", Reason.UNMANAGED, "m")
    text = render_text(Plan(actions=(unmanaged,)), color=False)
    assert text.startswith("No changes.")
    assert 'EmailCampaign "X" [9]' in text


def test_text_colour_only_when_asked() -> None:
    assert "\x1b[" not in render_text(sample_plan(), color=False)
    coloured = render_text(sample_plan(), color=True)
    assert "\x1b[32m+ EmailCampaign" in coloured
    assert "\x1b[0m" in coloured


def test_text_long_values_are_cut() -> None:
    change = FieldChange(("subject",), None, "x" * 500)
    action = Action(ActionKind.CREATE, "EmailCampaign", "L", None, Reason.NOT_IN_LIVE, "m",
                    (change,))  # fmt: skip
    line = next(x for x in render_text(Plan(actions=(action,))).splitlines() if "subject" in x)
    assert len(line) < 140 and line.endswith("…")


# --------------------------------------------------------------------------- json


def test_json_is_the_plan_json_sorted() -> None:
    plan = sample_plan()
    text = render_json(plan)
    data = json.loads(text)
    # The output is the plan's JSON plus `remedies` on each blocked action.
    for action in data["actions"]:
        assert ("remedies" in action) == (action["action"] == "blocked")
        action.pop("remedies", None)
        for change in [c for tp in action.get("touchpoints", ()) for c in tp["changes"]]:
            change.pop("write_only", None)
        for change in action["changes"]:
            change.pop("write_only", None)
    assert data == json.loads(json.dumps(plan.to_json()))
    assert text.startswith('{\n  "actions": [')  # sorted keys, two-space indent
    assert Plan.from_json(json.loads(text)) == plan


def test_json_never_holds_attachment_bytes_or_secrets() -> None:
    text = render_json(sample_plan())
    assert '"content"' not in text
    assert "api_key" not in text.lower() and "authorization" not in text.lower()


# --------------------------------------------------------------------------- markdown


def test_markdown_has_summary_table_details_and_unmanaged() -> None:
    text = render_markdown(sample_plan())
    assert "**Plan: 2 to create, 2 to update, 2 to delete, 1 blocked.**" in text
    assert "| action | kind | name | reason |" in text
    assert "| 🟡 update | EmailCampaign | `Spring sale` | `fields_differ` |" in text
    assert text.count("<details>") == 6  # one per changed campaign
    assert text.count("<details>") == text.count("</details>")
    assert '- ab_test.subjects[1]: "B subject"' in text
    assert '+ ab_test.subjects[1]: "Better B subject"' in text
    assert "#### Unmanaged live campaigns" in text
    assert "Made in the UI" in text.split("#### Unmanaged live campaigns")[1]


def test_markdown_escapes_names() -> None:
    weird = Action(ActionKind.DELETE, "EmailCampaign", "a|b <i>`x`</i>", "1",
                   Reason.DELETE_BECAUSE_NO_CONFIG, "m")  # fmt: skip
    text = render_markdown(Plan(actions=(weird,)))
    assert "| ``a\\|b <i>`x`</i>`` |" in text  # a code span: neither HTML nor a cell end
    assert "<code>a|b &lt;i&gt;`x`&lt;/i&gt;</code>" in text


def test_markdown_fence_outgrows_backticks_in_values() -> None:
    change = FieldChange(("subject",), None, "```` code")
    action = Action(ActionKind.CREATE, "EmailCampaign", "F", None, Reason.NOT_IN_LIVE, "m",
                    (change,))  # fmt: skip
    text = render_markdown(Plan(actions=(action,)))
    assert "`````diff" in text


def _many(count: int) -> Plan:
    actions = tuple(
        Action(
            ActionKind.UPDATE,
            "EmailCampaign",
            f"campaign {index:05}",
            str(index),
            Reason.FIELDS_DIFFER,
            "subject differs",
            (FieldChange(("subject",), "sha256:" + "0" * 64, f"New subject {index}"),),
        )
        for index in range(count)
    )
    return Plan(actions=actions)


def test_markdown_5000_changes_is_truncated_under_the_limit() -> None:
    text = render_markdown(_many(5_000))
    assert utf16_length(text) < 65_000  # GitHub's count: each emoji is two code units
    assert utf16_length("🟡") == 2
    assert "**Truncated:**" in text
    assert "of 5000 table rows" in text
    assert "campaignctl plan" in text.split("**Truncated:**")[1]
    assert text.count("<details>") == text.count("</details>")


def test_markdown_truncates_details_before_rows() -> None:
    text = render_markdown(_many(300))
    assert utf16_length(text) < 65_000
    assert "`campaign 00299` |" in text  # every row fits
    assert "**Truncated:**" in text and "table rows" not in text.split("**Truncated:**")[1]
    assert "<details>" in text


@pytest.mark.parametrize("limit", [2_000, 10_000])
def test_markdown_respects_a_custom_limit(limit: int) -> None:
    assert utf16_length(render_markdown(_many(200), limit=limit)) < limit


def test_markdown_small_plan_is_not_truncated() -> None:
    assert "Truncated" not in render_markdown(sample_plan())


def test_nested_values_set_or_cleared_get_one_line_per_key() -> None:
    change = FieldChange(("ab_test",), None, {"percent": 20, "win_condition": {"compare": "x"}})
    cleared = FieldChange(("warm_up",), [{"domain": "a.com"}], None)
    action = Action(ActionKind.UPDATE, "EmailCampaign", "N", "1", Reason.FIELDS_DIFFER, "m",
                    (change, cleared))  # fmt: skip
    text = render_text(Plan(actions=(action,)))
    assert "    + ab_test.percent: 20\n" in text
    assert '    + ab_test.win_condition.compare: "x"\n' in text
    assert '    - warm_up[0].domain: "a.com" (cleared)\n' in text


def test_bare_and_prefixed_hashes_are_shortened_on_screen_only() -> None:
    bare, prefixed = "ab" * 32, "sha256:" + "cd" * 32
    change = FieldChange(("attachments", 0, "sha256"), bare, prefixed)
    action = Action(ActionKind.UPDATE, "EmailCampaign", "H", "1", Reason.FIELDS_DIFFER, "m",
                    (change,))  # fmt: skip
    plan = Plan(actions=(action,))
    assert f'"{bare[:12]}…" -> "{prefixed[:19]}…"' in render_text(plan)
    assert prefixed in render_json(plan) and bare in render_json(plan)


def test_unmanaged_section_stays_short() -> None:
    strays = tuple(
        Action(ActionKind.NO_OP, "EmailCampaign", f"u{i:03}", str(i), Reason.UNMANAGED, "m")
        for i in range(25)
    )
    text = render_text(Plan(actions=strays))
    assert "u019" in text and "u020" not in text
    assert "… and 5 more (`--format json` lists them all)" in text
    markdown = render_markdown(Plan(actions=strays))
    assert "u019" in markdown and "u020" not in markdown
    assert "- … and 5 more" in markdown
