"""reconciler.providers.http.session: one pooled, retrying `requests.Session` per API.

Auth, User-Agent, a default (connect, read) timeout on every call, and the retrying adapter
mounted on the base URL; proxies are ignored for a loopback URL (the sandbox).
"""

from __future__ import annotations

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
    """A Session that puts its default (connect, read) timeout on every call without one."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__()
        self.default_timeout = timeout

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
