"""The sandbox is a server: no request, admin call or data file may poison it.

Each test sends what a careless or hostile client could send (over real HTTP to a real
sandbox) and checks two things: the answer is a 4xx in the API's own error shape, and the
server still answers the next ordinary request (nothing poisonous was stored).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from reconciler.sandbox import Sandbox
from reconciler.sandbox.store import EPOCH_MAX, Store

AUTH = ("demo-user", "demo-key")
PATH = "/v1/marketing/campaigns"
JSON = {"Content-Type": "application/json"}


def body(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "campaign_type": 2,
        "name": "Hostile",
        "to": [{"type": "tag", "value": ["all"]}],
        "sender_id": 1,
    }
    base.update(overrides)
    return base


def api(sandbox: Sandbox, method: str, suffix: str = "", **kw: Any) -> requests.Response:
    kw.setdefault("auth", AUTH)
    return requests.request(method, sandbox.url + PATH + suffix, timeout=30, **kw)


def admin(sandbox: Sandbox, call: str, payload: Any = None, **kw: Any) -> requests.Response:
    if payload is not None:
        kw["json"] = payload
    return requests.post(f"{sandbox.url}/_admin/{call}", timeout=30, **kw)


def assert_vendor_error(response: requests.Response, status: int, code: int) -> str:
    """The email API's error shape, and the message (which must never be 'internal')."""
    assert response.status_code == status, response.text
    payload = response.json()
    assert set(payload) == {"code", "message"}, payload
    assert payload["code"] == code, payload
    assert "internal" not in payload["message"]
    return str(payload["message"])


def assert_still_serving(sandbox: Sandbox) -> None:
    """A list, a create and a second list all answer 200: the store holds nothing poisonous."""
    assert api(sandbox, "GET").status_code == 200
    assert api(sandbox, "POST", json=body(name="after")).status_code == 200
    listed = api(sandbox, "GET", params={"limit": 100})
    assert listed.status_code == 200, listed.text


# --------------------------------------------------------------------------- time overflow


@pytest.mark.parametrize(
    "fields",
    [
        {"send_time": "9999-12-31 23:59:59", "time_zone": -12},
        {"run_time": "9999-12-31 20:00:00", "time_zone": 0},
        {"send_time": "9999-12-31T23:59:59-1200", "time_zone": 14},
        {"send_time": "0001-01-01 00:00:00", "time_zone": 14},
        {"send_time": "0001-01-01T00:00:00+1400", "time_zone": -12},
    ],
    ids=["far-future-minus-12", "run-time-utc", "offset-form", "year-1-plus-14", "year-1-offset"],
)
def test_send_time_outside_the_showable_range_is_400_and_lists_keep_working(
    sandbox: Sandbox, fields: dict[str, Any]
) -> None:
    message = assert_vendor_error(api(sandbox, "POST", json=body(**fields)), 400, 32104)
    assert "send_time" in message or "run_time" in message
    assert sandbox.email_campaigns() == []
    assert_still_serving(sandbox)


def test_changing_time_zone_cannot_push_a_stored_send_time_past_year_9999(
    sandbox: Sandbox,
) -> None:
    created = api(sandbox, "POST", json=body(send_time="9999-12-31 12:00:00", time_zone=8))
    assert created.status_code == 200, created.text
    campaign_id = created.json()["result"]["campaign_id"]
    moved = api(sandbox, "PUT", f"/{campaign_id}", json={"time_zone": -12})
    assert_vendor_error(moved, 400, 32104)
    assert sandbox.email_campaign(campaign_id)["time_zone"] == 8
    with pytest.raises(ValueError, match="send_time"):
        sandbox.edit_email_campaign(campaign_id, time_zone=-12)
    assert_still_serving(sandbox)


def test_ab_test_send_times_outside_the_range_are_400(sandbox: Sandbox) -> None:
    ab_test = {
        "percent": 20,
        "win_condition": {"time_unit": "hour", "after_time": 1, "compare": "open_percent"},
        "send_times": ["2030-01-01 10:00:00", "9999-12-31T23:59:59-1400"],
    }
    response = api(sandbox, "POST", json=body(campaign_type=1, ab_test=ab_test, time_zone=14))
    assert_vendor_error(response, 400, 32104)
    assert_still_serving(sandbox)


