"""reconciler.providers.http.session: one pooled, retrying `requests.Session` per API.

Auth, User-Agent, a default (connect, read) timeout on every call, and the retrying adapter
mounted on the base URL; proxies are ignored for a loopback URL (the sandbox).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from reconciler import __version__
from reconciler.providers.http.auth import SecretAuth
from reconciler.providers.http.retries import RetryConfig, make_retry
from reconciler.settings import check_url, is_loopback_host

__all__ = ["CONNECT_TIMEOUT_MAX", "POOL_MAXSIZE", "USER_AGENT", "TimeoutSession", "make_session"]

USER_AGENT: Final = f"campaignctl/{__version__}"
#: At least the list fan-out's worker count, so concurrent page fetches never wait for a socket.
POOL_MAXSIZE: Final = 32
CONNECT_TIMEOUT_MAX: Final = 10.0


class TimeoutSession(requests.Session):
    """A Session that puts its default (connect, read) timeout on every call without one,
    and prepares this client's calls without requests' generic merging (`prepare_call`)."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__()
        self.default_timeout = timeout
        #: merge_environment_settings' answer by (scheme, host): it depends on nothing else.
        self._environment: dict[tuple[str, str], dict[str, Any]] = {}

    def prepare_call(
        self, method: str, url: str, *, params: Mapping[str, Any] | None, json: Any
    ) -> requests.PreparedRequest:
        """`prepare_request(Request(method, url, params=params, json=json))`, the same
        request, built directly from this session's headers, auth, cookies and hooks.

        requests 2.34 merges each setting through a check against a runtime Protocol
        (`isinstance(value, SupportsItems)`), which on Python 3.11 walks the class's
        attributes every time: a quarter of the client's CPU per call. None of it is
        needed here: the call itself brings no headers, auth, cookies or hooks, and the
        session has no params of its own (the generic path is kept in case it ever does).
        """
        if self.params:
            return self.prepare_request(requests.Request(method, url, params=params, json=json))
        # merge_setting drops the params set to None. None for none at all: requests then
        # skips encoding them, and two runtime Protocol checks with it.
        given = {k: v for k, v in (params or {}).items() if v is not None}
        prepared = requests.PreparedRequest()
        prepared.prepare(
            method=method.upper(),
            url=url,
            headers=self.headers,
            params=given or None,
            json=json,
            auth=self.auth,
            cookies=self.cookies,
            hooks=self.hooks,
        )
        return prepared

    def send_settings(self, url: str) -> dict[str, Any]:
        """merge_environment_settings(url, {}, None, None, None), once per scheme and host
        (the proxies and CA bundle it reads from the environment depend on nothing else)."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        if key not in self._environment:
            self._environment[key] = dict(
                self.merge_environment_settings(url, {}, None, None, None)
            )
        cached = self._environment[key]
        return {**cached, "proxies": dict(cached["proxies"])}

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().send(request, **kwargs)


def _timeout_pair(timeout: float) -> tuple[float, float]:
    return (min(timeout, CONNECT_TIMEOUT_MAX), timeout)


def make_session(
    base_url: str,
    auth: SecretAuth,
    *,
    timeout: float = 30.0,
    retry: RetryConfig | None = None,
    option: str = "--api-url",
) -> TimeoutSession:
    """Return a Session for one API: auth, User-Agent, timeout, pooled retrying adapter.

    Plain http:// to a non-loopback host raises InsecureUrlError (commands.md "Credentials"). For a
    loopback URL the proxy variables are ignored, so the sandbox is reached directly.
    """
    base = check_url(base_url, option)
    session = TimeoutSession(_timeout_pair(timeout))
    session.auth = auth
    session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
    session.trust_env = not is_loopback_host(urlsplit(base).hostname)
    adapter = HTTPAdapter(
        pool_connections=4,
        pool_maxsize=POOL_MAXSIZE,
        max_retries=make_retry(retry or RetryConfig()),
    )
    session.mount(base + "/", adapter)
    return session
