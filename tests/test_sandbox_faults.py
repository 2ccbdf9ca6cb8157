"""Sandbox fault injection, latency, request log, admin API and load behaviour."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from reconciler.sandbox import Sandbox, email_api, parse_fault_spec
from reconciler.sandbox.faults import Latency, LogEntry
from reconciler.sandbox.handler import SandboxServer

AUTH = ("demo-user", "demo-key")
CAMPAIGNS = "/channel-service/v1/campaign"
TOUCHPOINTS = "/channel-service/v1/touchpoints"
EMAIL = "/v1/marketing/campaigns"
NEW_EMAIL = {"campaign_type": 2, "name": "fault test", "to": [{"type": "list", "value": ["all"]}]}


def email(sandbox: Sandbox, method: str, suffix: str = "", **kw: Any) -> requests.Response:
    return requests.request(method, sandbox.url + EMAIL + suffix, auth=AUTH, timeout=10, **kw)


def touchpoint(sandbox: Sandbox, method: str, path: str, **kw: Any) -> requests.Response:
    headers = {"x-api-key": sandbox.imbrace_api_key}
    return requests.request(method, sandbox.url + path, headers=headers, timeout=10, **kw)


# --------------------------------------------------------------------------- status faults


def test_429_with_retry_after_then_success(sandbox: Sandbox) -> None:
    sandbox.faults.add("GET", EMAIL, 429, retry_after=7)
    refused = email(sandbox, "GET")
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "7"
    assert refused.json()["code"] == 42900
    assert email(sandbox, "GET").status_code == 200


def test_429_on_post_does_nothing(sandbox: Sandbox) -> None:
    sandbox.faults.add("POST", EMAIL, "429")
    assert email(sandbox, "POST", json=NEW_EMAIL).status_code == 429
    assert sandbox.email_campaigns() == []
    assert email(sandbox, "POST", json=NEW_EMAIL).status_code == 200
    assert len(sandbox.email_campaigns()) == 1


@pytest.mark.parametrize(("fault", "code"), [(500, 50000), (503, 50300)])
def test_5xx_then_success(sandbox: Sandbox, fault: int, code: int) -> None:
    sandbox.faults.add("GET", EMAIL, fault)
    failed = email(sandbox, "GET")
    assert failed.status_code == fault and failed.json()["code"] == code
    assert "Retry-After" not in failed.headers
    assert email(sandbox, "GET").status_code == 200


def test_touchpoint_faults_use_its_error_shape(sandbox: Sandbox) -> None:
    sandbox.faults.add("GET", CAMPAIGNS, 429, retry_after=2)
    sandbox.faults.add("GET", TOUCHPOINTS, 503)
    limited = touchpoint(sandbox, "GET", CAMPAIGNS)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    assert limited.json() == {"code": "rate_limited", "message": "Too many requests"}
    unavailable = touchpoint(sandbox, "GET", TOUCHPOINTS)
    assert unavailable.status_code == 503 and "Retry-After" not in unavailable.headers
    assert unavailable.json() == {"code": "unavailable", "message": "Service unavailable"}


def test_count_method_and_prefix_select_the_requests(sandbox: Sandbox) -> None:
    sandbox.faults.add("POST", EMAIL, 500, count=2)
    assert email(sandbox, "GET").status_code == 200
    assert [email(sandbox, "POST", json=NEW_EMAIL).status_code for _ in range(3)] == [
        500,
        500,
        200,
    ]
    sandbox.faults.add("*", TOUCHPOINTS, 503)
    assert email(sandbox, "GET").status_code == 200
    assert touchpoint(sandbox, "GET", CAMPAIGNS).status_code == 200
    assert touchpoint(sandbox, "GET", TOUCHPOINTS).status_code == 503
    assert sandbox.faults.pending() == []


def test_unlimited_fault_until_cleared(sandbox: Sandbox) -> None:
    sandbox.faults.add("GET", "/", 503, count=None)
    assert {email(sandbox, "GET").status_code for _ in range(3)} == {503}
    sandbox.faults.clear()
    assert email(sandbox, "GET").status_code == 200


def test_faults_are_validated() -> None:
    sandbox = Sandbox()
    with pytest.raises(ValueError, match="unknown fault"):
        sandbox.faults.add("GET", "/", 418)
    with pytest.raises(ValueError, match="unknown method"):
        sandbox.faults.add("FETCH", "/", 429)
    with pytest.raises(ValueError, match="start with"):
        sandbox.faults.add("GET", "v1", 429)
    with pytest.raises(ValueError, match="count"):
        sandbox.faults.add("GET", "/", 429, count=0)


# --------------------------------------------------------------------------- dropped connections


def test_drop_before_does_nothing(sandbox: Sandbox) -> None:
    sandbox.faults.add("POST", EMAIL, "drop_before")
    with pytest.raises(requests.ConnectionError):
        email(sandbox, "POST", json=NEW_EMAIL)
    assert sandbox.email_campaigns() == []
    assert sandbox.request_count("POST", EMAIL, status=0) == 1


def test_drop_after_commit_creates_then_drops(sandbox: Sandbox) -> None:
    sandbox.faults.add("POST", EMAIL, "drop_after_commit")
    with pytest.raises(requests.ConnectionError):
        email(sandbox, "POST", json=NEW_EMAIL)
    listed = email(sandbox, "GET", params={"name": "fault test"}).json()
    assert listed["total"] == 1 and listed["result"][0]["name"] == "fault test"


def test_drop_after_commit_on_update_and_touchpoint_create(sandbox: Sandbox) -> None:
    created = email(sandbox, "POST", json=NEW_EMAIL).json()["result"]
    sandbox.faults.add("PUT", EMAIL, "drop_after_commit")
    with pytest.raises(requests.ConnectionError):
        email(sandbox, "PUT", f"/{created['campaign_id']}", json={"name": "renamed"})
    assert sandbox.email_campaign(created["campaign_id"])["name"] == "renamed"

    campaign = touchpoint(
        sandbox, "POST", CAMPAIGNS, json={"name": "j", "channel_type": "sms"}
    ).json()
    sandbox.faults.add("POST", TOUCHPOINTS, "drop_after_commit")
    payload = {"name": "t", "type": "message", "campaign_id": campaign["_id"], "message": "hi"}
    with pytest.raises(requests.ConnectionError):
        touchpoint(sandbox, "POST", TOUCHPOINTS, json=payload)
    assert [tp["name"] for tp in sandbox.touchpoints(campaign["_id"])] == ["t"]


def test_a_pooled_session_recovers_after_a_drop(sandbox: Sandbox) -> None:
    with requests.Session() as session:
        session.auth = AUTH
        assert session.get(sandbox.url + EMAIL, timeout=10).status_code == 200
        sandbox.faults.add("GET", EMAIL, "drop_before")
        with pytest.raises(requests.ConnectionError):
            session.get(sandbox.url + EMAIL, timeout=10)
        assert session.get(sandbox.url + EMAIL, timeout=10).status_code == 200


# --------------------------------------------------------------------------- latency & log


def logged_get(sandbox: Sandbox) -> LogEntry:
    """GET the email list and return the sandbox's log entry for it."""
    before = sandbox.request_count()
    assert email(sandbox, "GET").status_code == 200
    entries = sandbox.log.entries
    assert len(entries) == before + 1
    return entries[-1]


