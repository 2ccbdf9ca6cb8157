"""The sandbox's EngageLab Email API, over real HTTP: operations, codes, paging, quirks, status."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from reconciler.sandbox import Sandbox

AUTH = ("demo-user", "demo-key")
PATH = "/v1/marketing/campaigns"
VENDOR_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0800$")


def body(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "campaign_type": 2,
        "name": "Q3 Re-engagement",
        "to": [{"type": "tag", "value": ["lapsed-90d"]}],
        "sender_id": "53",
        "template_invoke_name": "reengage_v2",
        "subject": "We miss you",
        "send_time": "2030-12-01 10:00:00",
        "time_zone": "8",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not _DROP}


_DROP = object()

AB_TEST = {
    "percent": 20,
    "win_condition": {"time_unit": "hour", "after_time": 18, "compare": "open_percent"},
    "subjects": ["A subject", "B subject"],
}


def api(sandbox: Sandbox, method: str, suffix: str = "", **kw: Any) -> requests.Response:
    kw.setdefault("auth", AUTH)
    return requests.request(method, sandbox.url + PATH + suffix, timeout=10, **kw)


def create(sandbox: Sandbox, **overrides: Any) -> dict[str, Any]:
    response = api(sandbox, "POST", json=body(**overrides))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["result"]
    return result


def get(sandbox: Sandbox, campaign_id: int) -> dict[str, Any]:
    response = api(sandbox, "GET", f"/{campaign_id}")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["result"]
    return result


def error(response: requests.Response) -> tuple[int, int]:
    return response.status_code, response.json()["code"]


# --------------------------------------------------------------------------- create / get


def test_create_answers_in_the_vendors_quirky_forms(sandbox: Sandbox) -> None:
    warm_up = [{"domain": "gmail.com", "rate": 1, "upgrade_value": 0.95, "downgrade_value": "0.75"}]
    result = create(sandbox, warm_up=warm_up)
    assert isinstance(result["campaign_id"], int)
    assert result["campaign_type"] == 2
    assert result["status"] == 0
    assert result["time_zone"] == "+8"
    assert result["sender_id"] == 53
    assert result["run_time"] == "2030-12-01T10:00:00+0800"
    assert result["to"] == [{"type": "tag", "value": ["lapsed-90d"]}]
    assert result["google_track"] is None
    assert result["warm_up"] == [
        {"domain": "gmail.com", "rate": 1, "upgrade_value": "0.95", "downgrade_value": "0.75"}
    ]
    assert VENDOR_TIME.match(result["create_time"])
    assert VENDOR_TIME.match(result["update_time"])
    assert result["complete_time"] is None
    assert result["from_email"] and result["from_name"]
    assert "subject" not in result and "attachments" not in result
    assert "ab_test" not in result


def test_get_returns_the_campaign_and_null_warm_up_when_unset(sandbox: Sandbox) -> None:
    created = create(sandbox)
    fetched = get(sandbox, created["campaign_id"])
    assert fetched["name"] == "Q3 Re-engagement"
    assert fetched["warm_up"] is None
    assert fetched["reply_to"] == ""


def test_google_track_is_echoed_with_all_five_keys(sandbox: Sandbox) -> None:
    result = create(sandbox, google_track={"campaign_source": "newsletter"})
    assert result["google_track"] == {
        "campaign_name": "",
        "campaign_source": "newsletter",
        "campaign_medium": "",
        "campaign_term": "",
        "campaign_content": "",
    }


@pytest.mark.parametrize("zone", [8, "8", "+8"])
def test_time_zone_is_accepted_as_int_string_or_signed_string(sandbox: Sandbox, zone: Any) -> None:
    assert create(sandbox, time_zone=zone)["time_zone"] == "+8"


def test_run_time_is_send_time_converted_to_utc_plus_8(sandbox: Sandbox) -> None:
    result = create(sandbox, send_time="2030-01-01 10:00:00", time_zone=-5)
    assert result["time_zone"] == "-5"
    assert result["run_time"] == "2030-01-01T23:00:00+0800"


def test_run_time_with_an_offset_is_read_into_the_campaign_zone(sandbox: Sandbox) -> None:
    result = create(sandbox, send_time=_DROP, run_time="2030-01-01T10:00:00+0000", time_zone=8)
    assert result["run_time"] == "2030-01-01T18:00:00+0800"
    assert sandbox.email_campaign(result["campaign_id"])["send_time"] == "2030-01-01 18:00:00"


def test_subject_and_attachments_are_stored_but_never_echoed(sandbox: Sandbox) -> None:
    content = base64.b64encode(b"%PDF-1.4 offer").decode()
    attachments = [
        {"filename": "offer.pdf", "content": content},
        {"file_name": "terms.txt", "content": content},
    ]
    result = create(sandbox, attachments=attachments)
    listed = api(sandbox, "GET").json()["result"][0]
    for shown in (result, get(sandbox, result["campaign_id"]), listed):
        assert "subject" not in shown and "attachments" not in shown
    stored = sandbox.email_campaign(result["campaign_id"])
    assert stored["subject"] == "We miss you"
    assert [a["filename"] for a in stored["attachments"]] == ["offer.pdf", "terms.txt"]


def test_ab_campaign_echoes_its_ab_test(sandbox: Sandbox) -> None:
    result = create(sandbox, campaign_type=1, ab_test=AB_TEST, subject=_DROP)
    assert result["campaign_type"] == 1
    assert result["ab_test"] == AB_TEST


def test_get_unknown_or_malformed_id_is_404(sandbox: Sandbox) -> None:
    assert error(api(sandbox, "GET", "/999")) == (404, 40400)
    assert error(api(sandbox, "GET", "/abc")) == (404, 40400)


# --------------------------------------------------------------------------- update / delete


def test_put_merges_only_the_keys_present(sandbox: Sandbox) -> None:
    created = create(sandbox, reply_to="support@example.com")
    response = api(sandbox, "PUT", f"/{created['campaign_id']}", json={"name": "Renamed"})
    assert response.status_code == 200
    assert response.json() == {"count": 1}
    fetched = get(sandbox, created["campaign_id"])
    assert fetched["name"] == "Renamed"
    assert fetched["reply_to"] == "support@example.com"
    assert fetched["template_invoke_name"] == "reengage_v2"
    assert sandbox.email_campaign(created["campaign_id"])["subject"] == "We miss you"


def test_put_with_empty_values_clears_optional_fields(sandbox: Sandbox) -> None:
    created = create(sandbox, reply_to="support@example.com", google_track={"campaign_term": "x"})
    cid = created["campaign_id"]
    clear = {"reply_to": "", "google_track": None, "warm_up": [], "subject": ""}
    assert api(sandbox, "PUT", f"/{cid}", json=clear).status_code == 200
    fetched = get(sandbox, cid)
    assert fetched["reply_to"] == "" and fetched["google_track"] is None
    assert sandbox.email_campaign(cid)["subject"] is None


@pytest.mark.parametrize("status", [1, 2, -1])
def test_put_on_a_campaign_that_is_not_waiting_is_32110(sandbox: Sandbox, status: int) -> None:
    created = create(sandbox)
    sandbox.set_email_status(created["campaign_id"], status)
    response = api(sandbox, "PUT", f"/{created['campaign_id']}", json={"name": "late"})
    assert error(response) == (400, 32110)
    assert "executed" in response.json()["message"]
    assert get(sandbox, created["campaign_id"])["name"] == "Q3 Re-engagement"


def test_put_validates_the_merged_campaign(sandbox: Sandbox) -> None:
    created = create(sandbox)
    response = api(sandbox, "PUT", f"/{created['campaign_id']}", json={"campaign_type": 1})
    assert error(response) == (400, 32107)


def test_put_unknown_id_is_404(sandbox: Sandbox) -> None:
    assert error(api(sandbox, "PUT", "/4242", json={"name": "x"})) == (404, 40400)


def test_delete_answers_count_then_the_campaign_is_gone(sandbox: Sandbox) -> None:
    created = create(sandbox)
    response = api(sandbox, "DELETE", f"/{created['campaign_id']}")
    assert response.status_code == 200 and response.json() == {"count": 1}
    assert error(api(sandbox, "GET", f"/{created['campaign_id']}")) == (404, 40400)
    assert error(api(sandbox, "DELETE", f"/{created['campaign_id']}")) == (404, 40400)


def test_unsupported_method_is_405(sandbox: Sandbox) -> None:
    assert error(api(sandbox, "PATCH", "/1", json={})) == (405, 40500)
    assert error(api(sandbox, "DELETE")) == (405, 40500)


# --------------------------------------------------------------------------- auth


@pytest.mark.parametrize(
    "auth_kw",
    [
        {"auth": None},
        {"auth": ("demo-user", "wrong")},
        {"auth": None, "headers": {"Authorization": "Bearer demo-key"}},
    ],
    ids=["missing", "wrong-key", "bearer"],
)
@pytest.mark.parametrize(("method", "suffix"), [("GET", ""), ("POST", ""), ("GET", "/1")])
def test_bad_credentials_are_401_code_30000(
    sandbox: Sandbox, auth_kw: dict[str, Any], method: str, suffix: str
) -> None:
    response = api(sandbox, method, suffix, json=body(), **auth_kw)
    assert error(response) == (401, 30000)
    assert response.json()["message"] == "Authentication failed"
    assert sandbox.email_campaigns() == []


def test_custom_credentials_are_the_ones_checked() -> None:
    with Sandbox(api_user="u1", api_key="k1") as custom:
        ok = requests.get(custom.url + PATH, auth=("u1", "k1"), timeout=10)
        demo = requests.get(custom.url + PATH, auth=AUTH, timeout=10)
    assert ok.status_code == 200
    assert demo.status_code == 401


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("name", ["", "   ", None, _DROP])
def test_empty_name_is_32112_with_http_401_as_documented(sandbox: Sandbox, name: Any) -> None:
    response = api(sandbox, "POST", json=body(name=name))
    assert error(response) == (401, 32112)
    assert response.json()["message"] == "name cannot be empty"


def test_put_empty_name_is_32112(sandbox: Sandbox) -> None:
    created = create(sandbox)
    assert error(api(sandbox, "PUT", f"/{created['campaign_id']}", json={"name": ""})) == (
        401,
        32112,
    )


_TEN_MB_PLUS = base64.b64encode(b"\0" * (10 * 1024 * 1024 + 1)).decode()


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"name": "x" * 65}, 32102),
        ({"campaign_type": 3}, 32101),
        ({"campaign_type": _DROP}, 32101),
        ({"to": [{"type": "tag", "value": ["a"]}, {"type": "tag", "value": ["b"]}]}, 32103),
        ({"to": []}, 32103),
        ({"to": {"type": "tag", "value": ["a"]}}, 32103),
        ({"to": [{"type": "group", "value": ["a"]}]}, 32103),
        ({"to": [{"type": "tag", "value": []}]}, 32103),
        ({"to": _DROP}, 32103),
        ({"send_time": "next tuesday"}, 32104),
        ({"time_zone": "abc"}, 32105),
        ({"time_zone": 15}, 32105),
        ({"attachments": [{"filename": "a", "content": "QQ=="}] * 11}, 32106),
        ({"attachments": [{"filename": "a", "content": "not base64!"}]}, 32106),
        ({"attachments": [{"content": "QQ=="}]}, 32106),
        ({"attachments": [{"filename": "big.bin", "content": _TEN_MB_PLUS}]}, 32106),
        ({"ab_test": AB_TEST}, 32107),
        ({"campaign_type": 1}, 32107),
        ({"campaign_type": 1, "ab_test": {**AB_TEST, "percent": 0}}, 32107),
        ({"campaign_type": 1, "ab_test": {**AB_TEST, "sender_ids": ["1", "2"]}}, 32107),
        (
            {"campaign_type": 1, "ab_test": {k: v for k, v in AB_TEST.items() if k != "subjects"}},
            32107,
        ),
        (
            {
                "campaign_type": 1,
                "ab_test": {
                    **AB_TEST,
                    "win_condition": {"time_unit": "hour", "after_time": 24, "compare": "x"},
                },
            },
            32107,
        ),
        (
            {
                "campaign_type": 1,
                "ab_test": {
                    **AB_TEST,
                    "win_condition": {
                        "time_unit": "day",
                        "after_time": 11,
                        "compare": "open_percent",
                    },
                },
            },
            32107,
        ),
        (
            {
                "campaign_type": 1,
                "subject": _DROP,
                "ab_test": {
                    "percent": 10,
                    "win_condition": AB_TEST["win_condition"],
                    "template_invoke_names": ["a", "b"],
                },
            },
            32107,
        ),
        (
            {
                "warm_up": [
                    {"domain": "g.com", "rate": 1, "upgrade_value": 1, "downgrade_value": 1}
                ]
                * 21
            },
            32108,
        ),
        (
            {"warm_up": [{"domain": "g.com", "rate": 1, "upgrade_value": 0, "downgrade_value": 1}]},
            32108,
        ),
        (
            {
                "warm_up": [
                    {"domain": "g.com", "rate": 1, "upgrade_value": "1.5", "downgrade_value": 1}
                ]
            },
            32108,
        ),
        (
            {
                "campaign_type": 1,
                "ab_test": AB_TEST,
                "warm_up": [
                    {"domain": "g.com", "rate": 1, "upgrade_value": 1, "downgrade_value": 1}
                ],
            },
            32108,
        ),
        ({"google_track": {"campaign_name": "x" * 65}}, 32109),
        ({"google_track": {"utm": "x"}}, 32109),
        ({"sender_id": "abc"}, 32111),
        ({"colour": "blue"}, 32113),
        ({"reply_to": "not-an-address"}, 32115),
        ({"template_invoke_name": 5}, 32116),
    ],
)
def test_each_rule_has_its_vendor_code(
    sandbox: Sandbox, overrides: dict[str, Any], code: int
) -> None:
    response = api(sandbox, "POST", json=body(**overrides))
    assert error(response) == (400, code), response.text
    assert response.json()["message"]
    assert sandbox.email_campaigns() == []


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b""])
def test_a_body_that_is_not_a_json_object_is_32100(sandbox: Sandbox, raw: bytes) -> None:
    response = api(sandbox, "POST", data=raw, headers={"Content-Type": "application/json"})
    assert error(response) == (400, 32100)


def test_ten_attachments_and_twenty_warm_ups_are_the_limits(sandbox: Sandbox) -> None:
    entry = {"domain": "g.com", "rate": 2, "upgrade_value": "1", "downgrade_value": 0.5}
    result = create(
        sandbox,
        attachments=[{"filename": f"f{i}", "content": "QQ=="} for i in range(10)],
        warm_up=[entry] * 20,
    )
    assert len(result["warm_up"]) == 20


# --------------------------------------------------------------------------- list & paging


def list_all(sandbox: Sandbox, limit: int = 100) -> tuple[list[dict[str, Any]], list[int]]:
    items: list[dict[str, Any]] = []
    totals: list[int] = []
    offset = 0
    for _ in range(1000):
        page = api(sandbox, "GET", params={"limit": limit, "offset": offset}).json()
        totals.append(page["total"])
        items += page["result"]
        offset += limit
        if offset >= page["total"]:
            break
    return items, totals


@pytest.mark.parametrize("count", [0, 1, 100, 101, 250])
def test_paging_returns_every_campaign_once_oldest_first(sandbox: Sandbox, count: int) -> None:
    ids = sandbox.seed_email_campaigns(count)
    items, totals = list_all(sandbox)
    assert [c["campaign_id"] for c in items] == ids
    assert set(totals) == {count}
    assert len(totals) == max(1, -(-count // 100))
    assert all(c["warm_up"] == [] for c in items)


def test_list_default_limit_is_10_and_offset_past_the_end_is_empty(sandbox: Sandbox) -> None:
    sandbox.seed_email_campaigns(15)
    first = api(sandbox, "GET").json()
    assert len(first["result"]) == 10 and first["total"] == 15
    beyond = api(sandbox, "GET", params={"offset": 40}).json()
    assert beyond == {"result": [], "total": 15}


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"offset": -1}, {"status": "x"}]
)
def test_list_rejects_bad_paging_with_32114(sandbox: Sandbox, params: dict[str, Any]) -> None:
    assert error(api(sandbox, "GET", params=params)) == (400, 32114)


def test_list_filters_by_type_status_and_name_substring(sandbox: Sandbox) -> None:
    spring = create(sandbox, name="Spring Sale")
    create(sandbox, name="Autumn sale", campaign_type=1, ab_test=AB_TEST, subject=_DROP)
    create(sandbox, name="Newsletter")
    sandbox.set_email_status(spring["campaign_id"], 2)

    def names(**params: Any) -> list[str]:
        page = api(sandbox, "GET", params=params).json()
        assert page["total"] == len(page["result"])
        return [c["name"] for c in page["result"]]

    assert names(name="sale") == ["Spring Sale", "Autumn sale"]
    assert names(campaign_type=1) == ["Autumn sale"]
    assert names(status=2) == ["Spring Sale"]
    assert names(status=0, name="Sale") == ["Autumn sale"]
    assert names(name="") == ["Spring Sale", "Autumn sale", "Newsletter"]


# --------------------------------------------------------------------------- status progression


def _local(delta_s: float, zone_hours: int) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=delta_s)
    return moment.astimezone(timezone(timedelta(hours=zone_hours))).strftime("%Y-%m-%d %H:%M:%S")


@pytest.mark.parametrize("zone", [8, -5])
def test_status_follows_send_time_in_the_campaign_zone(sandbox: Sandbox, zone: int) -> None:
    future = create(sandbox, name="future", send_time=_local(3600, zone), time_zone=zone)
    sending = create(sandbox, name="sending", send_time=_local(-20, zone), time_zone=zone)
    done = create(sandbox, name="done", send_time=_local(-120, zone), time_zone=zone)
    assert get(sandbox, future["campaign_id"])["status"] == 0
    assert get(sandbox, sending["campaign_id"])["status"] == 1
    finished = get(sandbox, done["campaign_id"])
    assert finished["status"] == 2
    assert VENDOR_TIME.match(finished["complete_time"])


def test_a_campaign_without_send_time_waits_until_told(sandbox: Sandbox) -> None:
    created = create(sandbox, send_time=_DROP)
    assert sandbox.tick(10 * 365 * 86400) == 0
    assert get(sandbox, created["campaign_id"])["status"] == 0


def test_tick_advances_the_clock_through_0_1_2(sandbox: Sandbox) -> None:
    created = create(sandbox, send_time=_local(30, 8))
    cid = created["campaign_id"]
    assert get(sandbox, cid)["status"] == 0
    assert sandbox.tick(31) == 1
    assert get(sandbox, cid)["status"] == 1
    assert error(api(sandbox, "PUT", f"/{cid}", json={"name": "x"})) == (400, 32110)
    sandbox.tick(sandbox.complete_after_s)
    assert get(sandbox, cid)["status"] == 2


def test_status_moves_lazily_on_the_next_request(sandbox: Sandbox) -> None:
    sandbox.complete_after_s = 0.05
    created = create(sandbox, send_time=_local(-1, 8))
    cid = created["campaign_id"]
    sandbox.set_email_status(cid, 1)
    assert sandbox.email_campaign(cid)["status"] == 1
    deadline = datetime.now(UTC) + timedelta(seconds=3)
    while datetime.now(UTC) < deadline and get(sandbox, cid)["status"] != 2:
        pass
    assert get(sandbox, cid)["status"] == 2


def test_moving_send_time_later_keeps_the_campaign_waiting(sandbox: Sandbox) -> None:
    created = create(sandbox, send_time=_local(30, 8))
    cid = created["campaign_id"]
    api(sandbox, "PUT", f"/{cid}", json={"send_time": _local(7200, 8)})
    sandbox.tick(60)
    assert get(sandbox, cid)["status"] == 0


# --------------------------------------------------------------------------- quirks & out-of-band


def test_bare_to_quirk_returns_the_object(sandbox: Sandbox) -> None:
    created = create(sandbox)
    sandbox.set_quirks("bare_to")
    assert get(sandbox, created["campaign_id"])["to"] == {"type": "tag", "value": ["lapsed-90d"]}
    listed = api(sandbox, "GET").json()["result"][0]
    assert listed["to"] == {"type": "tag", "value": ["lapsed-90d"]}


def test_string_sender_id_and_float_warm_up_quirks(sandbox: Sandbox) -> None:
    entry = {"domain": "g.com", "rate": 1, "upgrade_value": "0.95", "downgrade_value": "0.75"}
    created = create(sandbox, warm_up=[entry])
    sandbox.set_quirks("string_sender_id", "float_warm_up")
    fetched = get(sandbox, created["campaign_id"])
    assert fetched["sender_id"] == "53"
    assert fetched["warm_up"][0]["upgrade_value"] == 0.95


def test_trailing_comma_quirk_makes_get_invalid_json(sandbox: Sandbox) -> None:
    created = create(sandbox)
    sandbox.set_quirks("trailing_comma")
    response = api(sandbox, "GET", f"/{created['campaign_id']}")
    assert response.status_code == 200
    assert response.text.endswith(",}}")
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_unknown_quirk_is_refused(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="unknown quirk"):
        sandbox.set_quirks("sideways")


def test_edit_email_campaign_changes_live_fields_whatever_the_status(sandbox: Sandbox) -> None:
    created = create(sandbox)
    sandbox.set_email_status(created["campaign_id"], 2)
    sandbox.edit_email_campaign(created["campaign_id"], reply_to="ui@example.com", sender_id=7)
    fetched = get(sandbox, created["campaign_id"])
    assert fetched["reply_to"] == "ui@example.com"
    assert fetched["sender_id"] == 7
    assert fetched["status"] == 2
    with pytest.raises(ValueError, match="reply_to"):
        sandbox.edit_email_campaign(created["campaign_id"], reply_to="nope")
    with pytest.raises(KeyError):
        sandbox.edit_email_campaign(999, reply_to="ui@example.com")


def test_admin_http_edits_status_and_fields(sandbox: Sandbox) -> None:
    created = create(sandbox)
    url = f"{sandbox.url}/_admin/email/campaigns/{created['campaign_id']}"
    response = requests.post(url, json={"status": 1, "name": "Edited in UI"}, timeout=10)
    assert response.status_code == 200
    assert response.json()["result"]["status"] == 1
    fetched = get(sandbox, created["campaign_id"])
    assert (fetched["status"], fetched["name"]) == (1, "Edited in UI")
    bad = requests.post(url, json={"status": "sending"}, timeout=10)
    assert bad.status_code == 400
    missing = requests.post(f"{sandbox.url}/_admin/email/campaigns/777", json={}, timeout=10)
    assert missing.status_code == 404


def test_admin_tick_and_reset(sandbox: Sandbox) -> None:
    created = create(sandbox, send_time=_local(10, 8))
    tick = requests.post(f"{sandbox.url}/_admin/tick", json={"seconds": 11}, timeout=10)
    assert tick.json() == {"moved": 1}
    assert get(sandbox, created["campaign_id"])["status"] == 1
    assert requests.post(f"{sandbox.url}/_admin/reset", json={}, timeout=10).status_code == 200
    assert api(sandbox, "GET").json() == {"result": [], "total": 0}


def test_ids_restart_after_reset_and_never_repeat_within_a_run(sandbox: Sandbox) -> None:
    first = create(sandbox)["campaign_id"]
    api(sandbox, "DELETE", f"/{first}")
    second = create(sandbox)["campaign_id"]
    assert second > first


@pytest.mark.parametrize("sender", ["²", "١٢"])
def test_unicode_digits_are_not_a_sender_id(sandbox: Sandbox, sender: str) -> None:
    # str.isdigit() takes them, int() refuses them: the server must answer, not crash.
    assert error(api(sandbox, "POST", json=body(sender_id=sender)))[1] == 32111
    ab = body(
        campaign_type=1,
        sender_id=None,
        ab_test={
            "percent": 10,
            "win_condition": {"time_unit": "hour", "after_time": 1, "compare": "open_percent"},
            "sender_ids": ["1", sender],
        },
    )
    response = api(sandbox, "POST", json={k: v for k, v in ab.items() if v is not None})
    assert response.status_code in (400, 401)
    assert api(sandbox, "GET", "/²").status_code == 404