def test_admin_tick_past_year_9999_is_refused_and_the_clock_stays(sandbox: Sandbox) -> None:
    before = sandbox.store.clock_offset_s
    refused = admin(sandbox, "tick", {"seconds": 1e12})
    assert refused.status_code == 400, refused.text
    assert "9999" in refused.json()["error"]["message"]
    assert sandbox.store.clock_offset_s == before
    with pytest.raises(ValueError, match="9999"):
        sandbox.tick(1e12)
    assert_still_serving(sandbox)


def test_a_campaign_sending_at_the_end_of_time_stays_listable(sandbox: Sandbox) -> None:
    created = api(sandbox, "POST", json=body()).json()["result"]
    # Just short of the end: allowed. The campaign starts sending; its completion would be
    # 60 s past the last representable second.
    near_end = EPOCH_MAX - sandbox.store.now() - 30
    assert admin(sandbox, "tick", {"seconds": near_end}).status_code == 200
    edited = admin(sandbox, f"email/campaigns/{created['campaign_id']}", {"status": 1})
    assert edited.status_code == 200, edited.text
    assert admin(sandbox, "tick", {"seconds": 120}).status_code == 400
    assert_still_serving(sandbox)


def test_a_completion_due_after_the_end_of_time_happens_at_the_end() -> None:
    store = Store(complete_after_s=60)
    record = {"campaign_id": 1, "status": 1, "sending_since": EPOCH_MAX - 10, "send_time": None}
    store.add_email(record)
    assert store.advance(now=EPOCH_MAX) == 1
    assert (record["status"], record["complete_time"]) == (2, EPOCH_MAX)


def test_the_clock_never_reads_past_the_end_of_time() -> None:
    store = Store(clock_offset_s=EPOCH_MAX)
    assert store.now() == EPOCH_MAX


def _poisoned_data(tmp_path: Path) -> Path:
    """A data file as an unfixed sandbox saved it: one campaign whose run_time overflows."""
    with Sandbox() as first:
        first.seed_email_campaigns(1)
    data = tmp_path / "poisoned.json"
    with Sandbox(data_file=data) as writer:
        writer.seed_email_campaigns(2)
    saved = json.loads(data.read_text(encoding="utf-8"))
    saved["email_campaigns"][1].update(send_time="9999-12-31 23:59:59", time_zone=-12)
    data.write_text(json.dumps(saved), encoding="utf-8")
    return data


def test_a_data_file_holding_an_overflowing_record_refuses_to_start(tmp_path: Path) -> None:
    data = _poisoned_data(tmp_path)
    before = data.read_text(encoding="utf-8")
    sandbox = Sandbox(data_file=data)
    try:
        with pytest.raises(ValueError) as caught:
            sandbox.start()
    finally:
        sandbox.stop()
    message = str(caught.value)
    assert "poisoned.json" in message and "email campaign 2" in message
    assert "send_time" in message
    assert data.read_text(encoding="utf-8") == before


@pytest.mark.parametrize("offset", [1e300, float("nan")], ids=["huge", "nan"])
def test_a_data_file_with_a_clock_past_the_end_refuses_to_start(
    tmp_path: Path, offset: float
) -> None:
    data = tmp_path / "clock.json"
    data.write_text(json.dumps({"format": 1, "clock_offset_s": offset}), encoding="utf-8")
    with pytest.raises(ValueError, match="clock_offset_s"):
        Sandbox(data_file=data).start()


def test_campaignctl_sandbox_names_the_poisoned_record_and_exits(tmp_path: Path) -> None:
    data = _poisoned_data(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "sandbox", "--port", "0", "--data", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "email campaign 2" in done.stderr and "send_time" in done.stderr
    assert "Traceback" not in done.stderr


# --------------------------------------------------------------------------- unicode


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "\\ud800", "campaign_type": 2, "to": [{"type": "tag", "value": ["a"]}]}',
        b'{"name": "x", "campaign_type": 2, "to": [{"type": "tag", "value": ["\\udfff"]}]}',
        b'{"name": "x", "campaign_type": 2, "to": [{"type": "tag", "value": ["a"]}],'
        b' "google_track": {"campaign_name": "a\\udbffb"}}',
        b'{"\\ud800": 1}',
    ],
    ids=["name", "nested-list", "nested-object", "key"],
)
def test_a_lone_surrogate_anywhere_is_400_and_later_writes_work(tmp_path: Path, raw: bytes) -> None:
    with Sandbox(data_file=tmp_path / "data.json") as sandbox:
        response = api(sandbox, "POST", data=raw, headers=JSON)
        message = assert_vendor_error(response, 400, 32100)
        assert "Unicode" in message
        assert sandbox.email_campaigns() == []
        assert_still_serving(sandbox)


