"""The sandbox's iMBrace channel-service API (SPEC "Touchpoint campaigns"), over real HTTP."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from reconciler.sandbox import Sandbox

CAMPAIGNS = "/channel-service/v1/campaign"
TOUCHPOINTS = "/channel-service/v1/touchpoints"
VALIDATE = f"{TOUCHPOINTS}/_validate"
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
HEX_ID = re.compile(r"[0-9a-f]{24}")
#: Well-formed ids (24 hex digits) that the sandbox never made, and malformed ones.
UNKNOWN_IDS = ["0" * 24, "cmp_nope"]


def call(sandbox: Sandbox, method: str, path: str, **kw: Any) -> requests.Response:
    kw.setdefault("headers", {"x-api-key": sandbox.imbrace_api_key})
    return requests.request(method, sandbox.url + path, timeout=10, **kw)


def new_campaign(sandbox: Sandbox, name: str = "Welcome journey") -> dict[str, Any]:
    response = call(sandbox, "POST", CAMPAIGNS, json={"name": name, "channel_type": "whatsapp"})
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def new_touchpoint(sandbox: Sandbox, campaign_id: str, **overrides: Any) -> dict[str, Any]:
    payload = {"name": "Welcome Message", "type": "message", "campaign_id": campaign_id}
    payload["message"] = {"text": "Hi! Welcome to our service."}
    payload.update(overrides)
    response = call(sandbox, "POST", TOUCHPOINTS, json=payload)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def error_code(response: requests.Response) -> tuple[int, str]:
    """Status and code of an error answer, which must be exactly `{"code", "message"}`."""
    body = response.json()
    assert set(body) == {"code", "message"}, body
    assert isinstance(body["message"], str) and body["message"]
    return response.status_code, body["code"]


# --------------------------------------------------------------------------- campaigns


def test_create_campaign_is_a_draft_with_the_documented_schema(sandbox: Sandbox) -> None:
    campaign = new_campaign(sandbox)
    assert set(campaign) == {"_id", "name", "status", "channel_type", "created_at", "updated_at"}
    assert HEX_ID.fullmatch(campaign["_id"])
    assert campaign["status"] == "draft"
    assert campaign["channel_type"] == "whatsapp"
    assert ISO_Z.match(campaign["created_at"]) and ISO_Z.match(campaign["updated_at"])
    fetched = call(sandbox, "GET", f"{CAMPAIGNS}/{campaign['_id']}")
    assert fetched.status_code == 200 and fetched.json() == campaign


def test_ids_are_distinct_24_hex_digits(sandbox: Sandbox) -> None:
    campaign = new_campaign(sandbox)
    touchpoints = [new_touchpoint(sandbox, campaign["_id"], name=f"t{i}") for i in range(5)]
    ids = [campaign["_id"], *(tp["_id"] for tp in touchpoints)]
    assert all(HEX_ID.fullmatch(i) for i in ids) and len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    "payload",
    [
        {"channel_type": "email"},
        {"name": "", "channel_type": "email"},
        {"name": "x"},
        {"name": "x", "channel_type": "email", "status": "active"},
    ],
    ids=["no-name", "empty-name", "no-channel", "unknown-field"],
)
def test_create_campaign_rejects_bad_input(sandbox: Sandbox, payload: dict[str, Any]) -> None:
    response = call(sandbox, "POST", CAMPAIGNS, json=payload)
    assert error_code(response) == (400, "invalid_request")
    assert sandbox.touchpoint_campaigns() == []


def test_put_campaign_renames_it_and_nothing_else(sandbox: Sandbox) -> None:
    campaign = new_campaign(sandbox)
    path = f"{CAMPAIGNS}/{campaign['_id']}"
    renamed = call(sandbox, "PUT", path, json={"name": "Welcome back"})
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Welcome back"
    assert renamed.json()["channel_type"] == "whatsapp"
    assert renamed.json()["_id"] == campaign["_id"]
    for body in ({"channel_type": "sms"}, {"name": ""}, {"status": "active"}):
        assert error_code(call(sandbox, "PUT", path, json=body)) == (400, "invalid_request")
    assert sandbox.touchpoint_campaigns()[0]["name"] == "Welcome back"
    assert sandbox.touchpoint_campaigns()[0]["channel_type"] == "whatsapp"


def test_patch_is_405_everywhere(sandbox: Sandbox) -> None:
    campaign = new_campaign(sandbox)
    touchpoint = new_touchpoint(sandbox, campaign["_id"])
    for path in (f"{CAMPAIGNS}/{campaign['_id']}", f"{TOUCHPOINTS}/{touchpoint['_id']}"):
        response = call(sandbox, "PATCH", path, json={"name": "new"})
        assert error_code(response) == (405, "method_not_allowed"), path
        assert "PUT" in response.headers["Allow"] and "PATCH" not in response.headers["Allow"]
    assert sandbox.touchpoint_campaigns()[0]["name"] == "Welcome journey"
    assert sandbox.touchpoints()[0]["name"] == "Welcome Message"


def test_the_old_rest_paths_are_gone(sandbox: Sandbox) -> None:
    campaign = new_campaign(sandbox)
    for method, path in [
        ("GET", "/v1/campaigns"),
        ("GET", f"/v1/campaigns/{campaign['_id']}"),
        ("POST", "/v1/touchpoints"),
        ("POST", "/v1/touchpoints/validate"),
        ("GET", "/channel-service/v1/campaigns"),
    ]:
        response = call(sandbox, method, path, json={})
        assert response.status_code == 404, (method, path)


def test_delete_campaign_deletes_its_touchpoints(sandbox: Sandbox) -> None:
    keep = new_campaign(sandbox, "keep")
    drop = new_campaign(sandbox, "drop")
    kept = new_touchpoint(sandbox, keep["_id"])
    new_touchpoint(sandbox, drop["_id"])
    response = call(sandbox, "DELETE", f"{CAMPAIGNS}/{drop['_id']}")
    assert response.status_code == 200
    assert response.json() == {"_id": drop["_id"], "deleted": True}
    gone = call(sandbox, "GET", f"{CAMPAIGNS}/{drop['_id']}")
    assert error_code(gone) == (404, "not_found")
    listed = call(sandbox, "GET", TOUCHPOINTS).json()
    assert [tp["_id"] for tp in listed["data"]] == [kept["_id"]]


@pytest.mark.parametrize("unknown", UNKNOWN_IDS, ids=["hex", "malformed"])
def test_unknown_ids_are_404(sandbox: Sandbox, unknown: str) -> None:
    for method, path in [
        ("GET", f"{CAMPAIGNS}/{unknown}"),
        ("PUT", f"{CAMPAIGNS}/{unknown}"),
        ("DELETE", f"{CAMPAIGNS}/{unknown}"),
        ("GET", f"{TOUCHPOINTS}/{unknown}"),
        ("PUT", f"{TOUCHPOINTS}/{unknown}"),
        ("DELETE", f"{TOUCHPOINTS}/{unknown}"),
    ]:
        response = call(sandbox, method, path, json={"name": "x"})
        assert error_code(response) == (404, "not_found"), (method, path)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-api-key": "wrong"},
        {"x-api-key": ""},
        {"Authorization": "Bearer demo-imbrace-key"},
        {"x-access-token": "demo-imbrace-key"},
    ],
    ids=["missing", "wrong", "empty", "bearer-of-the-right-key", "access-token"],
)
def test_anything_but_the_right_x_api_key_is_401(sandbox: Sandbox, headers: dict[str, str]) -> None:
    for method, path in [("GET", CAMPAIGNS), ("POST", TOUCHPOINTS), ("POST", VALIDATE)]:
        response = call(sandbox, method, path, headers=headers, json={})
        assert error_code(response) == (401, "unauthorized")


def test_header_name_is_case_insensitive(sandbox: Sandbox) -> None:
    response = call(sandbox, "GET", CAMPAIGNS, headers={"X-API-Key": sandbox.imbrace_api_key})
    assert response.status_code == 200


# --------------------------------------------------------------------------- listing


@pytest.mark.parametrize("count", [0, 1, 100, 101, 250])
def test_campaign_paging_returns_each_once_oldest_first(sandbox: Sandbox, count: int) -> None:
    ids = sandbox.seed_touchpoint_campaigns(count)
    pages = max(1, -(-count // 100))
    seen: list[str] = []
    for page in range(1, pages + 1):
        body = call(sandbox, "GET", CAMPAIGNS, params={"page": page, "limit": 100}).json()
        assert body["total"] == count
        assert body["pagination"] == {
            "page": page,
            "limit": 100,
            "total": count,
            "total_pages": pages,
            "has_next": page < pages,
            "has_prev": page > 1,
        }
        seen += [c["_id"] for c in body["data"]]
    assert seen == ids
    past_the_end = call(sandbox, "GET", CAMPAIGNS, params={"page": pages + 1, "limit": 100})
    assert past_the_end.json()["data"] == []


@pytest.mark.parametrize("count", [0, 1, 100, 101, 250])
def test_touchpoint_paging_by_limit_and_offset(sandbox: Sandbox, count: int) -> None:
    sandbox.seed_touchpoint_campaigns(count, touchpoints=1)
    ids = [tp["_id"] for tp in sandbox.touchpoints()]
    seen: list[str] = []
    for offset in range(0, max(count, 1), 100):
        body = call(sandbox, "GET", TOUCHPOINTS, params={"limit": 100, "offset": offset}).json()
        assert set(body) == {"data", "total"} and body["total"] == count
        seen += [tp["_id"] for tp in body["data"]]
    assert seen == ids


def test_default_limit_is_20(sandbox: Sandbox) -> None:
    campaign_ids = sandbox.seed_touchpoint_campaigns(25, touchpoints=1)
    campaigns = call(sandbox, "GET", CAMPAIGNS).json()
    touchpoints = call(sandbox, "GET", TOUCHPOINTS).json()
    assert len(campaigns["data"]) == 20 and campaigns["total"] == 25
    assert campaigns["pagination"]["limit"] == 20 and campaigns["pagination"]["page"] == 1
    assert campaigns["pagination"]["total_pages"] == 2 and campaigns["pagination"]["has_next"]
    assert len(touchpoints["data"]) == 20 and touchpoints["total"] == 25
    assert [tp["campaign_id"] for tp in touchpoints["data"]] == campaign_ids[:20]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (CAMPAIGNS, {"limit": 0}),
        (CAMPAIGNS, {"limit": 101}),
        (CAMPAIGNS, {"limit": "x"}),
        (CAMPAIGNS, {"page": 0}),
        (CAMPAIGNS, {"page": "-1"}),
        (TOUCHPOINTS, {"limit": 0}),
        (TOUCHPOINTS, {"limit": 101}),
        (TOUCHPOINTS, {"limit": "x"}),
        (TOUCHPOINTS, {"offset": -1}),
    ],
)
def test_bad_paging_is_invalid_request(sandbox: Sandbox, path: str, params: dict[str, Any]) -> None:
    assert error_code(call(sandbox, "GET", path, params=params)) == (400, "invalid_request")


def test_touchpoints_list_in_creation_order_with_or_without_campaign(sandbox: Sandbox) -> None:
    first = new_campaign(sandbox, "first")
    second = new_campaign(sandbox, "second")
    a = new_touchpoint(sandbox, first["_id"], name="a")
    b = new_touchpoint(sandbox, second["_id"], name="b")
    c = new_touchpoint(sandbox, first["_id"], name="c")
    everything = call(sandbox, "GET", TOUCHPOINTS).json()
    assert [tp["_id"] for tp in everything["data"]] == [a["_id"], b["_id"], c["_id"]]
    mine = call(sandbox, "GET", TOUCHPOINTS, params={"campaign_id": first["_id"]}).json()
    assert [tp["name"] for tp in mine["data"]] == ["a", "c"] and mine["total"] == 2
    none = call(sandbox, "GET", TOUCHPOINTS, params={"campaign_id": "0" * 24}).json()
    assert none == {"data": [], "total": 0}


# --------------------------------------------------------------------------- quirks


def test_quirk_total_only_lists_campaigns_by_limit_and_offset(sandbox: Sandbox) -> None:
    ids = sandbox.seed_touchpoint_campaigns(150)
    sandbox.set_quirks("tp_total_only")
    first = call(sandbox, "GET", CAMPAIGNS, params={"limit": 100}).json()
    second = call(sandbox, "GET", CAMPAIGNS, params={"limit": 100, "offset": 100}).json()
    assert set(first) == {"data", "total"} and first["total"] == 150
    assert [c["_id"] for c in first["data"] + second["data"]] == ids


def test_quirk_unpaged_answers_everything_as_one_page(sandbox: Sandbox) -> None:
    ids = sandbox.seed_touchpoint_campaigns(130, touchpoints=1)
    sandbox.set_quirks("tp_unpaged")
    campaigns = call(sandbox, "GET", CAMPAIGNS, params={"page": 1, "limit": 100}).json()
    touchpoints = call(sandbox, "GET", TOUCHPOINTS, params={"limit": 100}).json()
    assert campaigns == {"data": campaigns["data"]}
    assert [c["_id"] for c in campaigns["data"]] == ids
    assert set(touchpoints) == {"data"} and len(touchpoints["data"]) == 130


def test_quirk_delete_204_has_no_body(sandbox: Sandbox) -> None:
    campaign = new_campaign(sandbox)
    touchpoint = new_touchpoint(sandbox, campaign["_id"])
    sandbox.set_quirks("tp_delete_204")
    for path in (f"{TOUCHPOINTS}/{touchpoint['_id']}", f"{CAMPAIGNS}/{campaign['_id']}"):
        response = call(sandbox, "DELETE", path)
        assert response.status_code == 204 and response.content == b"", path
    assert sandbox.touchpoint_campaigns() == [] and sandbox.touchpoints() == []


def test_quirk_error_nested_wraps_code_and_message(sandbox: Sandbox) -> None:
    sandbox.set_quirks("tp_error_nested")
    response = call(sandbox, "GET", f"{CAMPAIGNS}/{'0' * 24}")
    assert response.status_code == 404
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == "not_found"
    assert body["error"]["message"]
    refused = call(sandbox, "GET", CAMPAIGNS, headers={"x-api-key": "wrong"})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"


# --------------------------------------------------------------------------- touchpoints


def test_touchpoint_schema_never_returns_message(sandbox: Sandbox) -> None:
    campaign = new_campaign(sandbox)
    touchpoint = new_touchpoint(sandbox, campaign["_id"])
    assert set(touchpoint) == {"_id", "name", "type", "campaign_id", "created_at"}
    assert HEX_ID.fullmatch(touchpoint["_id"])
    assert ISO_Z.match(touchpoint["created_at"])
    fetched = call(sandbox, "GET", f"{TOUCHPOINTS}/{touchpoint['_id']}").json()
    assert fetched == touchpoint
    listed = call(sandbox, "GET", TOUCHPOINTS).json()["data"]
    assert listed == [touchpoint]
    assert sandbox.touchpoints()[0]["message"] == {"text": "Hi! Welcome to our service."}


@pytest.mark.parametrize(
    "overrides",
    [{"name": ""}, {"name": None}, {"type": 7}, {"message": 42}, {"campaign_id": ""}, {"x": 1}],
    ids=["empty-name", "null-name", "type-not-string", "message-number", "no-campaign", "unknown"],
)
def test_create_touchpoint_rejects_bad_input(sandbox: Sandbox, overrides: dict[str, Any]) -> None:
    campaign = new_campaign(sandbox)
    payload = {"name": "n", "type": "message", "campaign_id": campaign["_id"], "message": "hi"}
    payload.update(overrides)
    response = call(sandbox, "POST", TOUCHPOINTS, json=payload)
    assert error_code(response) == (400, "invalid_request")
    assert sandbox.touchpoints() == []


def test_create_touchpoint_missing_field_names_it(sandbox: Sandbox) -> None:
    response = call(sandbox, "POST", TOUCHPOINTS, json={"name": "n", "campaign_id": "c"})
    assert error_code(response) == (400, "invalid_request")
    assert "type" in response.json()["message"]


@pytest.mark.parametrize("unknown", UNKNOWN_IDS, ids=["hex", "malformed"])
def test_create_touchpoint_under_unknown_campaign_is_404(sandbox: Sandbox, unknown: str) -> None:
    payload = {"name": "n", "type": "message", "campaign_id": unknown, "message": "hi"}
    assert error_code(call(sandbox, "POST", TOUCHPOINTS, json=payload)) == (404, "not_found")


def test_put_changes_the_given_fields_and_keeps_the_others(sandbox: Sandbox) -> None:
    campaign = new_campaign(sandbox)
    touchpoint = new_touchpoint(sandbox, campaign["_id"])
    response = call(
        sandbox,
        "PUT",
        f"{TOUCHPOINTS}/{touchpoint['_id']}",
        json={"name": "Day 3 nudge", "message": "Still there?", "campaign_id": campaign["_id"]},
    )
    assert response.status_code == 200
    assert response.json() == {**touchpoint, "name": "Day 3 nudge"}
    assert sandbox.touchpoints()[0]["message"] == "Still there?"
    retyped = call(sandbox, "PUT", f"{TOUCHPOINTS}/{touchpoint['_id']}", json={"type": "action"})
    assert retyped.json()["type"] == "action" and retyped.json()["name"] == "Day 3 nudge"
    assert sandbox.touchpoints()[0]["message"] == "Still there?"


@pytest.mark.parametrize(
    "change",
    [{"campaign_id": "0" * 24}, {"name": ""}, {"message": ["x"]}, {"created_at": "now"}],
    ids=["move-campaign", "empty-name", "bad-message", "unknown-field"],
)
def test_put_rejects_bad_input(sandbox: Sandbox, change: dict[str, Any]) -> None:
    campaign = new_campaign(sandbox)
    touchpoint = new_touchpoint(sandbox, campaign["_id"])
    response = call(sandbox, "PUT", f"{TOUCHPOINTS}/{touchpoint['_id']}", json=change)
    assert error_code(response) == (400, "invalid_request")
    assert sandbox.touchpoints()[0]["name"] == "Welcome Message"


def test_delete_touchpoint(sandbox: Sandbox) -> None:
    campaign = new_campaign(sandbox)
    touchpoint = new_touchpoint(sandbox, campaign["_id"])
    response = call(sandbox, "DELETE", f"{TOUCHPOINTS}/{touchpoint['_id']}")
    assert response.status_code == 200
    assert response.json() == {"_id": touchpoint["_id"], "deleted": True}
    assert sandbox.touchpoints(campaign["_id"]) == []
    again = call(sandbox, "DELETE", f"{TOUCHPOINTS}/{touchpoint['_id']}")
    assert error_code(again) == (404, "not_found")


def test_touchpoint_writes_under_a_completed_campaign_are_409(sandbox: Sandbox) -> None:
    campaign = new_campaign(sandbox)
    touchpoint = new_touchpoint(sandbox, campaign["_id"])
    sandbox.set_touchpoint_campaign_status(campaign["_id"], "completed")
    tp_path = f"{TOUCHPOINTS}/{touchpoint['_id']}"
    payload = {"name": "n", "type": "message", "campaign_id": campaign["_id"], "message": "x"}
    for method, path, body in [
        ("POST", TOUCHPOINTS, payload),
        ("PUT", tp_path, {"name": "renamed"}),
        ("DELETE", tp_path, None),
    ]:
        response = call(sandbox, method, path, json=body)
        assert error_code(response) == (409, "campaign_completed"), method
    assert [tp["name"] for tp in sandbox.touchpoints()] == ["Welcome Message"]
    fetched = call(sandbox, "GET", f"{CAMPAIGNS}/{campaign['_id']}")
    assert fetched.json()["status"] == "completed"


def test_active_campaign_still_accepts_touchpoint_writes(sandbox: Sandbox) -> None:
    campaign = new_campaign(sandbox)
    sandbox.set_touchpoint_campaign_status(campaign["_id"], "active")
    new_touchpoint(sandbox, campaign["_id"])
    assert len(sandbox.touchpoints(campaign["_id"])) == 1


def test_admin_sets_touchpoint_campaign_status_and_checks_it(sandbox: Sandbox) -> None:
    campaign = new_campaign(sandbox)
    url = f"{sandbox.url}/_admin/touchpoint/campaigns/{campaign['_id']}"
    response = requests.post(url, json={"status": "active"}, timeout=10)
    assert response.status_code == 200 and response.json()["status"] == "active"
    assert requests.post(url, json={"status": "paused"}, timeout=10).status_code == 400
    missing = f"{sandbox.url}/_admin/touchpoint/campaigns/{'0' * 24}"
    assert requests.post(missing, json={"status": "active"}, timeout=10).status_code == 404
    with pytest.raises(ValueError, match="status"):
        sandbox.set_touchpoint_campaign_status(campaign["_id"], "paused")


# --------------------------------------------------------------------------- validate


def validate(sandbox: Sandbox, touchpoint_id: str) -> dict[str, Any]:
    response = call(sandbox, "POST", VALIDATE, json={"touchpoint_id": touchpoint_id})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.mark.parametrize(
    "overrides",
    [
        {"message": "Still there?"},
        {"message": {"text": "Hi", "buttons": ["ok"]}},
        {"type": "action", "message": None},
    ],
    ids=["string", "object", "action-without-message"],
)
def test_valid_touchpoints(sandbox: Sandbox, overrides: dict[str, Any]) -> None:
    campaign = new_campaign(sandbox)
    touchpoint = new_touchpoint(sandbox, campaign["_id"], **overrides)
    assert validate(sandbox, touchpoint["_id"]) == {"valid": True, "errors": []}


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        ({"message": ""}, ["non-empty message"]),
        ({"message": "   "}, ["non-empty message"]),
        ({"message": {"text": ""}}, ["non-empty message"]),
        ({"message": {"body": "hi"}}, ["non-empty message"]),
        ({"message": None}, ["non-empty message"]),
        ({"type": "email"}, ["'message' or 'action'"]),
    ],
    ids=["empty", "blank", "empty-text", "no-text", "absent", "bad-type"],
)
def test_invalid_touchpoints_get_one_sentence_per_rule(
    sandbox: Sandbox, overrides: dict[str, Any], fragments: list[str]
) -> None:
    campaign = new_campaign(sandbox)
    touchpoint = new_touchpoint(sandbox, campaign["_id"], **overrides)
    result = validate(sandbox, touchpoint["_id"])
    assert result["valid"] is False
    assert len(result["errors"]) == len(fragments)
    for sentence, fragment in zip(result["errors"], fragments, strict=True):
        assert fragment in sentence and sentence.endswith(".")


def test_validate_errors(sandbox: Sandbox) -> None:
    missing = call(sandbox, "POST", VALIDATE, json={})
    assert error_code(missing) == (400, "invalid_request")
    for unknown in UNKNOWN_IDS:
        response = call(sandbox, "POST", VALIDATE, json={"touchpoint_id": unknown})
        assert error_code(response) == (404, "not_found")
    wrong_method = call(sandbox, "GET", VALIDATE)
    assert error_code(wrong_method) == (405, "method_not_allowed")
    assert wrong_method.headers["Allow"] == "POST"