def slept(entry: LogEntry) -> bool:
    """Whether the sandbox held the request for at least its latency (its own two readings)."""
    return entry.answered - entry.received >= entry.delay


class CountingLatency(Latency):
    """The sandbox's latency, counting how often the handler asks it for a delay."""

    def __init__(self, ms: float, jitter_ms: float = 0.0) -> None:
        super().__init__(ms, jitter_ms)
        self.calls = 0

    def sample_seconds(self) -> float:
        self.calls += 1
        return super().sample_seconds()


class GatedLatency(Latency):
    """A latency that holds each request until `parties` requests are in it together.

    Served one at a time, the barrier times out and breaks, and every request waiting at it
    is answered 500 (the handler's internal-error reply): parallel serving is shown by the
    answers, not by a stopwatch.
    """

    def __init__(self, parties: int) -> None:
        super().__init__(0.0, 0.0)
        self.barrier = threading.Barrier(parties, timeout=30)

    def sample_seconds(self) -> float:
        self.barrier.wait()
        return super().sample_seconds()


def test_fixed_latency(sandbox: Sandbox) -> None:
    sandbox.set_latency(120)
    delayed = logged_get(sandbox)
    assert delayed.delay == 0.12 and slept(delayed)
    sandbox.set_latency(0)
    assert logged_get(sandbox).delay == 0