def test_a_lone_surrogate_in_an_admin_edit_is_400(sandbox: Sandbox) -> None:
    campaign_id = sandbox.seed_email_campaigns(1)[0]
    raw = b'{"name": "\\ud800"}'
    response = admin(sandbox, f"email/campaigns/{campaign_id}", data=raw, headers=JSON)
    assert response.status_code == 400
    assert sandbox.email_campaign(campaign_id)["name"] == "seed-00001"
    assert_still_serving(sandbox)


def test_a_write_that_cannot_be_saved_leaves_memory_and_file_unchanged(tmp_path: Path) -> None:
    data = tmp_path / "data.json"
    with Sandbox(data_file=data) as sandbox:
        campaign_id = sandbox.seed_email_campaigns(1)[0]
        saved = data.read_text(encoding="utf-8")
        with pytest.raises(ValueError, match="Unicode"):
            sandbox.edit_email_campaign(campaign_id, name="bad \ud800")
        with pytest.raises(ValueError, match="Unicode"):
            sandbox.seed_email_campaigns(2, name_prefix="\udc00")
        assert [c["name"] for c in sandbox.email_campaigns()] == ["seed-00001"]
        assert data.read_text(encoding="utf-8") == saved
        assert_still_serving(sandbox)


# --------------------------------------------------------------------------- sizes


def test_admin_seed_over_the_cap_is_400_and_inserts_nothing(sandbox: Sandbox) -> None:
    response = admin(sandbox, "email/seed", {"count": 100_001})
    assert response.status_code == 400, response.text
    assert "100000" in response.json()["error"]["message"].replace(",", "")
    assert sandbox.stats()["objects"]["email_campaigns"] == 0
    with pytest.raises(ValueError, match="count"):
        sandbox.seed_email_campaigns(100_001)
    with pytest.raises(ValueError, match="touchpoints"):
        sandbox.seed_touchpoint_campaigns(1, touchpoints=100_001)


def test_admin_seed_refuses_a_prefix_that_makes_names_too_long(sandbox: Sandbox) -> None:
    response = admin(sandbox, "email/seed", {"count": 1, "name_prefix": "p" * 60})
    assert response.status_code == 400, response.text
    assert sandbox.stats()["objects"]["email_campaigns"] == 0


def test_deeply_nested_json_is_400(sandbox: Sandbox) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    assert_vendor_error(api(sandbox, "POST", data=deep, headers=JSON), 400, 32100)
    nested = b'{"name": ' + b"[" * 200 + b"]" * 200 + b"}"
    assert_vendor_error(api(sandbox, "POST", data=nested, headers=JSON), 400, 32100)
    assert admin(sandbox, "tick", data=deep, headers=JSON).status_code == 400
    assert_still_serving(sandbox)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("raw_id", ["999999999999999999999999", "9" * 5000])
def test_huge_ids_are_404(sandbox: Sandbox, method: str, raw_id: str) -> None:
    response = api(sandbox, method, f"/{raw_id}", json={"name": "x"})
    assert_vendor_error(response, 404, 40400)
    assert admin(sandbox, f"email/campaigns/{raw_id}", {}).status_code == 404


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "x", "campaign_type": 2, "to": [{"type": "tag", "value": ["a"]}],'
        b' "sender_id": 1e400}',
        b'{"name": "x", "campaign_type": NaN, "to": [{"type": "tag", "value": ["a"]}]}',
        b'{"name": "x", "campaign_type": 2, "to": [{"type": "tag", "value": ["a"]}],'
        b' "sender_id": -Infinity}',
        b'{"name": "x", "campaign_type": 2, "to": [{"type": "tag", "value": ["a"]}],'
        b' "sender_id": ' + b"9" * 5000 + b"}",
        b'{"name": "x", "campaign_type": 2, "to": [{"type": "tag", "value": ["a"]}],'
        b' "sender_id": 999999999999999999999}',
    ],
    ids=["1e400", "NaN", "-Infinity", "5000-digit-int", "over-64-bits"],
)
def test_numbers_json_cannot_hold_are_400(sandbox: Sandbox, raw: bytes) -> None:
    message = assert_vendor_error(api(sandbox, "POST", data=raw, headers=JSON), 400, 32100)
    assert "number" in message
    assert_still_serving(sandbox)


