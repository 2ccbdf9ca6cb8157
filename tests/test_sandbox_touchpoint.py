"""The sandbox's touchpoint API (SPEC "Touchpoint API: the wire format"), over real HTTP."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from reconciler.sandbox import Sandbox

HEADERS = {"Authorization": "Bearer demo-token"}
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def call(sandbox: Sandbox, method: str, path: str, **kw: Any) -> requests.Response:
    kw.setdefault("headers", HEADERS)
    return requests.request(method, sandbox.url + path, timeout=10, **kw)


def new_campaign(sandbox: Sandbox, name: str = "Welcome journey") -> dict[str, Any]:
    response = call(
        sandbox, "POST", "/v1/campaigns", json={"name": name, "channel_type": "whatsapp"}
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def new_touchpoint(sandbox: Sandbox, campaign_id: str, **overrides: Any) -> dict[str, Any]:
    payload = {"name": "Welcome Message", "type": "message", "campaign_id": campaign_id}
    payload["message"] = {"text": "Hi! Welcome to our service."}
    payload.update(overrides)
    response = call(sandbox, "POST", "/v1/touchpoints", json=payload)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def error_code(response: requests.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


# --------------------------------------------------------------------------- campaigns


def test_create_campaign_is_a_draft_with_the_documented_schema(sandbox: Sandbox) -> None:
    campaign = new_campaign(sandbox)
    assert set(campaign) == {"_id", "name", "status", "channel_type", "created_at", "updated_at"}
    assert re.fullmatch(r"cmp_[0-9a-f]+", campaign["_id"])
    assert campaign["status"] == "draft"
    assert campaign["channel_type"] == "whatsapp"
    assert ISO_Z.match(campaign["created_at"]) and ISO_Z.match(campaign["updated_at"])
    fetched = call(sandbox, "GET", f"/v1/campaigns/{campaign['_id']}")
    assert fetched.status_code == 200 and fetched.json() == campaign


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
    response = call(sandbox, "POST", "/v1/campaigns", json=payload)
    assert error_code(response) == (400, "invalid_request")
    assert response.json()["error"]["message"]
    assert sandbox.touchpoint_campaigns() == []


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_campaigns_cannot_be_updated(sandbox: Sandbox, method: str) -> None:
    campaign = new_campaign(sandbox)
    response = call(sandbox, method, f"/v1/campaigns/{campaign['_id']}", json={"name": "new"})
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    assert sandbox.touchpoint_campaigns()[0]["name"] == "Welcome journey"


def test_delete_campaign_deletes_its_touchpoints(sandbox: Sandbox) -> None:
    keep = new_campaign(sandbox, "keep")
    drop = new_campaign(sandbox, "drop")
    kept = new_touchpoint(sandbox, keep["_id"])
    new_touchpoint(sandbox, drop["_id"])
    response = call(sandbox, "DELETE", f"/v1/campaigns/{drop['_id']}")
    assert response.status_code == 204 and response.content == b""
    assert error_code(call(sandbox, "GET", f"/v1/campaigns/{drop['_id']}")) == (404, "not_found")
    listed = call(sandbox, "GET", "/v1/touchpoints").json()
    assert [tp["_id"] for tp in listed["data"]] == [kept["_id"]]


def test_unknown_ids_are_404(sandbox: Sandbox) -> None:
    for method, path in [
        ("GET", "/v1/campaigns/cmp_nope"),
        ("DELETE", "/v1/campaigns/cmp_nope"),
        ("GET", "/v1/touchpoints/tp_nope"),
        ("DELETE", "/v1/touchpoints/tp_nope"),
        ("PATCH", "/v1/touchpoints/tp_nope"),
    ]:
        response = call(sandbox, method, path, json={"name": "x"})
        assert error_code(response) == (404, "not_found"), (method, path)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic ZGVtby10b2tlbg=="}],
    ids=["missing", "wrong", "basic"],
)
def test_bad_token_is_401_unauthorized(sandbox: Sandbox, headers: dict[str, str]) -> None:
    for method, path in [("GET", "/v1/campaigns"), ("POST", "/v1/touchpoints")]:
        response = call(sandbox, method, path, headers=headers, json={})
        assert error_code(response) == (401, "unauthorized")


# --------------------------------------------------------------------------- listing


@pytest.mark.parametrize("count", [0, 1, 100, 101, 250])
def test_campaign_paging_returns_each_once_oldest_first(sandbox: Sandbox, count: int) -> None:
    ids = sandbox.seed_touchpoint_campaigns(count)
    seen: list[str] = []
    for offset in range(0, max(count, 1), 100):
        page = call(sandbox, "GET", "/v1/campaigns", params={"limit": 100, "offset": offset})
        assert page.json()["total"] == count
        seen += [c["_id"] for c in page.json()["data"]]
    assert seen == ids


def test_default_limit_is_20(sandbox: Sandbox) -> None:
    campaign_ids = sandbox.seed_touchpoint_campaigns(25, touchpoints=1)
    campaigns = call(sandbox, "GET", "/v1/campaigns").json()
    touchpoints = call(sandbox, "GET", "/v1/touchpoints").json()
    assert len(campaigns["data"]) == 20 and campaigns["total"] == 25
    assert len(touchpoints["data"]) == 20 and touchpoints["total"] == 25
    assert [tp["campaign_id"] for tp in touchpoints["data"]] == campaign_ids[:20]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "x"}])
def test_bad_paging_is_invalid_request(sandbox: Sandbox, params: dict[str, Any]) -> None:
    for path in ("/v1/campaigns", "/v1/touchpoints"):
        assert error_code(call(sandbox, "GET", path, params=params)) == (400, "invalid_request")


def test_touchpoints_list_in_creation_order_with_or_without_campaign(sandbox: Sandbox) -> None:
    first = new_campaign(sandbox, "first")
    second = new_campaign(sandbox, "second")
    a = new_touchpoint(sandbox, first["_id"], name="a")
    b = new_touchpoint(sandbox, second["_id"], name="b")
    c = new_touchpoint(sandbox, first["_id"], name="c")
    everything = call(sandbox, "GET", "/v1/touchpoints").json()
    assert [tp["_id"] for tp in everything["data"]] == [a["_id"], b["_id"], c["_id"]]
    mine = call(sandbox, "GET", "/v1/touchpoints", params={"campaign_id": first["_id"]}).json()
    assert [tp["name"] for tp in mine["data"]] == ["a", "c"] and mine["total"] == 2
    none = call(sandbox, "GET", "/v1/touchpoints", params={"campaign_id": "cmp_x"}).json()
    assert none == {"data": [], "total": 0}


# --------------------------------------------------------------------------- touchpoints


def test_touchpoint_schema_never_returns_message(sandbox: Sandbox) -> None:
    campaign = new_campaign(sandbox)
    touchpoint = new_touchpoint(sandbox, campaign["_id"])
    assert set(touchpoint) == {"_id", "name", "type", "campaign_id", "created_at"}
    assert re.fullmatch(r"tp_[0-9a-f]+", touchpoint["_id"])
    assert ISO_Z.match(touchpoint["created_at"])
    fetched = call(sandbox, "GET", f"/v1/touchpoints/{touchpoint['_id']}").json()
    assert fetched == touchpoint
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
    response = call(sandbox, "POST", "/v1/touchpoints", json=payload)
    assert error_code(response) == (400, "invalid_request")
    assert sandbox.touchpoints() == []


def test_create_touchpoint_missing_field_names_it(sandbox: Sandbox) -> None:
    response = call(sandbox, "POST", "/v1/touchpoints", json={"name": "n", "campaign_id": "c"})
    assert error_code(response) == (400, "invalid_request")
    assert "type" in response.json()["error"]["message"]


def test_create_touchpoint_under_unknown_campaign_is_404(sandbox: Sandbox) -> None:
    payload = {"name": "n", "type": "message", "campaign_id": "cmp_missing", "message": "hi"}
    assert error_code(call(sandbox, "POST", "/v1/touchpoints", json=payload)) == (404, "not_found")


def test_patch_changes_name_type_and_message(sandbox: Sandbox) -> None:
    campaign = new_campaign(sandbox)
    touchpoint = new_touchpoint(sandbox, campaign["_id"])
    response = call(
        sandbox,
        "PATCH",
        f"/v1/touchpoints/{touchpoint['_id']}",
        json={"name": "Day 3 nudge", "message": "Still there?", "campaign_id": campaign["_id"]},
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Day 3 nudge"
    assert response.json()["type"] == "message"
    assert "message" not in response.json()
    assert sandbox.touchpoints()[0]["message"] == "Still there?"


@pytest.mark.parametrize(
    "patch",
    [{"campaign_id": "cmp_other"}, {"name": ""}, {"message": ["x"]}, {"created_at": "now"}],
    ids=["move-campaign", "empty-name", "bad-message", "unknown-field"],
)
def test_patch_rejects_bad_input(sandbox: Sandbox, patch: dict[str, Any]) -> None:
    campaign = new_campaign(sandbox)
    touchpoint = new_touchpoint(sandbox, campaign["_id"])
    response = call(sandbox, "PATCH", f"/v1/touchpoints/{touchpoint['_id']}", json=patch)
    assert error_code(response) == (400, "invalid_request")
    assert sandbox.touchpoints()[0]["name"] == "Welcome Message"


def test_delete_touchpoint(sandbox: Sandbox) -> None:
    campaign = new_campaign(sandbox)
    touchpoint = new_touchpoint(sandbox, campaign["_id"])
    assert call(sandbox, "DELETE", f"/v1/touchpoints/{touchpoint['_id']}").status_code == 204
    assert sandbox.touchpoints(campaign["_id"]) == []


def test_touchpoint_writes_under_a_completed_campaign_are_409(sandbox: Sandbox) -> None:
    campaign = new_campaign(sandbox)
    touchpoint = new_touchpoint(sandbox, campaign["_id"])
    sandbox.set_touchpoint_campaign_status(campaign["_id"], "completed")
    tp_path = f"/v1/touchpoints/{touchpoint['_id']}"
    payload = {"name": "n", "type": "message", "campaign_id": campaign["_id"], "message": "x"}
    for method, path, body in [
        ("POST", "/v1/touchpoints", payload),
        ("PATCH", tp_path, {"name": "renamed"}),
        ("DELETE", tp_path, None),
    ]:
        response = call(sandbox, method, path, json=body)
        assert error_code(response) == (409, "campaign_completed"), method
    assert [tp["name"] for tp in sandbox.touchpoints()] == ["Welcome Message"]
    assert call(sandbox, "GET", f"/v1/campaigns/{campaign['_id']}").json()["status"] == "completed"


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
    missing = f"{sandbox.url}/_admin/touchpoint/campaigns/cmp_missing"
    assert requests.post(missing, json={"status": "active"}, timeout=10).status_code == 404
    with pytest.raises(ValueError, match="status"):
        sandbox.set_touchpoint_campaign_status(campaign["_id"], "paused")


# --------------------------------------------------------------------------- validate


def validate(sandbox: Sandbox, touchpoint_id: str) -> dict[str, Any]:
    response = call(
        sandbox, "POST", "/v1/touchpoints/validate", json={"touchpoint_id": touchpoint_id}
    )
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
    missing = call(sandbox, "POST", "/v1/touchpoints/validate", json={})
    assert error_code(missing) == (400, "invalid_request")
    unknown = call(sandbox, "POST", "/v1/touchpoints/validate", json={"touchpoint_id": "tp_x"})
    assert error_code(unknown) == (404, "not_found")
    wrong_method = call(sandbox, "GET", "/v1/touchpoints/validate")
    assert wrong_method.status_code == 405
