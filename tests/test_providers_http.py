"""providers/http/: session set-up, retry policy, error translation, masked logging.

Unit tests of the pure parts, then the transport facts that need a real socket: a port with
nothing listening, and the sandbox (latency beyond the timeout, its request log).
"""

from __future__ import annotations

import base64
import logging
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from conftest import wait_until
from pydantic import SecretStr
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError, ReadTimeoutError

from reconciler import __version__
from reconciler.errors import (
    ApiError,
    AuthError,
    ConflictError,
    ConnectionFailed,
    ExecutedError,
    InsecureUrlError,
    InvalidResponse,
    NotFound,
    OutcomeUnknown,
    RateLimited,
    RequestRefused,
    ServerError,
    ValidationFailed,
)
from reconciler.providers import EmailProvider, TouchpointProvider
from reconciler.providers import email as email_provider
from reconciler.providers.http import (
    MAX_RETRY_AFTER,
    POOL_MAXSIZE,
    USER_AGENT,
    ApiClient,
    CampaignRetry,
    RetryConfig,
    api_key_auth,
    basic_auth,
    bearer_auth,
    error_for_response,
    interpret_answer,
    make_retry,
    make_session,
    mask_headers,
    vendor_error,
)
from reconciler.providers.imbrace import client as touchpoint_provider

if TYPE_CHECKING:
    from reconciler.sandbox import Sandbox

KEY = "sk-live-0123456789abcdef"
TOKEN = "tp-token-fedcba9876543210"


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def debug_log() -> Iterator[ListHandler]:
    """Every line the providers log at DEBUG (independent of how the CLI set up logging)."""
    logger = logging.getLogger("reconciler.providers")
    handler = ListHandler()
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- session


def test_session_has_user_agent_auth_timeout_and_a_pooled_retrying_adapter() -> None:
    session = make_session("http://127.0.0.1:9", basic_auth("u", SecretStr(KEY)), timeout=7.5)
    assert session.headers["User-Agent"] == f"campaignctl/{__version__}" == USER_AGENT
    assert session.default_timeout == (7.5, 7.5)
    adapter = session.get_adapter("http://127.0.0.1:9/v1/marketing/campaigns")
    assert isinstance(adapter, HTTPAdapter)
    assert adapter._pool_maxsize >= 32 == POOL_MAXSIZE
    assert isinstance(adapter.max_retries, CampaignRetry)
    assert session.trust_env is False  # loopback: proxies from the environment ignored


def test_connect_timeout_is_capped_and_read_timeout_is_the_given_one() -> None:
    session = make_session("https://email.api.engagelab.cc", bearer_auth(SecretStr(TOKEN)))
    assert session.default_timeout == (10.0, 30.0)
    assert session.trust_env is True


@pytest.mark.parametrize(
    "url", ["http://email.api.engagelab.cc", "http://10.0.0.5:8080", "ftp://127.0.0.1"]
)
def test_plain_http_to_a_non_loopback_host_is_refused(url: str) -> None:
    with pytest.raises(InsecureUrlError):
        EmailProvider(url, "u", SecretStr(KEY))
    with pytest.raises(InsecureUrlError):
        TouchpointProvider(url, SecretStr(TOKEN))


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9", "https://x.example"]
)
def test_https_and_loopback_http_are_accepted(url: str) -> None:
    EmailProvider(url, "u", SecretStr(KEY)).close()


def test_basic_auth_header_is_the_documented_base64() -> None:
    import requests

    prepared = requests.Request("GET", "http://127.0.0.1/x").prepare()
    basic_auth("api_user", SecretStr("api_key"))(prepared)
    # The vendor's own example header: 'Authorization:Basic YXBpX3VzZXI6YXBpX2tleQ=='
    assert prepared.headers["Authorization"] == "Basic YXBpX3VzZXI6YXBpX2tleQ=="
    bearer_auth(SecretStr(TOKEN))(prepared)
    assert prepared.headers["Authorization"] == f"Bearer {TOKEN}"


def test_reprs_never_show_secrets() -> None:
    email = EmailProvider("http://127.0.0.1:9", "user", SecretStr(KEY))
    touchpoint = TouchpointProvider("http://127.0.0.1:9", SecretStr(TOKEN))
    encoded = base64.b64encode(f"user:{KEY}".encode()).decode()
    shown = " ".join(
        [
            repr(email),
            repr(touchpoint),
            repr(email._client),
            repr(basic_auth("user", SecretStr(KEY))),
        ]
    )
    for secret in (KEY, TOKEN, encoded):
        assert secret not in shown
    assert "**" in repr(email) and "**" in repr(touchpoint)


