"""importer: live campaigns -> YAML + state records, so that the next plan is all no-op."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from builders import state_of

from reconciler.canonical import content_hash
from reconciler.errors import CampaignctlError
from reconciler.importer import (
    PLACEHOLDER,
    ImportConflict,
    parse_statuses,
    plan_import,
    slugify,
    write_import,
)
from reconciler.live import EMAIL_KIND, MESSAGING_KIND, LiveCampaign, LiveTouchpoint
from reconciler.loader import load_directory
from reconciler.plan import ActionKind
from reconciler.planner import compute_plan
from reconciler.state import ManagedRecord, State, StateStore

NOW = "2026-11-25T10:00:00Z"


def email(remote_id: str, name: str, status: int = 0, **fields: Any) -> LiveCampaign:
    base: dict[str, Any] = {
        "kind": EMAIL_KIND,
        "name": name,
        "campaign_type": "normal",
        "to": {"type": "tag", "value": ["lapsed-90d"]},
        "sender_id": "53",
        "template_invoke_name": "reengage_v2",
        "time_zone": 8,
    }
    base.update(fields)
    return LiveCampaign(EMAIL_KIND, remote_id, name, status, base)


def ab(remote_id: str, name: str, dimension: str, values: list[str], **fields: Any) -> LiveCampaign:
    ab_test = {
        "percent": 20,
        "win_condition": {"time_unit": "hour", "after_time": 18, "compare": "open_percent"},
        dimension: values,
    }
    return email(remote_id, name, campaign_type="ab", ab_test=ab_test, **fields)


def messaging(
    remote_id: str, name: str, *tps: tuple[str, str], status: str = "draft"
) -> LiveCampaign:
    touchpoints = tuple(
        LiveTouchpoint(f"{remote_id}_tp{i}", tp_name, tp_type)
        for i, (tp_name, tp_type) in enumerate(tps)
    )
    fields = {"kind": MESSAGING_KIND, "name": name, "channel_type": "whatsapp"}
    return LiveCampaign(MESSAGING_KIND, remote_id, name, status, fields, touchpoints)


def write_files(plan_items: Any, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for item in plan_items:
        (directory / item.filename).write_text(item.text, encoding="utf-8")


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Q3 Re-engagement", "q3-re-engagement"),
        ("  Black Friday!!  2026 ", "black-friday-2026"),
        ("Café Crème", "cafe-creme"),
        ("日本語", "campaign"),
        ("a/../../etc/passwd", "a-etc-passwd"),
    ],
)
def test_slugify_makes_safe_readable_stems(name: str, slug: str) -> None:
    assert slugify(name) == slug


def test_file_names_are_deduplicated_and_avoid_existing_files() -> None:
    live = [email("1", "Promo"), email("2", "promo!"), email("3", "PROMO?")]
    plan = plan_import(live, State(), existing_files=["promo.yaml"], now=NOW)
    assert sorted(i.filename for i in plan.imported) == [
        "promo-2.yaml",
        "promo-3.yaml",
        "promo-4.yaml",
    ]


# --------------------------------------------------------------------------- documents


def test_email_document_reads_like_the_spec_example() -> None:
    live = email(
        "101",
        "Q3 Re-engagement",
        reply_to="support@example.com",
        send_time="2026-12-01 10:00:00",
        google_track={"campaign_source": "newsletter"},
        warm_up=[
            {"domain": "gmail.com", "rate": 1, "upgrade_value": 0.95, "downgrade_value": 0.75}
        ],
    )
    (item,) = plan_import([live], State(), now=NOW).imported
    keys = [line.split(":")[0] for line in item.text.splitlines() if line[:1].isalpha()]
    assert keys == [
        "kind",
        "name",
        "campaign_type",
        "to",
        "sender_id",
        "template_invoke_name",
        "reply_to",
        "send_time",
        "time_zone",
        "google_track",
        "warm_up",
    ]
    assert "# subject: not returned by the API (write-only); add it here to manage it" in item.text
    assert "# attachments: not returned by the API (write-only)" in item.text
    assert "send_time: '2026-12-01 10:00:00'" in item.text
    assert "{" not in item.text  # block style throughout
    assert item.filename == "q3-re-engagement.yaml"


def test_record_is_hashed_canonical_with_live_identity() -> None:
    live = messaging("cmp_1", "Welcome journey", ("Welcome", "message"), ("Click", "action"))
    (item,) = plan_import([live], State(), now=NOW).imported
    record = item.record
    assert (record.kind, record.name, record.remote_id) == (
        MESSAGING_KIND,
        "Welcome journey",
        "cmp_1",
    )
    assert record.status == "draft"
    assert record.live_fingerprint == live.fingerprint
    assert record.touchpoint_ids == {"Welcome": "cmp_1_tp0", "Click": "cmp_1_tp1"}
    assert record.applied_at == NOW
    assert record.last_applied["touchpoints"] == [
        {"name": "Welcome", "type": "message", "message": content_hash({"text": PLACEHOLDER})},
        {"name": "Click", "type": "action"},
    ]
    assert PLACEHOLDER not in str(record.to_dict())


def test_message_touchpoints_get_a_placeholder_and_a_comment() -> None:
    live = messaging("cmp_1", "Welcome journey", ("Welcome", "message"), ("Click", "action"))
    (item,) = plan_import([live], State(), now=NOW).imported
    assert item.placeholders == ("touchpoints[0].message",)
    assert "# message: the API never returns touchpoint messages" in item.text
    assert item.text.count(PLACEHOLDER) == 1


def test_ab_of_templates_gets_a_subject_placeholder_and_drops_the_overridden_field() -> None:
    live = ab("7", "AB templates", "template_invoke_names", ["t_a", "t_b"])
    (item,) = plan_import([live], State(), now=NOW).imported
    assert item.placeholders == ("subject",)
    assert "template_invoke_name:" not in item.text
    assert f"subject: '{PLACEHOLDER}'" in item.text


def test_invalid_live_campaign_is_skipped_as_an_error() -> None:
    live = messaging("cmp_9", "Dup touchpoints", ("Same", "action"), ("Same", "action"))
    plan = plan_import([live], State(), now=NOW)
    assert not plan.imported
    (skipped,) = plan.skipped
    assert skipped.error and "duplicate touchpoint name" in skipped.reason


# --------------------------------------------------------------------------- selection


def test_name_glob_and_status_filters() -> None:
    live = [
        email("1", "Q3 promo", status=0),
        email("2", "Q3 sent", status=2),
        email("3", "Q4 promo", status=0),
        messaging("cmp_1", "Q3 journey", ("A", "action"), status="completed"),
    ]
    names = {i.live.name for i in plan_import(live, State(), names=["Q3*"], now=NOW).imported}
    assert names == {"Q3 promo", "Q3 sent", "Q3 journey"}
    completed = parse_statuses(["completed"])
    chosen = plan_import(live, State(), names=["Q3*"], statuses=completed, now=NOW).imported
    assert {i.live.name for i in chosen} == {"Q3 sent", "Q3 journey"}


def test_unknown_status_word_is_an_error() -> None:
    with pytest.raises(CampaignctlError, match="unknown status 'sent'"):
        parse_statuses(["sent"])


def test_already_managed_is_skipped_and_a_second_import_is_empty() -> None:
    live = [email("1", "A"), email("2", "B")]
    first = plan_import(live, State(), now=NOW)
    again = plan_import(live, state_of(*[i.record for i in first.imported]), now=NOW)
    assert not again.imported
    assert [s.reason for s in again.skipped] == ["already managed in state"] * 2
    assert not again.has_errors


def test_two_live_campaigns_with_one_name_are_never_guessed() -> None:
    plan = plan_import(
        [email("1", "Twin"), email("2", "Twin"), email("3", "Solo")], State(), now=NOW
    )
    assert [i.live.name for i in plan.imported] == ["Solo"]
    assert plan.has_errors
    assert all("1, 2" in s.reason for s in plan.skipped)


def test_name_that_state_gives_to_another_id_is_an_error() -> None:
    state = state_of(*[ManagedRecord(EMAIL_KIND, "A", "999")])
    plan = plan_import([email("1", "A")], state, now=NOW)
    assert not plan.imported
    assert plan.has_errors and "999" in plan.skipped[0].reason


def test_declared_campaign_is_skipped_unless_force_and_alone_in_its_file() -> None:
    live = [email("1", "A"), email("2", "B")]
    declared = {(EMAIL_KIND, "A"): "mine.yaml", (EMAIL_KIND, "B"): "shared.yaml"}
    plain = plan_import(
        live, State(), declared=declared, sole_in_file=frozenset({"mine.yaml"}), now=NOW
    )
    assert not plain.imported and not plain.has_errors
    forced = plan_import(
        live, State(), declared=declared, sole_in_file=frozenset({"mine.yaml"}), force=True, now=NOW
    )
    assert [(i.filename, i.overwrite) for i in forced.imported] == [("mine.yaml", True)]
    assert forced.has_errors and "beside other campaigns" in forced.skipped[0].reason


# --------------------------------------------------------------------------- round trip


def mixed_live() -> list[LiveCampaign]:
    return [
        email(
            "101",
            "Q3 Re-engagement",
            reply_to="support@example.com",
            send_time="2026-12-01 10:00:00",
            google_track={"campaign_source": "newsletter", "campaign_medium": "email"},
            warm_up=[
                {"domain": "gmail.com", "rate": 1, "upgrade_value": 0.95, "downgrade_value": 0.75}
            ],
        ),
        email("102", "Sent already", status=2, time_zone=-5, send_time="2025-01-01 08:00:00"),
        ab("103", "AB subjects", "subjects", ["Hello", "Hi there"]),
        ab("104", "AB templates", "template_invoke_names", ["t_a", "t_b"]),
        ab("105", "AB senders", "sender_ids", ["53", "54"]),
        messaging("cmp_1", "Welcome journey", ("Welcome Message", "message"), ("Nudge", "action")),
        messaging("cmp_2", "Empty journey"),
    ]


def test_written_files_load_and_plan_all_no_op(tmp_path: Path) -> None:
    live = mixed_live()
    plan = plan_import(live, State(), now=NOW)
    assert not plan.skipped
    write_files(plan.imported, tmp_path / "campaigns.d")
    loaded = load_directory(tmp_path / "campaigns.d")
    assert len(loaded.campaigns) == len(live)
    state = state_of(*[i.record for i in plan.imported])
    result = compute_plan(loaded.campaigns, state, live)
    assert {a.action for a in result.actions} == {ActionKind.NO_OP}
    assert not result.has_changes


def test_replacing_a_placeholder_plans_an_update(tmp_path: Path) -> None:
    live = [messaging("cmp_1", "Welcome journey", ("Welcome Message", "message"))]
    plan = plan_import(live, State(), now=NOW)
    write_files(plan.imported, tmp_path)
    path = tmp_path / plan.imported[0].filename
    path.write_text(path.read_text().replace(PLACEHOLDER, "Hi! Welcome."), encoding="utf-8")
    loaded = load_directory(tmp_path)
    result = compute_plan(loaded.campaigns, state_of(*[plan.imported[0].record]), live)
    (action,) = result.actions
    assert action.action == ActionKind.UPDATE
    assert [tp.name for tp in action.touchpoints if tp.action == ActionKind.UPDATE] == [
        "Welcome Message"
    ]


def test_write_import_writes_files_then_commits_state(tmp_path: Path) -> None:
    plan = plan_import(mixed_live()[:2], State(), now=NOW)
    store = StateStore(tmp_path / "state" / "default.json")
    with store.lock("import"):
        state = write_import(plan, tmp_path / "out", store)
    assert state.serial == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "q3-re-engagement.yaml",
        "sent-already.yaml",
    ]
    reread = StateStore(tmp_path / "state" / "default.json").read()
    assert set(reread.campaigns) == {"EmailCampaign/Q3 Re-engagement", "EmailCampaign/Sent already"}


def test_write_import_refuses_a_file_that_appeared_and_writes_nothing(tmp_path: Path) -> None:
    plan = plan_import([email("1", "A"), email("2", "B")], State(), now=NOW)
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.yaml").write_text("# someone else's\n")
    store = StateStore(tmp_path / "state.json")
    with store.lock("import"), pytest.raises(ImportConflict, match=r"b\.yaml"):
        write_import(plan, out, store)
    assert (out / "b.yaml").read_text() == "# someone else's\n"
    assert not (out / "a.yaml").exists()
    assert not StateStore(tmp_path / "state.json").read().campaigns


# --------------------------------------------------------------------------- property

from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=40,
).filter(lambda s: s.strip() == s and s.strip())
# reply_to is one address (the API refuses anything else): YAML-hostile text around "@" and ".".
_address_part = _text.filter(lambda s: "@" not in s and not any(ch.isspace() for ch in s))
_emails = st.builds(lambda a, b, c: f"{a}@{b}.{c}", _address_part, _address_part, _address_part)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=_text, reply_to=_emails, tag=_text, template=_text, tp_name=_text)
@example(name="a\nb: c # d", reply_to="'\"@x.y", tag="- x", template="null", tp_name="yes")
@example(name="kind: x", reply_to="&a@*b.!c", tag="*a", template="!!python/object", tp_name="%TAG")
# YAML line breaks other than \n (NEL, LINE SEPARATOR) were folded into spaces by the writer.
@example(name="0\x850", reply_to="a@b.c", tag="t", template="a\u2028b", tp_name="0\x850")
def test_any_values_survive_the_yaml_round_trip_and_plan_no_op(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    reply_to: str,
    tag: str,
    template: str,
    tp_name: str,
) -> None:
    live = [
        email(
            "1",
            name,
            reply_to=reply_to,
            to={"type": "tag", "value": [tag]},
            template_invoke_name=template,
        ),
        messaging("cmp_1", name, (tp_name, "message")),
    ]
    plan = plan_import(live, State(), now=NOW)
    assert not plan.skipped, plan.skipped
    directory = tmp_path_factory.mktemp("roundtrip")
    write_files(plan.imported, directory)
    loaded = load_directory(directory)
    assert sorted(c.name for c in loaded.campaigns) == [name, name]
    result = compute_plan(loaded.campaigns, state_of(*[i.record for i in plan.imported]), live)
    assert {a.action for a in result.actions} == {ActionKind.NO_OP}
