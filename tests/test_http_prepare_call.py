"""providers/http/session.py: `prepare_call` and `send_settings` give exactly what requests'
generic `prepare_request` and `merge_environment_settings` give, for less CPU per call."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from pydantic import SecretStr

from reconciler.providers.http import api_key_auth, basic_auth, make_session

CALLS: list[tuple[str, str, dict[str, Any] | None, Any]] = [
    ("GET", "/v1/marketing/campaigns", {"page": 2, "limit": 100}, None),
    ("GET", "/v1/marketing/campaigns", {"page": 1, "name": None, "q": "a b&c=d"}, None),
    ("GET", "/v1/marketing/campaigns", None, None),
    ("GET", "/v1/marketing/campaigns?limit=5", {"name": None}, None),
    ("POST", "/v1/marketing/campaigns", None, {"name": "Ünïcode ✓", "to": [{"type": "tag"}]}),
    ("put", "/channel-service/v1/campaign/abc", {}, {"name": "x"}),
    ("DELETE", "/v1/marketing/campaigns/7", None, None),
]


def _as_tuple(prepared: requests.PreparedRequest) -> tuple[Any, ...]:
    return (
        prepared.method,
        prepared.url,
        dict(prepared.headers),
        prepared.body,
        {k: len(v) for k, v in prepared.hooks.items()},
    )


@pytest.mark.parametrize(("method", "path", "params", "body"), CALLS)
@pytest.mark.parametrize("base", ["http://127.0.0.1:9", "https://email.api.engagelab.cc"])
def test_prepare_call_is_the_request_prepare_request_builds(
    base: str, method: str, path: str, params: dict[str, Any] | None, body: Any
) -> None:
    for auth in (basic_auth("u", SecretStr("k")), api_key_auth(SecretStr("t"))):
        session = make_session(base, auth)
        session.cookies.set("sticky", "lb-1")  # a load balancer's cookie goes back, as before
        generic = session.prepare_request(
            requests.Request(method, base + path, params=params, json=body)
        )
        direct = session.prepare_call(method, base + path, params=params, json=body)
        assert _as_tuple(direct) == _as_tuple(generic)
        assert "Cookie" in direct.headers


def test_a_call_without_params_encodes_none(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests encodes even an empty dict of params, through two runtime Protocol checks
    (`SupportsRead`, `SupportsItems`) that walk their class on every call."""
    encoded: list[Any] = []
    real = requests.PreparedRequest._encode_params
    monkeypatch.setattr(
        requests.PreparedRequest,
        "_encode_params",
        staticmethod(lambda data: encoded.append(data) or real(data)),
    )
    session = make_session("http://127.0.0.1:9", api_key_auth(SecretStr("t")))
    for params in (None, {}, {"name": None}):
        prepared = session.prepare_call("POST", "http://127.0.0.1:9/x", params=params, json={})
        assert prepared.url == "http://127.0.0.1:9/x"
    assert encoded == []
    session.prepare_call("GET", "http://127.0.0.1:9/x", params={"a": 1}, json=None)
    assert encoded == [{"a": 1}]


def test_a_session_with_params_of_its_own_takes_the_generic_path() -> None:
    session = make_session("http://127.0.0.1:9", api_key_auth(SecretStr("t")))
    session.params = {"region": "sg"}
    prepared = session.prepare_call("GET", "http://127.0.0.1:9/x", params={"a": 1}, json=None)
    assert prepared.url == "http://127.0.0.1:9/x?region=sg&a=1"


def test_send_settings_equal_the_environment_merge_and_are_read_once_per_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "bypassed.example")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/team-ca.pem")
    session = make_session("https://email.api.engagelab.cc", api_key_auth(SecretStr("t")))
    merges: list[str] = []
    original = session.merge_environment_settings

    def counted(url: str, *args: Any) -> dict[str, Any]:
        merges.append(url)
        return original(url, *args)

    monkeypatch.setattr(session, "merge_environment_settings", counted)
    for url in ("https://email.api.engagelab.cc/v1/a", "https://bypassed.example/v1/b"):
        expected = original(url, {}, None, None, None)
        for _ in range(3):
            settings = session.send_settings(url)
            assert settings == expected
            settings["stream"] = True  # the caller's copy: the cached one is not changed
            settings["proxies"]["http"] = "changed"
    assert expected["verify"] == "/etc/ssl/team-ca.pem"
    proxies = session.send_settings("https://email.api.engagelab.cc/v1/c")["proxies"]
    assert proxies["https"] == "http://proxy.internal:3128"
    assert "http" not in proxies
    assert merges == ["https://email.api.engagelab.cc/v1/a", "https://bypassed.example/v1/b"]