def test_mask_headers_masks_the_credential_only() -> None:
    masked = mask_headers({"Authorization": f"Bearer {TOKEN}", "User-Agent": USER_AGENT})
    assert masked == {"Authorization": "Bearer ***", "User-Agent": USER_AGENT}


# --------------------------------------------------------------------------- retry policy


def test_retry_policy_is_configuration() -> None:
    retry = make_retry(RetryConfig(retries=4, backoff=0.25))
    assert retry.total == retry.connect == retry.read == retry.status == 4
    assert retry.allowed_methods is not None
    assert {"GET", "PUT", "PATCH", "DELETE"} <= set(retry.allowed_methods)
    assert "POST" not in retry.allowed_methods
    assert retry.status_forcelist is not None
    assert {429, 500, 502, 503, 504, 599} <= set(retry.status_forcelist)
    assert retry.backoff_factor == 0.25 and retry.backoff_jitter > 0
    assert retry.respect_retry_after_header is True
    assert retry.raise_on_status is False  # the last answer is translated, not a RetryError


@pytest.mark.parametrize(
    ("method", "status", "retried"),
    [
        ("POST", 429, True),  # refused before doing anything: safe to repeat
        ("POST", 500, False),  # may hide a committed write: OutcomeUnknown instead
        ("POST", 503, False),
        ("GET", 500, True),
        ("PUT", 502, True),
        ("PATCH", 503, True),
        ("DELETE", 504, True),
        ("GET", 429, True),
        ("GET", 404, False),
        ("PUT", 400, False),
    ],
)
def test_which_answers_are_retried(method: str, status: int, retried: bool) -> None:
    retry = make_retry(RetryConfig())
    assert retry.is_retry(method, status, has_retry_after=True) is retried


def test_read_errors_are_retried_for_idempotent_methods_only() -> None:
    retry = make_retry(RetryConfig(retries=3))
    error = ReadTimeoutError(None, "/v1/x", "read timed out")  # type: ignore[arg-type]
    assert isinstance(retry.increment("GET", "/v1/x", error=error), CampaignRetry)
    with pytest.raises(ReadTimeoutError):
        retry.increment("POST", "/v1/x", error=error)


def test_connect_errors_are_retried_for_every_method() -> None:
    retry = make_retry(RetryConfig(retries=3))
    error = NewConnectionError(None, "refused")  # type: ignore[arg-type]
    assert retry.increment("POST", "/v1/x", error=error).connect == 2


def test_validation_post_may_be_retried_on_5xx() -> None:
    assert make_retry(RetryConfig(), allow_post=True).is_retry("POST", 500) is True


def test_retry_after_is_honoured_but_capped() -> None:
    from urllib3 import HTTPResponse

    retry = make_retry(RetryConfig())
    assert retry.get_retry_after(HTTPResponse(headers={"Retry-After": "2"})) == 2
    huge = HTTPResponse(headers={"Retry-After": "86400"})
    assert retry.get_retry_after(huge) == MAX_RETRY_AFTER


def test_a_long_retry_after_is_announced_without_verbose(debug_log: ListHandler) -> None:
    from urllib3 import HTTPResponse

    retry = make_retry(RetryConfig())
    retry.get_retry_after(HTTPResponse(headers={"Retry-After": "2"}))
    assert not debug_log.lines
    retry.get_retry_after(HTTPResponse(headers={"Retry-After": "3600"}))
    assert debug_log.lines == ["rate limited by the API: waiting 60 s (Retry-After)"]


# --------------------------------------------------------------------------- translation


#: Both vendors' code tables: the translation is shared, the tables are the providers'.
CODES = {**email_provider.ERROR_CODES, **touchpoint_provider.ERROR_CODES}


def translate(status: int, body: Any, method: str = "GET") -> ApiError | None:
    return error_for_response(
        method,
        "/v1/x",
        status,
        body,
        idempotent=method != "POST",
        auth_hint="check the key",
        codes=CODES,
    )


