"""Issue 12, items 9 and 10: answers are bounded, remote identities untrusted.

Every test talks to a real loopback server (tests/hostile) whose answers it scripts: a gzip
bomb, a drip-fed body, a `total` of billions, JSON nested 100,000 deep, ids that are paths,
fields of the wrong type, a create answered with someone else's campaign.
"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from hostile import Answer, HostileServer, Request, gzip_bomb, hostile
from pydantic import SecretStr

from reconciler.errors import InvalidResponse, OutcomeUnknown, ServerError, StateError
from reconciler.providers import EmailProvider, TouchpointProvider
from reconciler.providers.http import MAX_BODY_BYTES, ApiClient, RetryConfig, basic_auth

__all__ = ["hostile"]  # the fixture, imported for pytest

USER = "ops-user"
KEY = "hostile-test-key"


def email(server: HostileServer, *, timeout: float = 10.0) -> EmailProvider:
    return EmailProvider(server.url, USER, SecretStr(KEY), timeout=timeout, retries=0)


def touchpoint(server: HostileServer, *, timeout: float = 10.0) -> TouchpointProvider:
    return TouchpointProvider(server.url, SecretStr(KEY), timeout=timeout, retries=0)


def client(server: HostileServer, **kw: Any) -> ApiClient:
    return ApiClient(server.url, basic_auth(USER, SecretStr(KEY)), retry=RetryConfig(0), **kw)


def email_row(campaign_id: Any = 7, name: Any = "spring", **extra: Any) -> dict[str, Any]:
    return {
        "campaign_id": campaign_id,
        "name": name,
        "campaign_type": 2,
        "status": 0,
        "to": [{"type": "tag", "value": ["lapsed"]}],
        **extra,
    }


def tp_row(remote_id: Any = "a" * 24, name: Any = "journey", **extra: Any) -> dict[str, Any]:
    return {"_id": remote_id, "name": name, "status": "draft", "channel_type": "whatsapp", **extra}


def as_json(body: Any, status: int = 200) -> Answer:
    return Answer(status, json.dumps(body).encode())


# --------------------------------------------------------------------------- item 9


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_gzip_bomb_is_refused_at_the_size_cap(hostile: HostileServer, chunked: bool) -> None:
    bomb = gzip_bomb(MAX_BODY_BYTES * 4)  # 256 MiB of zeros in about 256 KB
    assert len(bomb) < MAX_BODY_BYTES // 64
    hostile.answer_always(Answer(200, bomb, raw_gzip=True, chunked=chunked))
    with pytest.raises(InvalidResponse, match="larger than 64 MiB"):
        client(hostile).request("GET", "/v1/marketing/campaigns")


def test_a_plain_answer_past_the_cap_is_refused(hostile: HostileServer) -> None:
    hostile.answer_always(Answer(200, b" " * (3 * 1024 * 1024), chunked=True))
    with pytest.raises(InvalidResponse, match="larger than 2 MiB"):
        client(hostile, max_body=2 * 1024 * 1024).request("GET", "/v1/marketing/campaigns")


def test_an_answer_under_the_cap_is_read_whole_gzip_or_chunked(hostile: HostileServer) -> None:
    rows = [email_row(i, f"c{i}") for i in range(1, 101)]
    body = json.dumps({"result": rows, "total": 100}).encode()
    hostile.answer_always(Answer(200, body, gzip=True, chunked=True, chunk_size=1000))
    assert [c.name for c in email(hostile).list_campaigns()] == [f"c{i}" for i in range(1, 101)]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_drip_fed_answer_fails_at_the_per_request_deadline(
    hostile: HostileServer, method: str
) -> None:
    # One byte every 0.2 s never trips the 0.5 s read timeout; the body deadline (4 read
    # timeouts) does, long before the 100 bytes (20 s) are through.
    body = json.dumps({"result": [], "total": 0, "pad": "x" * 200}).encode()
    hostile.answer_always(Answer(200, body, drip_interval=0.2, drip_count=100))
    expected = ServerError if method == "GET" else OutcomeUnknown
    with pytest.raises(expected, match="still arriving after 4 read timeouts"):
        client(hostile, timeout=0.5).request(method, "/v1/marketing/campaigns")
    assert len(hostile.requests) == 1


def _peak_allocation(call: Any) -> tuple[int, BaseException | None]:
    """Run `call`; return the peak of memory it allocated and the error it raised."""
    error: BaseException | None = None
    tracemalloc.start()
    try:
        call()
    except Exception as exc:
        error = exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, error


@pytest.mark.parametrize("total", [50_000_000, 5_000_000_000])
def test_an_email_total_of_billions_is_refused_before_any_allocation(
    hostile: HostileServer, total: int
) -> None:
    hostile.answer_always(as_json({"result": [email_row()], "total": total}))
    peak, error = _peak_allocation(email(hostile).list_campaigns)
    assert isinstance(error, InvalidResponse)
    assert "can be listed" in str(error)
    assert peak < 4 * 1024 * 1024
    assert len(hostile.requests) == 1


def test_an_imbrace_total_of_millions_with_one_item_pages_is_refused_before_allocation(
    hostile: HostileServer,
) -> None:
    hostile.answer_always(as_json({"data": [tp_row()], "total": 500_000}))
    peak, error = _peak_allocation(touchpoint(hostile).list_campaigns)
    assert isinstance(error, InvalidResponse)
    assert "pages" in str(error)
    assert peak < 4 * 1024 * 1024
    assert len(hostile.requests) == 1


def test_imbrace_total_pages_of_billions_is_refused(hostile: HostileServer) -> None:
    page = {"data": [tp_row()], "pagination": {"has_next": True, "total_pages": 5_000_000_000}}
    hostile.answer_always(as_json(page))
    with pytest.raises(InvalidResponse, match="pages"):
        touchpoint(hostile).list_campaigns()
    assert len(hostile.requests) == 1


@pytest.mark.parametrize("status", [200, 400])
def test_json_nested_100k_deep_is_an_invalid_response_not_a_recursion_error(
    hostile: HostileServer, status: int
) -> None:
    hostile.answer_always(Answer(status, b"[" * 100_000 + b"]" * 100_000))
    with pytest.raises(InvalidResponse if status == 200 else Exception) as caught:
        email(hostile).list_campaigns()
    assert not isinstance(caught.value, RecursionError)
    if status == 200:
        assert "nested too deeply" in str(caught.value)


# --------------------------------------------------------------------------- item 10

HOSTILE_IDS = ["../../_admin/reset?x=", "7/../8", "7?x=1", "a b", "", "x" * 65, "ab%2F.."]


@pytest.mark.parametrize("campaign_id", ["../../_admin/reset?x=", "7", 7.5, -1, 0, True, [7]])
def test_an_email_id_that_is_not_a_positive_integer_is_refused(
    hostile: HostileServer, campaign_id: Any
) -> None:
    hostile.answer_always(as_json({"result": [email_row(campaign_id)], "total": 1}))
    with pytest.raises(InvalidResponse, match="campaign_id must be a positive integer"):
        email(hostile).list_campaigns()


@pytest.mark.parametrize("remote_id", [*HOSTILE_IDS, "0", "-3"])
def test_an_email_state_id_that_is_not_an_id_is_never_put_in_a_url(
    hostile: HostileServer, remote_id: str
) -> None:
    provider = email(hostile)
    for call in (
        lambda: provider.get_campaign(remote_id),
        lambda: provider.update_campaign(remote_id, {"subject": "x"}),
        lambda: provider.delete_campaign(remote_id),
    ):
        with pytest.raises(StateError, match="refusing to send the email campaign id"):
            call()
    assert hostile.requests == []


@pytest.mark.parametrize("remote_id", HOSTILE_IDS)
def test_an_imbrace_id_that_is_not_opaque_is_never_put_in_a_url(
    hostile: HostileServer, remote_id: str
) -> None:
    provider = touchpoint(hostile)
    for call in (
        lambda: provider.get_campaign(remote_id),
        lambda: provider.delete_campaign(remote_id),
        lambda: provider.update_touchpoint(remote_id, {"name": "x"}),
        lambda: provider.delete_touchpoint(remote_id),
        lambda: provider.validate_touchpoint(remote_id),
        lambda: provider.create_touchpoint(remote_id, {"name": "x", "type": "message"}),
    ):
        with pytest.raises(StateError, match="refusing to send the iMBrace id"):
            call()
    assert hostile.requests == []


@pytest.mark.parametrize("remote_id", ["../../_admin/reset?x=", "a/b", 42, "x" * 65])
def test_an_imbrace_answer_with_a_path_for_an_id_is_refused(
    hostile: HostileServer, remote_id: Any
) -> None:
    hostile.answer_always(as_json(tp_row(remote_id, name="journey")))
    provider = touchpoint(hostile)
    with pytest.raises(InvalidResponse, match="_id must be 1 to 64"):
        provider.create_campaign("journey", "whatsapp")
    hostile.answer_always(as_json({"data": [tp_row(remote_id)]}))
    with pytest.raises(InvalidResponse, match="_id must be 1 to 64"):
        provider.list_campaigns()
    assert not any("_admin" in r.path for r in hostile.requests)


EMAIL_BAD_FIELDS = [
    ("name", 123),
    ("name", {"a": 1}),
    ("status", {}),
    ("status", "running"),
    ("campaign_type", "x"),
    ("campaign_type", []),
    ("to", 5),
    ("to", [{"type": [], "value": ["a"]}]),
    ("to", [{"type": "tag", "value": [{}]}]),
    ("reply_to", 5),
    ("reply_to", ["a"]),
    ("sender_id", {"a": 1}),
    ("template_invoke_name", ["x"]),
    ("send_time", 5),
    ("run_time", {"x": 1}),
    ("time_zone", ["x"]),
    ("google_track", [1]),
    ("google_track", {"campaign_name": {"a": 1}}),
    ("warm_up", {"a": 1}),
    ("warm_up", [{"rate": {}}]),
    ("ab_test", "x"),
    ("ab_test", {"percent": "x"}),
    ("ab_test", {"subjects": [{}]}),
    ("ab_test", {"win_condition": "x"}),
]


@pytest.mark.parametrize(("field", "value"), EMAIL_BAD_FIELDS)
def test_an_email_field_of_the_wrong_type_is_an_invalid_response_naming_campaign_and_field(
    hostile: HostileServer, field: str, value: Any
) -> None:
    hostile.answer_always(as_json({"result": [email_row(7, **{field: value})], "total": 1}))
    with pytest.raises(InvalidResponse) as caught:
        email(hostile).list_campaigns()
    message = str(caught.value)
    assert "campaign 7" in message
    shown = {"run_time": "send_time"}.get(field, field)
    assert shown in message


IMBRACE_BAD_FIELDS = [
    ("campaign", "name", 123),
    ("campaign", "status", {"a": 1}),
    ("campaign", "channel_type", ["sms"]),
    ("touchpoint", "type", ["message"]),
    ("touchpoint", "name", 5),
]


@pytest.mark.parametrize(("what", "field", "value"), IMBRACE_BAD_FIELDS)
def test_an_imbrace_field_of_the_wrong_type_is_an_invalid_response_naming_it(
    hostile: HostileServer, what: str, field: str, value: Any
) -> None:
    campaign = tp_row("c" * 24, **({field: value} if what == "campaign" else {}))
    tp = {"_id": "t" * 24, "campaign_id": "c" * 24, "name": "hello", "type": "message"}
    if what == "touchpoint":
        tp[field] = value

    def script(request: Request) -> Answer:
        rows = [tp] if "touchpoints" in request.path else [campaign]
        return as_json({"data": rows})

    hostile.script = script
    with pytest.raises(InvalidResponse) as caught:
        touchpoint(hostile).list_campaigns()
    message = str(caught.value)
    assert f"{what} {'c' * 24 if what == 'campaign' else 't' * 24}" in message
    assert f"field {field}" in message


def test_an_email_create_answered_with_another_name_is_refused(hostile: HostileServer) -> None:
    hostile.answer_always(as_json({"result": email_row(9, "someone-else")}))
    desired = {
        "kind": "EmailCampaign",
        "name": "spring",
        "campaign_type": "normal",
        "to": {"type": "tag", "value": ["lapsed"]},
    }
    with pytest.raises(InvalidResponse, match="named 'someone-else'; nothing recorded"):
        email(hostile).create_campaign(desired)


def test_an_imbrace_create_answered_with_another_name_is_refused(hostile: HostileServer) -> None:
    hostile.answer_always(as_json(tp_row("c" * 24, name="someone-else")))
    with pytest.raises(InvalidResponse, match="named 'someone-else'; nothing recorded"):
        touchpoint(hostile).create_campaign("journey", "whatsapp")
    hostile.answer_always(as_json({"_id": "t" * 24, "name": "other", "type": "message"}))
    with pytest.raises(InvalidResponse, match="named 'other'; nothing recorded"):
        touchpoint(hostile).create_touchpoint("c" * 24, {"name": "hello", "type": "message"})


EMAIL_YAML = (
    "kind: EmailCampaign\nname: {name}\ncampaign_type: normal\n"
    "to: {{type: tag, value: [lapsed]}}\nsender_id: 53\ntemplate_invoke_name: tpl\n"
    "subject: Hello\n"
)


def test_a_create_answered_with_an_id_the_state_holds_is_never_recorded(
    hostile: HostileServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CAMPAIGNCTL_API_URL", hostile.url)
    monkeypatch.setenv("ENGAGELAB_API_USER", USER)
    monkeypatch.setenv("ENGAGELAB_API_KEY", KEY)
    config = tmp_path / "campaigns.d"
    config.mkdir()
    (config / "spring.yaml").write_text(EMAIL_YAML.format(name="spring"))
    live: list[dict[str, Any]] = []

    def script(request: Request) -> Answer:
        if request.method == "GET":
            return as_json({"result": live, "total": len(live)})
        if request.method == "POST":
            name = json.loads(request.body)["name"]
            # Every create is answered with campaign 7, whatever it was asked to create.
            row = email_row(7, name)
            live[:] = [row]
            return as_json({"result": row})
        return as_json({"count": 1})

    hostile.script = script
    code, out, err = run_cli(capsys, "apply", "--auto-approve")
    assert code == 0, out + err
    state = tmp_path / "state" / "default.json"
    assert '"spring"' in state.read_text()

    (config / "autumn.yaml").write_text(EMAIL_YAML.format(name="autumn"))
    code, out, err = run_cli(capsys, "apply", "--auto-approve")
    assert code != 0
    assert "already manages; nothing recorded" in out + err
    assert '"autumn"' not in state.read_text()
