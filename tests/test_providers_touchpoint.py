"""TouchpointProvider against the running sandbox: SPEC "Touchpoint campaigns: the iMBrace
channel-service API", every answer shape the provider must read, and its error reading."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import parse_qs

import pytest
from pydantic import SecretStr

from reconciler.errors import (
    ApiError,
    AuthError,
    ConflictError,
    ExecutedError,
    NotFound,
    OutcomeUnknown,
    RateLimited,
    ServerError,
    ValidationFailed,
)
from reconciler.live import LiveTouchpoint
from reconciler.providers import TouchpointProvider
from reconciler.providers.http import interpret_answer
from reconciler.providers.imbrace.client import (
    CAMPAIGNS_PATH,
    ERROR_CODES,
    SERVICE_PREFIX,
    TOUCHPOINTS_PATH,
    VALIDATE_PATH,
    encode_touchpoint,
)

if TYPE_CHECKING:
    from reconciler.sandbox import Sandbox

RETRIES = 3
HEX_ID = re.compile(r"[0-9a-f]{24}")


@pytest.fixture
def tp(sandbox: Sandbox) -> Iterator[TouchpointProvider]:
    provider = TouchpointProvider(
        sandbox.url,
        SecretStr(sandbox.imbrace_api_key),
        timeout=5.0,
        retries=RETRIES,
        backoff=0.001,
    )
    yield provider
    provider.close()


def step(name: str, message: object = "hello") -> dict[str, object]:
    return {"name": name, "type": "message", "message": message}


# --------------------------------------------------------------------------- operations


def test_create_campaign_is_a_draft_with_canonical_fields(tp: TouchpointProvider) -> None:
    live = tp.create_campaign("Welcome journey", "whatsapp")
    assert live.kind == "MessagingCampaign"
    assert HEX_ID.fullmatch(live.remote_id)
    assert live.status == "draft" and live.is_pristine
    assert live.fields == {
        "kind": "MessagingCampaign",
        "name": "Welcome journey",
        "channel_type": "whatsapp",
    }
    assert live.touchpoints == ()


def test_touchpoints_are_listed_per_campaign_in_creation_order(tp: TouchpointProvider) -> None:
    first = tp.create_campaign("A", "whatsapp")
    second = tp.create_campaign("B", "email")
    # Interleaved creation: grouping must not depend on the global order.
    made = {
        "a1": tp.create_touchpoint(first.remote_id, step("a1")),
        "b1": tp.create_touchpoint(second.remote_id, step("b1")),
        "a2": tp.create_touchpoint(first.remote_id, {"name": "a2", "type": "action"}),
        "a3": tp.create_touchpoint(first.remote_id, step("a3", {"text": "hi"})),
    }
    listed = {c.name: c for c in tp.list_campaigns()}
    assert [t.name for t in listed["A"].touchpoints] == ["a1", "a2", "a3"]
    assert [t.name for t in listed["B"].touchpoints] == ["b1"]
    assert listed["A"].touchpoints[1] == made["a2"]
    assert made["a2"].type == "action"
    assert tp.get_campaign(first.remote_id).touchpoints == listed["A"].touchpoints


def test_list_reads_two_paged_lists_never_a_get_per_campaign(
    tp: TouchpointProvider, sandbox: Sandbox
) -> None:
    sandbox.seed_touchpoint_campaigns(130, touchpoints=2)
    campaigns = tp.list_campaigns()
    assert len(campaigns) == 130
    assert all([t.name for t in c.touchpoints] == ["step 1", "step 2"] for c in campaigns)
    assert [c.name for c in campaigns] == sorted(c.name for c in campaigns)  # oldest first
    assert sandbox.request_count("GET", CAMPAIGNS_PATH) == 2  # 130 campaigns: 2 pages
    assert sandbox.request_count("GET", TOUCHPOINTS_PATH) == 3  # 260 touchpoints: 3 pages


def queries(sandbox: Sandbox, path: str) -> list[dict[str, list[str]]]:
    """The parsed query of every GET the sandbox logged on exactly `path`, in order."""
    return [parse_qs(e.query) for e in sandbox.log.entries if e.method == "GET" and e.path == path]


#: (campaigns, campaign GETs, touchpoint GETs) with one touchpoint per campaign, 100 per page.
PAGED_COUNTS = [(0, 1, 0), (1, 1, 1), (100, 1, 1), (101, 2, 2), (250, 3, 3)]


@pytest.mark.parametrize(("count", "campaign_gets", "touchpoint_gets"), PAGED_COUNTS)
@pytest.mark.parametrize("quirk", [None, "tp_total_only"], ids=["pagination", "total-only"])
def test_campaign_paging_reads_each_campaign_once(
    tp: TouchpointProvider,
    sandbox: Sandbox,
    quirk: str | None,
    count: int,
    campaign_gets: int,
    touchpoint_gets: int,
) -> None:
    ids = sandbox.seed_touchpoint_campaigns(count, touchpoints=1)
    if quirk:
        sandbox.set_quirks(quirk)
    listed = tp.list_campaigns()
    assert [c.remote_id for c in listed] == ids
    assert all([t.name for t in c.touchpoints] == ["step 1"] for c in listed)
    assert sandbox.request_count("GET", CAMPAIGNS_PATH) == campaign_gets
    assert sandbox.request_count("GET", TOUCHPOINTS_PATH) == touchpoint_gets
    campaign_queries = queries(sandbox, CAMPAIGNS_PATH)
    # The first request is the SDK's own form: page/limit, no offset.
    assert campaign_queries[0] == {"page": ["1"], "limit": ["100"]}
    pages = sorted(int(q["page"][0]) for q in campaign_queries)
    assert pages == list(range(1, campaign_gets + 1))
    if quirk == "tp_total_only":
        # The answer showed limit/offset paging: follow-ups say where they start both ways.
        assert sorted(int(q["offset"][0]) for q in campaign_queries[1:]) == [
            100 * (page - 1) for page in pages[1:]
        ]
    else:
        assert all("offset" not in q for q in campaign_queries)
    assert all("page" not in q for q in queries(sandbox, TOUCHPOINTS_PATH))


@pytest.mark.parametrize("count", [0, 1, 100, 101, 250])
def test_unpaged_answers_are_read_as_the_whole_list(
    tp: TouchpointProvider, sandbox: Sandbox, count: int
) -> None:
    ids = sandbox.seed_touchpoint_campaigns(count, touchpoints=1)
    sandbox.set_quirks("tp_unpaged")
    listed = tp.list_campaigns()
    assert [c.remote_id for c in listed] == ids
    assert all(len(c.touchpoints) == 1 for c in listed)
    assert sandbox.request_count("GET", CAMPAIGNS_PATH) == 1
    assert sandbox.request_count("GET", TOUCHPOINTS_PATH) == (1 if count else 0)


@pytest.mark.parametrize("quirk", [None, "tp_total_only", "tp_unpaged"])
def test_get_campaign_reads_all_its_touchpoints_in_order(
    tp: TouchpointProvider, sandbox: Sandbox, quirk: str | None
) -> None:
    (campaign_id,) = sandbox.seed_touchpoint_campaigns(1, touchpoints=230)
    sandbox.seed_touchpoint_campaigns(2, touchpoints=3, name_prefix="other-")
    if quirk:
        sandbox.set_quirks(quirk)
    live = tp.get_campaign(campaign_id)
    assert [t.name for t in live.touchpoints] == [f"step {i}" for i in range(1, 231)]
    assert len({t.remote_id for t in live.touchpoints}) == 230
    expected_gets = 1 if quirk == "tp_unpaged" else 3
    assert sandbox.request_count("GET", TOUCHPOINTS_PATH) == expected_gets


def test_name_filter_keeps_substring_matches(tp: TouchpointProvider, sandbox: Sandbox) -> None:
    for name in ("Welcome", "Welcome back", "Goodbye"):
        tp.create_campaign(name, "whatsapp")
    assert [c.name for c in tp.list_campaigns("Welcome")] == ["Welcome", "Welcome back"]
    assert tp.list_campaigns("nope") == []


def test_message_is_write_only_and_a_string_is_sent_as_text(
    tp: TouchpointProvider, sandbox: Sandbox
) -> None:
    campaign = tp.create_campaign("J", "whatsapp")
    made = tp.create_touchpoint(campaign.remote_id, step("hi", "Hi there"))
    assert isinstance(made, LiveTouchpoint) and HEX_ID.fullmatch(made.remote_id)
    stored = sandbox.touchpoints(campaign.remote_id)
    assert stored[0]["message"] == {"text": "Hi there"}
    assert not hasattr(made, "message")


def test_update_touchpoint_puts_only_the_given_fields(
    tp: TouchpointProvider, sandbox: Sandbox
) -> None:
    campaign = tp.create_campaign("J", "whatsapp")
    made = tp.create_touchpoint(campaign.remote_id, step("hi", "old"))
    updated = tp.update_touchpoint(made.remote_id, {"message": "new"})
    assert updated.name == "hi" and updated.remote_id == made.remote_id
    assert sandbox.touchpoints(campaign.remote_id)[0]["message"] == {"text": "new"}
    renamed = tp.update_touchpoint(made.remote_id, {"name": "hello"})
    assert renamed.name == "hello"
    assert sandbox.request_count("PUT", TOUCHPOINTS_PATH, status=200) == 2
    assert sandbox.request_count("PATCH") == 0
    assert sandbox.touchpoints(campaign.remote_id)[0]["message"] == {"text": "new"}


def test_delete_touchpoint_and_campaign(tp: TouchpointProvider, sandbox: Sandbox) -> None:
    campaign = tp.create_campaign("J", "whatsapp")
    keep = tp.create_touchpoint(campaign.remote_id, step("keep"))
    drop = tp.create_touchpoint(campaign.remote_id, step("drop"))
    tp.delete_touchpoint(drop.remote_id)
    assert tp.list_campaigns()[0].touchpoints == (keep,)
    tp.delete_campaign(campaign.remote_id)
    assert tp.list_campaigns() == []
    assert sandbox.touchpoints() == []  # its touchpoints went with it


def test_validate_touchpoint(tp: TouchpointProvider) -> None:
    campaign = tp.create_campaign("J", "whatsapp")
    good = tp.create_touchpoint(campaign.remote_id, step("good"))
    assert tp.validate_touchpoint(good.remote_id) == (True, [])
    bad = tp.create_touchpoint(campaign.remote_id, {"name": "bad", "type": "message"})
    valid, errors = tp.validate_touchpoint(bad.remote_id)
    assert valid is False
    assert len(errors) == 1 and "non-empty message" in errors[0]


def test_encode_touchpoint_rejects_unknown_fields() -> None:
    with pytest.raises(ValueError, match="no field campaign_id"):
        encode_touchpoint({"campaign_id": "x"})
    assert encode_touchpoint({"message": "hi"}) == {"message": {"text": "hi"}}


# --------------------------------------------------------------------------- errors


def test_wrong_token_is_auth_error(sandbox: Sandbox) -> None:
    provider = TouchpointProvider(sandbox.url, SecretStr("wrong"), backoff=0.001)
    with pytest.raises(AuthError) as caught:
        provider.list_campaigns()
    assert caught.value.status == 401 and caught.value.vendor_code == "unauthorized"
    assert caught.value.hint == "check IMBRACE_API_KEY"
    provider.close()


def test_empty_name_is_validation_failed(tp: TouchpointProvider) -> None:
    with pytest.raises(ValidationFailed) as caught:
        tp.create_campaign("", "whatsapp")
    assert caught.value.vendor_code == "invalid_request"


@pytest.mark.parametrize("unknown", ["0" * 24, "cmp_missing"], ids=["hex", "malformed"])
def test_unknown_ids_are_not_found(tp: TouchpointProvider, unknown: str) -> None:
    for call in (
        lambda: tp.get_campaign(unknown),
        lambda: tp.delete_campaign(unknown),
        lambda: tp.delete_touchpoint(unknown),
        lambda: tp.update_touchpoint(unknown, {"name": "x"}),
        lambda: tp.validate_touchpoint(unknown),
        lambda: tp.create_touchpoint(unknown, step("x")),
    ):
        with pytest.raises(NotFound) as caught:
            call()
        assert caught.value.status == 404 and caught.value.vendor_code == "not_found"


def test_touchpoint_changes_under_a_completed_campaign_are_executed_error(
    tp: TouchpointProvider, sandbox: Sandbox
) -> None:
    campaign = tp.create_campaign("J", "whatsapp")
    made = tp.create_touchpoint(campaign.remote_id, step("a"))
    sandbox.set_touchpoint_campaign_status(campaign.remote_id, "completed")
    assert tp.list_campaigns()[0].status == "completed"
    for call in (
        lambda: tp.create_touchpoint(campaign.remote_id, step("b")),
        lambda: tp.update_touchpoint(made.remote_id, {"name": "b"}),
        lambda: tp.delete_touchpoint(made.remote_id),
    ):
        with pytest.raises(ExecutedError) as caught:
            call()
        assert caught.value.status == 409 and caught.value.vendor_code == "campaign_completed"
        assert caught.value.hint == "only a campaign in status draft can change"


def test_patch_is_not_allowed(tp: TouchpointProvider, sandbox: Sandbox) -> None:
    campaign = tp.create_campaign("J", "whatsapp")
    made = tp.create_touchpoint(campaign.remote_id, step("a"))
    for path in (f"{CAMPAIGNS_PATH}/{campaign.remote_id}", f"{TOUCHPOINTS_PATH}/{made.remote_id}"):
        with pytest.raises(ConflictError) as caught:
            tp._client.request("PATCH", path, body={"name": "K"})
        assert caught.value.status == 405 and caught.value.vendor_code == "method_not_allowed"
    assert sandbox.touchpoint_campaigns()[0]["name"] == "J"
    assert sandbox.touchpoints()[0]["name"] == "a"


# --------------------------------------------------------------------------- faults


def test_429_then_success_on_get_and_post(tp: TouchpointProvider, sandbox: Sandbox) -> None:
    sandbox.faults.add("POST", CAMPAIGNS_PATH, "429", count=1, retry_after=0)
    sandbox.faults.add("GET", CAMPAIGNS_PATH, "429", count=1, retry_after=0)
    tp.create_campaign("J", "whatsapp")
    assert [c.name for c in tp.list_campaigns()] == ["J"]
    assert sandbox.request_count("POST", CAMPAIGNS_PATH) == 2
    assert len(sandbox.touchpoint_campaigns()) == 1


def test_429_forever_is_rate_limited(tp: TouchpointProvider, sandbox: Sandbox) -> None:
    sandbox.faults.add("GET", CAMPAIGNS_PATH, "429", count=None, retry_after=0)
    with pytest.raises(RateLimited):
        tp.list_campaigns()
    assert sandbox.request_count("GET", CAMPAIGNS_PATH) == RETRIES + 1


@pytest.mark.parametrize("fault", ["500", "503", "drop_before"])
def test_5xx_then_success_for_get_put_delete(
    tp: TouchpointProvider, sandbox: Sandbox, fault: str
) -> None:
    campaign = tp.create_campaign("J", "whatsapp")
    made = tp.create_touchpoint(campaign.remote_id, step("a"))
    for method in ("GET", "PUT", "DELETE"):
        sandbox.faults.add(method, SERVICE_PREFIX, fault, count=1)
    assert tp.list_campaigns()[0].touchpoints == (made,)
    assert tp.update_touchpoint(made.remote_id, {"name": "b"}).name == "b"
    tp.delete_campaign(campaign.remote_id)
    assert sandbox.touchpoint_campaigns() == []
    assert sandbox.faults.pending() == []


def test_validation_post_is_retried_on_5xx(tp: TouchpointProvider, sandbox: Sandbox) -> None:
    campaign = tp.create_campaign("J", "whatsapp")
    made = tp.create_touchpoint(campaign.remote_id, step("a"))
    sandbox.faults.add("POST", VALIDATE_PATH, "500", count=2)
    assert tp.validate_touchpoint(made.remote_id) == (True, [])
    assert sandbox.request_count("POST", VALIDATE_PATH) == 3


@pytest.mark.parametrize("fault", ["500", "drop_after_commit"])
def test_create_with_unknown_outcome_is_never_retried(
    tp: TouchpointProvider, sandbox: Sandbox, fault: str
) -> None:
    campaign = tp.create_campaign("J", "whatsapp")
    sandbox.faults.add("POST", TOUCHPOINTS_PATH, fault, count=1)
    with pytest.raises(OutcomeUnknown):
        tp.create_touchpoint(campaign.remote_id, step("a"))
    assert len(sandbox.touchpoints(campaign.remote_id)) == (1 if fault != "500" else 0)
    sandbox.faults.add("POST", CAMPAIGNS_PATH, fault, count=1)
    with pytest.raises(OutcomeUnknown):
        tp.create_campaign("K", "whatsapp")
    names = [c["name"] for c in sandbox.touchpoint_campaigns()]
    assert names == (["J", "K"] if fault != "500" else ["J"])


# --------------------------------------------------------------------------- answer shapes


def test_deletes_answering_204_without_a_body_work(
    tp: TouchpointProvider, sandbox: Sandbox
) -> None:
    campaign = tp.create_campaign("J", "whatsapp")
    keep = tp.create_touchpoint(campaign.remote_id, step("keep"))
    drop = tp.create_touchpoint(campaign.remote_id, step("drop"))
    sandbox.set_quirks("tp_delete_204")
    tp.delete_touchpoint(drop.remote_id)
    assert tp.get_campaign(campaign.remote_id).touchpoints == (keep,)
    tp.delete_campaign(campaign.remote_id)
    assert sandbox.touchpoint_campaigns() == [] and sandbox.touchpoints() == []
    assert sandbox.request_count("DELETE", status=204) == 2
    assert sandbox.request_count("DELETE") == 2  # nothing retried


def _error_of(call: Callable[[], object]) -> tuple[type[BaseException], int | None, object, str]:
    with pytest.raises(ApiError) as caught:
        call()
    error = caught.value
    return type(error), error.status, error.vendor_code, str(error)


@pytest.mark.parametrize(
    "case", ["wrong-key", "empty-name", "unknown-id", "completed", "patch", "bad-paging"]
)
def test_nested_errors_map_to_the_same_error_classes(
    tp: TouchpointProvider, sandbox: Sandbox, case: str
) -> None:
    campaign = tp.create_campaign("J", "whatsapp")
    made = tp.create_touchpoint(campaign.remote_id, step("a"))
    sandbox.set_touchpoint_campaign_status(campaign.remote_id, "completed")
    wrong = TouchpointProvider(sandbox.url, SecretStr("wrong"), backoff=0.001)
    calls: dict[str, Callable[[], object]] = {
        "wrong-key": wrong.list_campaigns,
        "empty-name": lambda: tp.create_campaign("", "whatsapp"),
        "unknown-id": lambda: tp.get_campaign("0" * 24),
        "completed": lambda: tp.update_touchpoint(made.remote_id, {"name": "b"}),
        "patch": lambda: tp._client.request("PATCH", f"{TOUCHPOINTS_PATH}/{made.remote_id}"),
        "bad-paging": lambda: tp._client.request("GET", CAMPAIGNS_PATH, params={"limit": 0}),
    }
    expected = {
        "wrong-key": (AuthError, 401, "unauthorized"),
        "empty-name": (ValidationFailed, 400, "invalid_request"),
        "unknown-id": (NotFound, 404, "not_found"),
        "completed": (ExecutedError, 409, "campaign_completed"),
        "patch": (ConflictError, 405, "method_not_allowed"),
        "bad-paging": (ValidationFailed, 400, "invalid_request"),
    }
    flat = _error_of(calls[case])
    sandbox.set_quirks("tp_error_nested")
    nested = _error_of(calls[case])
    wrong.close()
    assert flat[:3] == expected[case]
    assert nested == flat  # same class, status, code and sentence
    assert "{" not in nested[3]  # the vendor's message, not its JSON
    assert sandbox.touchpoints()[0]["name"] == "a"


# --------------------------------------------------------------------------- error bodies

SECRET = "imbrace-secret-0123456789abcdef"


def _redact(text: str) -> str:
    return text.replace(SECRET, "***")


def _interpreted(status: int, content: bytes) -> ApiError:
    with pytest.raises(ApiError) as caught:
        interpret_answer(
            "GET",
            CAMPAIGNS_PATH,
            status,
            content,
            {},
            idempotent=True,
            redact=_redact,
            codes=ERROR_CODES,
        )
    return caught.value


@pytest.mark.parametrize(
    ("status", "content", "cls", "shown"),
    [
        (400, b"Bad request:\n\n  name   is required\r\n", ValidationFailed, "name is required"),
        (401, b"Unauthorized", AuthError, "Unauthorized"),
        (
            502,
            b"<html><head><title>502 Bad Gateway</title></head>"
            b"<body><center><h1>502 Bad Gateway</h1></center><hr>nginx</body></html>",
            ServerError,
            "502 Bad Gateway",
        ),
        (
            404,
            b"<!DOCTYPE html><html><body><h1>Not\nFound</h1><script>var x = 1;</script>"
            b"<p>no such route</p></body></html>",
            NotFound,
            "Not Found no such route",
        ),
    ],
    ids=["text", "text-401", "html-title", "html-body"],
)
def test_text_and_html_error_bodies_are_one_readable_line(
    status: int, content: bytes, cls: type[ApiError], shown: str
) -> None:
    error = _interpreted(status, content)
    assert type(error) is cls and error.status == status and error.vendor_code is None
    message = str(error)
    assert "\n" not in message and "\r" not in message
    assert shown in message
    assert "<" not in message and "var x" not in message
    assert f"HTTP {status}" in message


@pytest.mark.parametrize(
    "content",
    [
        ("x" * 2000).encode(),
        ("<html><body><p>" + "y " * 2000 + "</p></body></html>").encode(),
        ('{"code": "invalid_request", "message": "' + "z" * 2000 + '"}').encode(),
    ],
    ids=["text", "html", "json"],
)
def test_long_error_bodies_are_cut_to_about_300_characters(content: bytes) -> None:
    message = str(_interpreted(400, content))
    assert "…" in message
    assert len(message) < 300 + 100  # the body's share is cut at 300; prefix and tags remain


@pytest.mark.parametrize(
    "content",
    [
        f"the key {SECRET} is not valid".encode(),
        f"<html><title>key {SECRET} refused</title></html>".encode(),
        f'{{"code": "unauthorized", "message": "key {SECRET} refused"}}'.encode(),
        f'{{"error": {{"code": "unauthorized", "message": "key {SECRET}"}}}}'.encode(),
        # The secret straddles the cut at 300: masking must come first, or its head survives.
        ("a" * 290 + SECRET + "b" * 100).encode(),
    ],
    ids=["text", "html", "json", "nested", "at-the-cut"],
)
def test_secrets_in_error_bodies_are_masked(content: bytes) -> None:
    message = str(_interpreted(401, content))
    assert SECRET[:8] not in message
    assert "***" in message


@pytest.mark.parametrize(
    "content",
    [
        b'{"code": "not_found", "message": "campaign x not found"}',
        b'{"error": {"code": "not_found", "message": "campaign x not found"}}',
        b'{"error": "campaign x not found", "code": "not_found"}',
    ],
    ids=["flat", "nested", "error-string"],
)
def test_json_error_shapes_give_the_code_and_message(content: bytes) -> None:
    error = _interpreted(404, content)
    assert type(error) is NotFound and error.vendor_code == "not_found"
    assert "campaign x not found" in str(error) and "{" not in str(error)


def test_a_vendor_code_decides_over_the_status() -> None:
    error = _interpreted(400, b'{"code": "campaign_completed", "message": "done"}')
    assert type(error) is ExecutedError and error.status == 400


# --------------------------------------------------------------------------- auth header


class _Recorder(BaseHTTPRequestHandler):
    """Answers like the gateway would and records every request's headers."""

    seen: ClassVar[list[tuple[str, dict[str, str]]]] = []

    def _answer(self, status: int, body: object | None) -> None:
        self.seen.append((self.command, {k.lower(): v for k, v in self.headers.items()}))
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        payload = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self._answer(200, {"data": [], "total": 0})

    def do_POST(self) -> None:
        campaign = {"_id": "a" * 24, "name": "J", "status": "draft", "channel_type": "sms"}
        self._answer(201, campaign)

    def do_DELETE(self) -> None:
        self._answer(200, {"_id": "a" * 24, "deleted": True})

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def test_the_provider_sends_x_api_key_and_never_an_authorization_header() -> None:
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        provider = TouchpointProvider(url, SecretStr(SECRET), retries=0)
        provider.list_campaigns()
        provider.create_campaign("J", "sms")
        provider.delete_campaign("a" * 24)
        provider.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert [method for method, _ in _Recorder.seen] == ["GET", "POST", "DELETE"]
    for _, headers in _Recorder.seen:
        assert headers["x-api-key"] == SECRET
        assert "authorization" not in headers and "x-access-token" not in headers