@pytest.mark.parametrize(
    ("status", "body", "method", "expected"),
    [
        (401, {"code": 30000, "message": "Authentication failed"}, "GET", AuthError),
        (401, {"code": 32112, "message": "name cannot be empty"}, "POST", ValidationFailed),
        (200, {"code": 32110, "message": "executed"}, "PUT", ExecutedError),
        (400, {"code": 32110, "message": "executed"}, "PUT", ExecutedError),
        (409, {"error": {"code": "campaign_completed", "message": "x"}}, "POST", ExecutedError),
        (401, {"error": {"code": "unauthorized", "message": "bad token"}}, "GET", AuthError),
        (400, {"error": {"code": "invalid_request", "message": "x"}}, "PATCH", ValidationFailed),
        (404, {"error": {"code": "not_found", "message": "x"}}, "GET", NotFound),
        (404, {"code": 40400, "message": "campaign 9 not found"}, "DELETE", NotFound),
        (400, {"code": 32103, "message": "to must be ..."}, "POST", ValidationFailed),
        (405, {"error": {"code": "method_not_allowed", "message": "x"}}, "PUT", ConflictError),
        (409, None, "DELETE", ConflictError),
        (403, None, "GET", AuthError),
        (429, {"code": 42900, "message": "Too many requests"}, "POST", RateLimited),
        (500, None, "GET", ServerError),
        (503, {"error": {"code": "unavailable", "message": "x"}}, "DELETE", ServerError),
        (500, {"code": 50000, "message": "Internal"}, "POST", OutcomeUnknown),
        (502, None, "POST", OutcomeUnknown),
        (302, None, "GET", InvalidResponse),
        (200, {"code": 77777, "message": "who knows"}, "GET", ConflictError),
    ],
)
def test_every_error_becomes_its_type(
    status: int, body: Any, method: str, expected: type[ApiError]
) -> None:
    error = translate(status, body, method)
    assert type(error) is expected
    assert error is not None and error.status == status and error.method == method


@pytest.mark.parametrize(
    "body", [{"result": {"campaign_id": 1}}, {"count": 1}, {"code": 0, "message": "ok"}, None]
)
def test_success_bodies_are_not_errors(body: Any) -> None:
    assert translate(200, body) is None


def test_refused_errors_say_nothing_was_done() -> None:
    for status, body in [(401, None), (400, None), (404, None), (429, None), (409, None)]:
        assert isinstance(translate(status, body, "POST"), RequestRefused)
    assert not isinstance(translate(500, None, "POST"), RequestRefused)


def test_error_message_names_the_vendor_text_code_and_call() -> None:
    error = translate(401, {"code": 32112, "message": "name cannot be empty"}, "POST")
    assert str(error) == (
        "request rejected: name cannot be empty (HTTP 401, code 32112) (POST /v1/x)"
    )
    assert error is not None and error.vendor_code == 32112
    auth = translate(401, {"code": "30000", "message": "Authentication failed"})
    assert auth is not None and auth.hint == "check the key" and auth.vendor_code == 30000


def test_rate_limited_carries_retry_after() -> None:
    with pytest.raises(RateLimited) as caught:
        interpret_answer(
            "GET", "/v1/x", 429, b'{"code": 42900}', {"Retry-After": "3"}, idempotent=True
        )
    assert caught.value.retry_after == 3.0


def test_vendor_error_reads_both_shapes() -> None:
    assert vendor_error({"code": 30000, "message": "m"}) == (30000, "m")
    assert vendor_error({"error": {"code": "not_found", "message": "m"}}) == ("not_found", "m")
    assert vendor_error({"_id": "cmp_1", "name": "x"}) is None
    assert vendor_error([1, 2]) is None


def test_error_body_that_is_not_json_is_translated_by_status() -> None:
    with pytest.raises(ServerError, match="HTTP 502"):
        interpret_answer("GET", "/v1/x", 502, b"<html>Bad gateway</html>", {}, idempotent=True)


def test_success_body_that_is_not_json_is_invalid_response() -> None:
    with pytest.raises(InvalidResponse, match="not JSON") as caught:
        interpret_answer("GET", "/v1/x", 200, b'{"a": 1,}', {}, idempotent=True)
    assert caught.value.status == 200


def test_empty_body_is_none() -> None:
    assert interpret_answer("DELETE", "/v1/x", 204, b"", {}, idempotent=True) is None


def test_messages_are_redacted() -> None:
    auth = basic_auth("user", SecretStr(KEY))
    with pytest.raises(AuthError) as caught:
        interpret_answer(
            "GET",
            "/v1/x",
            401,
            f'{{"code": 30000, "message": "bad key {KEY}"}}'.encode(),
            {},
            idempotent=True,
            redact=auth.redact,
        )
    assert KEY not in str(caught.value) and "***" in str(caught.value)


# --------------------------------------------------------------------------- real sockets


def test_nothing_listening_is_connection_failed_for_every_method() -> None:
    client = ApiClient(
        f"http://127.0.0.1:{free_port()}",
        bearer_auth(SecretStr(TOKEN)),
        retry=RetryConfig(retries=2, backoff=0.001),
    )
    for method in ("GET", "POST"):
        with pytest.raises(ConnectionFailed, match=r"cannot reach 127\.0\.0\.1") as caught:
            client.request(
                method, "/channel-service/v1/campaign", body={} if method == "POST" else None
            )
        assert isinstance(caught.value, RequestRefused)  # nothing was sent
    client.close()


