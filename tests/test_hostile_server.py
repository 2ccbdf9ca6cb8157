"""Issue 12, items 9 and 10: answers are bounded, remote identities untrusted.

Every test talks to a real loopback server (tests/hostile) whose answers it scripts: a gzip
bomb, a drip-fed body, a `total` of billions, JSON nested 100,000 deep, ids that are paths,
fields of the wrong type, a create answered with someone else's campaign.
"""

from __future__ import annotations

import json
import tracemalloc
from typing import Any

import pytest
from hostile import Answer, HostileServer, gzip_bomb, hostile
from pydantic import SecretStr

from reconciler.errors import InvalidResponse, OutcomeUnknown, ServerError
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