def test_a_digit_string_too_long_for_int_is_400(sandbox: Sandbox) -> None:
    response = api(sandbox, "POST", json=body(sender_id="9" * 5000))
    assert_vendor_error(response, 400, 32111)
    assert_still_serving(sandbox)


@pytest.mark.parametrize(
    ("call", "raw"),
    [
        ("tick", b'{"seconds": 1e400}'),
        ("tick", b'{"seconds": NaN}'),
        ("latency", b'{"ms": 1e300}'),
        ("latency", b'{"ms": 0, "jitter_ms": 1e300}'),
        ("email/seed", b'{"count": 1e400}'),
        ("faults", b'{"fault": "429", "count": 1.5}'),
        ("faults", b'{"fault": "429", "retry_after": 1e18}'),
    ],
)
def test_admin_numbers_that_would_poison_the_server_are_400(
    sandbox: Sandbox, call: str, raw: bytes
) -> None:
    response = admin(sandbox, call, data=raw, headers=JSON)
    assert response.status_code == 400, response.text
    assert sandbox.faults.pending() == []
    assert_still_serving(sandbox)


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "1e400"},
        {"limit": "\u0661"},
        {"offset": "-0"},
        {"offset": "1_0"},
        {"offset": " 5"},
        {"offset": "9" * 5000},
        {"status": "\u0661"},
        {"campaign_type": "9" * 5000},
    ],
    ids=["limit-1e400", "limit-arabic-1", "offset-minus-0", "offset-underscore",
         "offset-space", "offset-5000-digits", "status-arabic-1", "type-5000-digits"],
)  # fmt: skip
def test_list_query_numbers_must_be_plain_ascii_integers(
    sandbox: Sandbox, query: dict[str, str]
) -> None:
    assert_vendor_error(api(sandbox, "GET", params=query), 400, 32114)


def test_status_filter_still_takes_minus_one(sandbox: Sandbox) -> None:
    campaign_id = sandbox.seed_email_campaigns(1)[0]
    sandbox.set_email_status(campaign_id, -1)
    listed = api(sandbox, "GET", params={"status": "-1"})
    assert listed.status_code == 200
    assert listed.json()["total"] == 1


# --------------------------------------------------------------------------- raw HTTP


def _raw_exchange(sandbox: Sandbox, request: bytes) -> tuple[int, bytes]:
    """Send bytes, half-close, read everything the server answers; (status, body)."""
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=30) as conn:
        conn.sendall(request)
        conn.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    answer = b"".join(chunks)
    head, _, payload = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), payload


def _post(path: str, payload: bytes, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Authorization: Basic "
             "ZGVtby11c2VyOmRlbW8ta2V5", "Content-Type: application/json", *headers]  # fmt: skip
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


def test_a_body_shorter_than_its_content_length_is_400_and_not_applied(
    sandbox: Sandbox,
) -> None:
    payload = json.dumps(body()).encode()
    request = _post(PATH, payload, f"Content-Length: {len(payload) + 50}")
    status, answer = _raw_exchange(sandbox, request)
    assert status == 400
    assert json.loads(answer)["code"] == 32100
    assert sandbox.email_campaigns() == []
    assert_still_serving(sandbox)


@pytest.mark.parametrize("length", ["abc", "1_0", "\u0661", "-1", "5, 6"])
def test_a_malformed_content_length_is_400_in_the_vendor_shape(
    sandbox: Sandbox, length: str
) -> None:
    request = _post(PATH, b"{}", f"Content-Length: {length}")
    status, answer = _raw_exchange(sandbox, request)
    assert status == 400
    assert json.loads(answer)["code"] == 32100


def test_a_chunked_body_is_refused_not_read_as_the_next_request(sandbox: Sandbox) -> None:
    payload = json.dumps(body()).encode()
    chunked = f"{len(payload):x}\r\n".encode() + payload + b"\r\n0\r\n\r\n"
    status, answer = _raw_exchange(sandbox, _post(PATH, chunked, "Transfer-Encoding: chunked"))
    assert status == 411
    assert json.loads(answer)["code"] == 41100
    assert sandbox.email_campaigns() == []


def test_an_oversized_body_is_413_in_the_vendor_shape(sandbox: Sandbox) -> None:
    status, answer = _raw_exchange(sandbox, _post(PATH, b"", "Content-Length: 99999999999"))
    assert status == 413
    assert json.loads(answer)["code"] == 41300