def test_random_latency_stays_within_its_range(sandbox: Sandbox) -> None:
    sandbox.set_latency(20, jitter_ms=60)
    entries = [logged_get(sandbox) for _ in range(6)]
    assert all(0.02 <= e.delay <= 0.08 and slept(e) for e in entries)
    assert len({e.delay for e in entries}) > 1  # jitter: six draws are not all equal
    with pytest.raises(ValueError):
        sandbox.set_latency(-1)


def test_admin_latency_applies_to_api_calls_but_not_admin(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    response = requests.post(f"{sandbox.url}/_admin/latency", json={"ms": 150}, timeout=10)
    assert response.status_code == 200
    counting = CountingLatency(sandbox.latency.ms, sandbox.latency.jitter_ms)
    monkeypatch.setattr(sandbox, "latency", counting)
    stats = requests.get(f"{sandbox.url}/_admin/stats", timeout=10).json()
    assert stats["latency"] == {"ms": 150, "jitter_ms": 0}
    assert counting.calls == 0  # an admin call is never delayed
    delayed = logged_get(sandbox)
    assert counting.calls == 1
    assert delayed.delay == 0.15 and slept(delayed)
    assert (
        requests.post(f"{sandbox.url}/_admin/latency", json={"ms": -5}, timeout=10).status_code
        == 400
    )


def test_request_log_counts_by_method_path_and_status(sandbox: Sandbox) -> None:
    sandbox.faults.add("GET", EMAIL, 429)
    email(sandbox, "GET")
    email(sandbox, "GET")
    email(sandbox, "POST", json=NEW_EMAIL)
    touchpoint(sandbox, "GET", CAMPAIGNS)
    requests.get(f"{sandbox.url}/_admin/stats", timeout=10)
    assert sandbox.request_count() == 4
    assert sandbox.request_count("GET") == 3
    assert sandbox.request_count("get", EMAIL) == 2
    assert sandbox.request_count(path_prefix="/v1/marketing") == 3
    assert sandbox.request_count("GET", EMAIL, status=429) == 1
    entries = sandbox.log.entries
    assert [(e.method, e.status, e.fault) for e in entries[:2]] == [
        ("GET", 429, "429"),
        ("GET", 200, None),
    ]
    stats = requests.get(f"{sandbox.url}/_admin/stats", timeout=10).json()
    assert stats["requests"] == 4
    assert {"method": "POST", "path": EMAIL, "status": 200, "count": 1} in stats["by_route"]
    assert stats["objects"]["email_campaigns"] == 1


def test_reset_clears_faults_latency_log_and_quirks(sandbox: Sandbox) -> None:
    email(sandbox, "GET")
    sandbox.faults.add("GET", "/", 500, count=None)
    sandbox.set_latency(500)
    sandbox.set_quirks("bare_to")
    sandbox.reset()
    assert sandbox.request_count() == 0
    assert sandbox.quirks == frozenset()
    assert logged_get(sandbox).delay == 0  # latency back to none, the 500 fault gone


# --------------------------------------------------------------------------- SPEC syntax & admin


def test_fault_spec_parses_every_option() -> None:
    rules = parse_fault_spec(
        "POST /v1/marketing/campaigns 429 x3 retry_after=2; put /v1/ drop_after_commit;"
        " * /channel-service/v1/touchpoints 503 x*"
    )
    assert [(r.method, r.path_prefix, r.fault, r.count, r.retry_after) for r in rules] == [
        ("POST", "/v1/marketing/campaigns", "429", 3, 2),
        ("PUT", "/v1/", "drop_after_commit", 1, 1),
        ("*", TOUCHPOINTS, "503", None, 1),
    ]


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("GET /v1/", "expected METHOD PATH FAULT"),
        ("GET /v1/ 404", "unknown fault"),
        ("GET /v1/ 429 twice", "unknown option"),
        ("GET v1 429", "start with"),
    ],
)
def test_fault_spec_errors_name_the_rule(spec: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_fault_spec(spec)


def test_admin_faults_endpoint(sandbox: Sandbox) -> None:
    url = f"{sandbox.url}/_admin/faults"
    added = requests.post(url, json={"spec": "GET /v1/marketing 503 x2"}, timeout=10)
    assert added.status_code == 200 and added.json()["pending"][0]["count"] == 2
    single = {"method": "POST", "path_prefix": EMAIL, "fault": "429", "retry_after": 3}
    assert requests.post(url, json=single, timeout=10).status_code == 200
    assert email(sandbox, "GET").status_code == 503
    assert email(sandbox, "POST", json=NEW_EMAIL).headers["Retry-After"] == "3"
    assert requests.post(url, json={"clear": True}, timeout=10).json() == {"pending": []}
    assert email(sandbox, "GET").status_code == 200
    assert requests.post(url, json={"spec": "GET / teapot"}, timeout=10).status_code == 400


def test_admin_rejects_unknown_calls(sandbox: Sandbox) -> None:
    assert requests.post(f"{sandbox.url}/_admin/nope", json={}, timeout=10).status_code == 404
    assert requests.get(f"{sandbox.url}/_admin/reset", timeout=10).status_code == 405
    json_type = {"Content-Type": "application/json"}
    broken = requests.post(f"{sandbox.url}/_admin/tick", data=b"{", headers=json_type, timeout=10)
    assert broken.status_code == 400


def test_unknown_api_path_is_404(sandbox: Sandbox) -> None:
    response = requests.get(f"{sandbox.url}/v2/whatever", timeout=10)
    assert response.status_code == 404


# --------------------------------------------------------------------------- load


def test_100_concurrent_requests_are_served_in_parallel(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.seed_email_campaigns(500)
    # Each request waits in the latency step until all 100 are there together.
    monkeypatch.setattr(sandbox, "latency", GatedLatency(100))
    with ThreadPoolExecutor(max_workers=100) as pool:
        codes = list(
            pool.map(
                lambda i: email(sandbox, "GET", params={"limit": 5, "offset": i}).status_code,
                range(100),
            )
        )
    assert codes == [200] * 100
    assert sandbox.request_count("GET", EMAIL, status=200) == 100


def test_10000_campaigns_seed_and_page_quickly(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Quick by construction, counted rather than timed: seeding validates the fields once
    # (not once per campaign), and a page renders only its own 100 campaigns.
    validations = count_calls(monkeypatch, email_api, "apply_fields")
    renders = count_calls(monkeypatch, email_api, "render")
    sandbox.seed_email_campaigns(10_000)
    assert validations() == 1
    with requests.Session() as session:
        session.auth = AUTH
        last = session.get(
            sandbox.url + EMAIL, params={"limit": 100, "offset": 9_900}, timeout=10
        ).json()
        first = session.get(sandbox.url + EMAIL, params={"limit": 100}, timeout=10).json()
    assert last["total"] == 10_000 and len(last["result"]) == 100
    assert last["result"][-1]["name"] == "seed-10000"
    assert first["result"][0]["name"] == "seed-00001"
    assert renders() == 200
    assert sandbox.request_count("GET", EMAIL) == 2


def count_calls(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> Callable[[], int]:
    """Wrap module.name (still called) and return a function giving how often it ran."""
    real = getattr(module, name)
    calls: list[None] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(None)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return lambda: len(calls)


def test_keep_alive_responses_are_not_delayed_by_nagle(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With Nagle on, the body (a second write after the headers) waits for the client's
    # delayed ACK, ~40 ms per answer: the server's connection socket must have it off.
    connections: list[socket.socket] = []
    real_finish = SandboxServer.finish_request

    def finish_request(server: SandboxServer, request: Any, client_address: Any) -> None:
        connections.append(request)
        real_finish(server, request, client_address)

    monkeypatch.setattr(SandboxServer, "finish_request", finish_request)
    sandbox.seed_email_campaigns(100)
    with requests.Session() as session:
        session.auth = AUTH
        for _ in range(50):
            assert session.get(sandbox.url + EMAIL, params={"limit": 100}, timeout=10).ok
        assert len(connections) == 1  # all 50 answers on one keep-alive connection
        assert connections[0].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    assert sandbox.request_count("GET", EMAIL) == 50


def test_a_sandbox_bug_answers_500_naming_it_and_serving_goes_on(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(request: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(sandbox, "serve", broken)
    response = email(sandbox, "GET")
    assert response.status_code == 500
    assert "sandbox internal error: RuntimeError: boom" in response.json()["message"]
    monkeypatch.undo()
    assert email(sandbox, "GET").status_code == 200


# --------------------------------------------------------------------------- persistence


def test_data_file_keeps_both_apis_write_only_fields_and_clock(tmp_path: Path) -> None:
    data = tmp_path / "nested" / "sandbox.json"
    with Sandbox(data_file=data) as first:
        body = {**NEW_EMAIL, "subject": "secret subject", "send_time": "2099-01-01 00:00:00"}
        created = email(first, "POST", json=body).json()["result"]
        campaign = touchpoint(
            first, "POST", CAMPAIGNS, json={"name": "j", "channel_type": "sms"}
        ).json()
        payload = {"name": "t", "type": "message", "campaign_id": campaign["_id"], "message": "hi"}
        touchpoint(first, "POST", TOUCHPOINTS, json=payload)
        first.tick(3600)
    assert data.is_file()
    with Sandbox(data_file=data) as second:
        assert second.email_campaign(created["campaign_id"])["subject"] == "secret subject"
        assert [tp["message"] for tp in second.touchpoints(campaign["_id"])] == ["hi"]
        assert second.store.clock_offset_s == 3600
        assert second.tick(100 * 365 * 86400) == 1
    with Sandbox(data_file=data) as third:
        assert third.email_campaign(created["campaign_id"])["status"] == 2


def test_data_file_of_another_format_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "sandbox.json"
    data.write_text('{"format": 99}', encoding="utf-8")
    with pytest.raises(ValueError, match="not a sandbox data file"):
        Sandbox(data_file=data).start()


def test_a_data_file_nested_too_deeply_is_refused_by_name(tmp_path: Path) -> None:
    data = tmp_path / "sandbox.json"
    data.write_text("[" * 30_000 + "]" * 30_000, encoding="utf-8")
    with pytest.raises(ValueError, match=r"sandbox.json: not a sandbox data file \(nested too"):
        Sandbox(data_file=data).start()


# --------------------------------------------------------------------------- admin extras


def test_admin_seed_and_quirks(sandbox: Sandbox) -> None:
    seeded = requests.post(
        f"{sandbox.url}/_admin/email/seed", json={"count": 3, "name_prefix": "bulk-"}, timeout=10
    )
    assert seeded.json() == {"created": 3}
    quirks = requests.post(f"{sandbox.url}/_admin/quirks", json={"quirks": ["bare_to"]}, timeout=10)
    assert quirks.json() == {"quirks": ["bare_to"]}
    listed = email(sandbox, "GET").json()["result"]
    assert [c["name"] for c in listed] == ["bulk-00001", "bulk-00002", "bulk-00003"]
    assert isinstance(listed[0]["to"], dict)
    bad = requests.post(f"{sandbox.url}/_admin/quirks", json={"quirks": ["nope"]}, timeout=10)
    assert bad.status_code == 400