def test_read_timeout_on_get_is_retried_then_server_error(
    sandbox: Sandbox, debug_log: ListHandler
) -> None:
    sandbox.set_latency(400)
    client = ApiClient(
        sandbox.url,
        api_key_auth(SecretStr(sandbox.imbrace_api_key)),
        timeout=0.1,
        retry=RetryConfig(retries=1, backoff=0.001),
    )
    with pytest.raises(ServerError, match="timed out"):
        client.request("GET", "/channel-service/v1/campaign")
    client.close()
    # The sandbox logs a request only once its answer is written, so count our retries.
    assert sum("retrying GET /channel-service/v1/campaign" in line for line in debug_log.lines) == 1


def test_read_timeout_on_post_is_outcome_unknown_without_retry(sandbox: Sandbox) -> None:
    sandbox.set_latency(400)
    client = ApiClient(
        sandbox.url,
        api_key_auth(SecretStr(sandbox.imbrace_api_key)),
        timeout=0.1,
        retry=RetryConfig(retries=3, backoff=0.001),
    )
    with pytest.raises(OutcomeUnknown, match="timed out") as caught:
        client.request(
            "POST", "/channel-service/v1/campaign", body={"name": "A", "channel_type": "email"}
        )
    assert caught.value.hint and "looked up by name" in caught.value.hint
    client.close()
    # The sandbox logs a request once its answer is written: wait for that, not for a time.
    assert wait_until(lambda: sandbox.request_count("POST", "/channel-service/v1/campaign") > 0)
    # It did happen, once: no blind retry made a second one.
    assert sandbox.request_count("POST", "/channel-service/v1/campaign") == 1
    assert [c["name"] for c in sandbox.touchpoint_campaigns()] == ["A"]


def test_exchange_log_is_masked_and_has_the_user_agent(
    sandbox: Sandbox, debug_log: ListHandler
) -> None:
    email = EmailProvider(sandbox.url, sandbox.api_user, SecretStr(sandbox.api_key), backoff=0.001)
    email.list_campaigns()
    email.close()
    text = "\n".join(debug_log.lines)
    assert "--> GET " in text and "<-- 200 GET /v1/marketing/campaigns" in text
    assert "Basic ***" in text and USER_AGENT in text
    encoded = base64.b64encode(f"{sandbox.api_user}:{sandbox.api_key}".encode()).decode()
    assert sandbox.api_key not in text and encoded not in text


def test_no_secret_in_logs_errors_or_reprs_across_failures(
    sandbox: Sandbox, debug_log: ListHandler
) -> None:
    """Wrong credentials, retries, faults: the key and token appear nowhere."""
    wrong_key, wrong_token = KEY, TOKEN
    email = EmailProvider(sandbox.url, sandbox.api_user, SecretStr(wrong_key), backoff=0.001)
    touchpoint = TouchpointProvider(sandbox.url, SecretStr(wrong_token), backoff=0.001)
    good = EmailProvider(
        sandbox.url, sandbox.api_user, SecretStr(sandbox.api_key), retries=1, backoff=0.001
    )
    messages: list[str] = []
    for call in (
        email.list_campaigns,
        touchpoint.list_campaigns,
        lambda: email.get_campaign("1"),
        lambda: touchpoint.delete_campaign("cmp_x"),
    ):
        with pytest.raises(AuthError) as caught:
            call()
        messages += [str(caught.value), repr(caught.value), caught.value.hint or ""]
    sandbox.faults.add("GET", "/v1/marketing", "500", count=None)
    with pytest.raises(ServerError) as server_error:
        good.list_campaigns()
    messages.append(str(server_error.value))
    shown = "\n".join([*messages, *debug_log.lines, repr(email), repr(touchpoint), repr(good)])
    secrets = [wrong_key, wrong_token, sandbox.api_key]
    secrets += [
        base64.b64encode(f"{sandbox.api_user}:{key}".encode()).decode()
        for key in (wrong_key, sandbox.api_key)
    ]
    for secret in secrets:
        assert secret not in shown
    assert "retrying GET" in shown  # the retries were logged too
    assert "check ENGAGELAB_API_USER and ENGAGELAB_API_KEY" in messages
    for provider in (email, touchpoint, good):
        provider.close()


def test_an_error_body_with_only_a_message_is_quoted_not_dumped() -> None:
    error = translate(404, {"message": "gone"}, "DELETE")
    assert isinstance(error, NotFound)
    assert str(error) == "not found: gone (HTTP 404) (DELETE /v1/x)"