# --------------------------------------------------------------------------- admin CSRF


@pytest.mark.parametrize(
    "headers",
    [{"Content-Type": "text/plain"}, {}, {"Content-Type": "application/x-www-form-urlencoded"}],
    ids=["text-plain", "none", "form"],
)
def test_admin_posts_need_a_json_content_type(sandbox: Sandbox, headers: dict[str, str]) -> None:
    response = admin(sandbox, "email/seed", data=b'{"count": 3}', headers=headers)
    assert response.status_code == 415, response.text
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert sandbox.stats()["objects"]["email_campaigns"] == 0
    sandbox.seed_email_campaigns(1)
    assert admin(sandbox, "reset", data=b"", headers=headers).status_code == 415
    assert sandbox.stats()["objects"]["email_campaigns"] == 1


def test_admin_posts_with_json_content_type_work(sandbox: Sandbox) -> None:
    charset = {"Content-Type": "application/json; charset=utf-8"}
    seeded = admin(sandbox, "email/seed", data=b'{"count": 2}', headers=charset)
    assert seeded.status_code == 200, seeded.text
    assert admin(sandbox, "reset", {}).status_code == 200
    assert sandbox.stats()["objects"]["email_campaigns"] == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "evil.example"},
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Host": "[::1"},
        {"Origin": "http://[::1"},
    ],
    ids=["dns-rebinding-host", "foreign-origin", "null-origin", "bad-ipv6-host", "bad-origin"],
)
def test_admin_refuses_requests_from_web_pages(sandbox: Sandbox, headers: dict[str, str]) -> None:
    response = admin(sandbox, "email/seed", {"count": 1}, headers=headers)
    assert response.status_code == 403, response.text
    stats = requests.get(f"{sandbox.url}/_admin/stats", headers=headers, timeout=30)
    assert stats.status_code == 403
    assert sandbox.stats()["objects"]["email_campaigns"] == 0
    local = {"Origin": f"http://localhost:{sandbox.port}"}
    assert admin(sandbox, "email/seed", {"count": 1}, headers=local).status_code == 200


def test_a_send_time_in_year_1_is_stored_and_shown_with_four_digit_years(
    sandbox: Sandbox,
) -> None:
    created = api(sandbox, "POST", json=body(send_time="0001-01-01 12:00:00", time_zone=0))
    assert created.status_code == 200, created.text
    assert created.json()["result"]["run_time"] == "0001-01-01T20:00:00+0800"
    campaign_id = created.json()["result"]["campaign_id"]
    assert sandbox.email_campaign(campaign_id)["send_time"] == "0001-01-01 12:00:00"
    assert_still_serving(sandbox)


@pytest.mark.parametrize(
    ("call_suffix", "payload"),
    [
        ("quirks", {"quirks": [["bare_to"]]}),
        ("touchpoint/campaigns/{id}", {"campaign_id": "cmp_other"}),
        ("touchpoint/campaigns/{id}", {"self": "x"}),
        ("touchpoint/campaigns/{id}", {"name": "\ud800"}),
    ],
    ids=["quirk-not-a-string", "campaign-id-field", "self-field", "surrogate-name"],
)
def test_admin_bodies_of_the_wrong_shape_are_400(
    sandbox: Sandbox, call_suffix: str, payload: dict[str, Any]
) -> None:
    campaign_id = sandbox.seed_touchpoint_campaigns(1)[0]
    response = admin(sandbox, call_suffix.format(id=campaign_id), payload)
    assert response.status_code == 400, response.text
    assert sandbox.touchpoint_campaigns()[0]["name"] == "seed-journey-00001"


@pytest.mark.parametrize("value", ["nan", "inf", "1e300"])
@pytest.mark.parametrize("option", ["--latency-ms", "--jitter-ms"])
def test_campaignctl_sandbox_refuses_a_latency_that_would_hang_every_request(
    option: str, value: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "sandbox", "--port", "0", option, value],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert option in done.stderr
    assert "internal" not in done.stderr and "Traceback" not in done.stderr


def test_a_data_file_with_an_id_counter_past_64_bits_refuses_to_start(tmp_path: Path) -> None:
    data = tmp_path / "ids.json"
    data.write_text(json.dumps({"format": 1, "next_email_id": 2**70}), encoding="utf-8")
    with pytest.raises(ValueError, match="next_email_id"):
        Sandbox(data_file=data).start()
