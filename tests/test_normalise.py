"""Decoding the email API's documented response variants into the canonical form.

One test per quirk of api/README.md, fed with the vendor's own JSON examples
(tests/vendor_examples/, copied verbatim; the three invalid ones have repaired twins).
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.errors import CampaignctlError, InvalidResponse
from reconciler.live import EMAIL_KIND
from reconciler.providers.engagelab.client import (
    decode_campaign,
    decode_fields,
    encode_campaign,
    encode_fields,
)
from reconciler.providers.engagelab.codec import (
    decode_ab_test,
    decode_google_track,
    decode_send_time,
    decode_sender_id,
    decode_time_zone,
    decode_to,
    decode_warm_up,
)
from reconciler.providers.http import interpret_answer

EXAMPLES = Path(__file__).parent / "vendor_examples"


def example(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def answer(name: str, status: int = 200) -> Any:
    content = (EXAMPLES / name).read_bytes()
    return interpret_answer("GET", "/v1/marketing/campaigns", status, content, {}, idempotent=True)


# --------------------------------------------------------------------------- invalid JSON


@pytest.mark.parametrize(
    "name",
    [
        "create_response.trailing_comma.json",
        "list_response.missing_brace.json",
        "detail_response.missing_brace.json",
    ],
)
def test_vendor_examples_that_are_not_json_raise_invalid_response(name: str) -> None:
    with pytest.raises(InvalidResponse) as caught:
        answer(name)
    message = str(caught.value)
    assert "not JSON" in message
    assert "line" in message and "column" in message  # says where the parse failed
    assert "GET /v1/marketing/campaigns" in message


def test_trailing_comma_error_points_at_the_comma_line() -> None:
    with pytest.raises(InvalidResponse, match=r"line 37 column 1"):
        answer("create_response.trailing_comma.json")


# --------------------------------------------------------------------------- one quirk each


@pytest.mark.parametrize("value", [8, "8", "+8", "+08:00", 8.0])
def test_time_zone_variants_are_one_value(value: Any) -> None:
    assert decode_time_zone(value) == 8


@pytest.mark.parametrize(("value", "expected"), [("-5", -5), (-5, -5), ("+14", 14), ("0", 0)])
def test_time_zone_signs(value: Any, expected: int) -> None:
    assert decode_time_zone(value) == expected


@pytest.mark.parametrize("value", [None, ""])
def test_time_zone_absent(value: Any) -> None:
    assert decode_time_zone(value) is None


def test_to_object_and_one_element_list_are_one_value() -> None:
    as_object = example("create_response.repaired.json")["result"]["to"]
    as_list = example("ab_test_response.json")["result"]["to"]
    assert isinstance(as_object, dict) and isinstance(as_list, list)  # the two vendor forms
    assert decode_to(as_object) == {"type": "tag", "value": ["tag1"]}
    assert decode_to(as_list) == {"type": "list", "value": ["all"]}
    assert decode_to([{"type": "tag", "value": ["a"]}]) == decode_to(
        {"type": "tag", "value": ["a"]}
    )


def test_to_of_two_entries_is_rejected() -> None:
    with pytest.raises(ValueError):
        decode_to([{"type": "tag", "value": ["a"]}, {"type": "tag", "value": ["b"]}])


def test_run_time_request_forms_are_one_send_time() -> None:
    """The create examples send run_time as `2022-10-26 17:10:20` and with `+0800`."""
    normal = example("create_normal_request.json")
    ab = example("create_ab_request.json")
    assert normal["run_time"] != ab["run_time"]
    assert decode_send_time(normal, decode_time_zone(normal["time_zone"])) == "2022-10-26 17:10:20"
    assert decode_send_time(ab, decode_time_zone(ab["time_zone"])) == "2022-10-26 17:10:20"


def test_run_time_is_converted_into_the_campaigns_time_zone() -> None:
    raw = {"run_time": "2022-10-26T17:10:20+0800"}
    assert decode_send_time(raw, 8) == "2022-10-26 17:10:20"
    assert decode_send_time(raw, 0) == "2022-10-26 09:10:20"
    assert decode_send_time(raw, -5) == "2022-10-26 04:10:20"
    assert decode_send_time(raw, None) == "2022-10-26 17:10:20"  # the API's default, +8


def test_send_time_key_wins_over_run_time() -> None:
    raw = {"send_time": "2030-01-02 03:04:05", "run_time": "2022-10-26T17:10:20+0800"}
    assert decode_send_time(raw, 8) == "2030-01-02 03:04:05"


@pytest.mark.parametrize("raw", [{}, {"run_time": None}, {"run_time": ""}])
def test_no_run_time_is_no_send_time(raw: dict[str, Any]) -> None:
    assert decode_send_time(raw, 8) is None


def test_sender_id_int_and_string_are_one_value() -> None:
    response_form = example("ab_test_response.json")["result"]["sender_id"]
    request_form = example("create_normal_request.json")["sender_id"]
    assert (response_form, request_form) == (21, "53")
    assert decode_sender_id(response_form) == "21"
    assert decode_sender_id(request_form) == "53"
    assert decode_sender_id(None) is None


def test_warm_up_string_values_are_floats() -> None:
    warm_up = example("create_response.repaired.json")["result"]["warm_up"]
    assert warm_up[0]["upgrade_value"] == "0.95"  # the vendor's string form
    decoded = decode_warm_up(warm_up)
    assert decoded == [
        {"domain": "hotmail.com", "rate": 1, "upgrade_value": 0.95, "downgrade_value": 0.75},
        {"domain": "hotmail.com", "rate": 1, "upgrade_value": 0.95, "downgrade_value": 0.75},
    ]
    numbers = [{"domain": "g.com", "rate": "2", "upgrade_value": 0.95, "downgrade_value": 1}]
    strings = [{"domain": "g.com", "rate": 2, "upgrade_value": "0.95", "downgrade_value": "1"}]
    assert decode_warm_up(numbers) == decode_warm_up(strings)


@pytest.mark.parametrize(
    ("name", "container"),
    [("list_response.repaired.json", "list"), ("detail_response.repaired.json", "detail")],
)
def test_warm_up_null_and_empty_list_are_none(name: str, container: str) -> None:
    body = example(name)
    raw = body["result"][0] if container == "list" else body["result"]
    assert raw["warm_up"] in ([], None)
    assert decode_warm_up(raw["warm_up"]) is None
    assert "warm_up" not in decode_fields(raw)


def test_google_track_null_and_all_empty_are_none() -> None:
    all_empty = example("create_response.repaired.json")["result"]["google_track"]
    null = example("detail_response.repaired.json")["result"]["google_track"]
    assert all_empty == dict.fromkeys(all_empty, "") and null is None
    assert decode_google_track(all_empty) is None
    assert decode_google_track(null) is None
    assert decode_google_track({}) is None


def test_google_track_keeps_only_its_non_empty_keys() -> None:
    raw = {"campaign_name": "", "campaign_source": "newsletter", "campaign_medium": "email"}
    assert decode_google_track(raw) == {"campaign_source": "newsletter", "campaign_medium": "email"}


def test_ab_test_drops_empty_tested_lists_and_canonicalises_items() -> None:
    vendor = example("ab_test_response.json")["result"]["ab_test"]
    assert vendor["template_invoke_names"] == []
    assert decode_ab_test(vendor, 8) == {
        "percent": 20,
        "win_condition": {"time_unit": "hour", "after_time": 18, "compare": "open_percent"},
    }
    senders = {**vendor, "template_invoke_names": None, "sender_ids": [21, "22"]}
    assert decode_ab_test(senders, 8)["sender_ids"] == ["21", "22"]
    times = {**vendor, "send_times": ["2030-01-01T10:00:00+0800", "2030-01-01 11:00:00"]}
    assert decode_ab_test(times, 0)["send_times"] == ["2030-01-01 02:00:00", "2030-01-01 11:00:00"]
    assert decode_ab_test(None, 8) is None and decode_ab_test({}, 8) is None


# --------------------------------------------------------------------------- whole campaigns


def test_create_response_decodes_to_canonical_fields() -> None:
    raw = example("create_response.repaired.json")["result"]
    campaign = decode_campaign(raw)
    assert campaign.kind == EMAIL_KIND
    assert campaign.remote_id == "34007"
    assert campaign.status == 2
    assert campaign.fields == {
        "kind": EMAIL_KIND,
        "name": "testddd",
        "campaign_type": "normal",
        "to": {"type": "tag", "value": ["tag1"]},
        "sender_id": "21",
        "template_invoke_name": "leon2_shanshan",
        "send_time": "2022-09-27 16:41:23",
        "time_zone": 8,
        "warm_up": [
            {"domain": "hotmail.com", "rate": 1, "upgrade_value": 0.95, "downgrade_value": 0.75},
            {"domain": "hotmail.com", "rate": 1, "upgrade_value": 0.95, "downgrade_value": 0.75},
        ],
    }


def test_list_example_decodes_campaign_type_1_as_ab() -> None:
    raw = example("list_response.repaired.json")["result"][0]
    fields = decode_campaign(raw).fields
    assert fields["campaign_type"] == "ab"
    assert "reply_to" not in fields  # "" is unset
    assert fields["ab_test"]["percent"] == 20


def test_detail_and_list_examples_of_one_campaign_decode_alike() -> None:
    listed = example("list_response.repaired.json")["result"][0]
    detail = example("detail_response.repaired.json")["result"]
    assert listed["warm_up"] == [] and detail["warm_up"] is None
    assert decode_campaign(listed) == decode_campaign(detail)


def test_misspelled_time_tone_is_read() -> None:
    raw = {**example("ab_test_response.json")["result"]}
    raw["time_tone"] = raw.pop("time_zone")
    assert decode_fields(raw)["time_zone"] == 8


@pytest.mark.parametrize(
    ("field", "value"),
    [("time_zone", "Asia/Shanghai"), ("campaign_type", 7), ("run_time", "yesterday")],
)
def test_undocumented_value_is_invalid_response_naming_campaign_and_field(
    field: str, value: Any
) -> None:
    raw = {**example("ab_test_response.json")["result"], field: value}
    shown = "send_time" if field == "run_time" else field
    with pytest.raises(InvalidResponse, match=rf"campaign 34009: field {shown}"):
        decode_campaign(raw)


def test_campaign_without_id_is_invalid_response() -> None:
    with pytest.raises(InvalidResponse, match="campaign_id"):
        decode_campaign({"name": "x"})


# --------------------------------------------------------------------------- encoding


def canonical_normal(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "kind": EMAIL_KIND,
        "name": "Q3",
        "campaign_type": "normal",
        "to": {"type": "tag", "value": ["lapsed"]},
        "sender_id": "53",
        "template_invoke_name": "reengage",
        "subject": "We miss you",
        "send_time": "2030-12-01 10:00:00",
        "time_zone": -5,
        "warm_up": [{"domain": "g.com", "rate": 1, "upgrade_value": 0.95, "downgrade_value": 0.75}],
        "google_track": {"campaign_source": "newsletter"},
    }
    return {**base, **overrides}


def test_encode_sends_the_table_forms() -> None:
    body = encode_campaign(canonical_normal())
    assert body == {
        "name": "Q3",
        "campaign_type": 2,  # the field table's mapping, not the examples'
        "to": [{"type": "tag", "value": ["lapsed"]}],
        "sender_id": "53",
        "template_invoke_name": "reengage",
        "subject": "We miss you",
        "send_time": "2030-12-01 10:00:00",
        "time_zone": -5,
        "warm_up": [{"domain": "g.com", "rate": 1, "upgrade_value": 0.95, "downgrade_value": 0.75}],
        "google_track": {"campaign_source": "newsletter"},
    }
    assert "kind" not in body
    assert encode_campaign({**canonical_normal(), "campaign_type": "ab"})["campaign_type"] == 1


def test_encode_reads_attachments_as_base64(tmp_path: Path) -> None:
    data = b"%PDF-1.4 offer"
    path = tmp_path / "offer.pdf"
    path.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    attachment = {"filename": "deal.pdf", "sha256": sha, "path": str(path)}
    body = encode_campaign(canonical_normal(attachments=[attachment]))
    assert body["attachments"] == [
        {"filename": "deal.pdf", "content": base64.b64encode(data).decode()}
    ]
    prefixed = {**attachment, "sha256": "sha256:" + sha}
    assert encode_campaign(canonical_normal(attachments=[prefixed]))["attachments"][0]["content"]


def test_attachment_changed_since_validation_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "offer.pdf"
    path.write_bytes(b"new bytes")
    attachment = {"filename": "offer.pdf", "sha256": "0" * 64, "path": str(path)}
    with pytest.raises(CampaignctlError, match=r"offer\.pdf changed since it was validated"):
        encode_campaign(canonical_normal(attachments=[attachment]))


def test_missing_attachment_file_is_a_clear_error(tmp_path: Path) -> None:
    attachment = {"filename": "gone.pdf", "sha256": "", "path": str(tmp_path / "gone.pdf")}
    with pytest.raises(CampaignctlError, match=r"cannot read attachment gone\.pdf") as caught:
        encode_campaign(canonical_normal(attachments=[attachment]))
    assert caught.value.where == str(tmp_path / "gone.pdf")


def test_update_encodes_only_the_given_fields() -> None:
    assert encode_fields({"reply_to": "a@b.co", "sender_id": "7"}) == {
        "reply_to": "a@b.co",
        "sender_id": "7",
    }


def test_none_clears_a_field_with_its_empty_wire_value() -> None:
    body = encode_fields(
        dict.fromkeys(("reply_to", "google_track", "warm_up", "attachments", "time_zone"))
    )
    assert body["reply_to"] == ""
    assert body["warm_up"] == [] and body["attachments"] == []
    assert set(body["google_track"].values()) == {""}  # the vendor's own empty form
    assert decode_google_track(body["google_track"]) is None
    assert body["time_zone"] == 8  # the API's default


@pytest.mark.parametrize("field", ["name", "campaign_type", "to"])
def test_clearing_a_required_field_is_a_bug(field: str) -> None:
    with pytest.raises(ValueError, match="cannot be cleared"):
        encode_fields({field: None})


def test_unknown_field_is_a_bug() -> None:
    with pytest.raises(ValueError, match="no field 'lifecycle'"):
        encode_fields({"lifecycle": {}})


# --------------------------------------------------------------------------- properties


@given(st.integers(min_value=-12, max_value=14))
def test_every_time_zone_form_is_one_value(hours: int) -> None:
    forms = [hours, str(hours), f"{hours:+d}", f"{hours:+03d}:00"]
    assert {decode_time_zone(form) for form in forms} == {hours}


@given(st.integers(min_value=1, max_value=10**9))
def test_sender_id_forms_are_one_value(sender: int) -> None:
    assert decode_sender_id(sender) == decode_sender_id(str(sender)) == str(sender)


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)).map(
        lambda d: d.replace(microsecond=0)
    ),
    st.integers(min_value=-12, max_value=14),
)
def test_run_time_with_offset_reads_back_the_local_send_time(moment: datetime, hours: int) -> None:
    """What the API renders as run_time (any offset) decodes to the local send_time sent."""
    local = moment.strftime("%Y-%m-%d %H:%M:%S")
    aware = moment.replace(tzinfo=timezone(timedelta(hours=hours)))
    as_plus8 = aware.astimezone(timezone(timedelta(hours=8))).strftime("%Y-%m-%dT%H:%M:%S%z")
    assert decode_send_time({"run_time": as_plus8}, hours) == local
    assert decode_send_time({"run_time": local}, hours) == local


def test_sender_id_leading_zeros_and_unicode_digits() -> None:
    from reconciler.providers.engagelab.quirks import canonical_sender_id

    # Responses carry the id as an int: "053" is sent and comes back as 53.
    assert canonical_sender_id("053") == canonical_sender_id(53) == "53"
    # str.isdigit() accepts "²", which int() refuses: such an id is kept as text.
    assert canonical_sender_id("²") == "²"
