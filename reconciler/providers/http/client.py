"""reconciler.providers.http.client: `ApiClient`, JSON over one Session with a masked `-v` log.

It sends one call, reads the body bounded, logs request and answer with secrets masked, and
returns the parsed body or raises the error `translate` says it means; `shield` masks
secrets in any error raised by a provider's own decoding.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, ParamSpec, TypedDict, TypeVar
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from reconciler.errors import CampaignctlError, ConnectionFailed, InvalidResponse
from reconciler.providers.http.auth import SecretAuth, mask_headers
from reconciler.providers.http.reading import MAX_BODY_BYTES, body_deadline, read_bounded
from reconciler.providers.http.retries import IDEMPOTENT_METHODS, RetryConfig, make_retry
from reconciler.providers.http.session import POOL_MAXSIZE, make_session
from reconciler.providers.http.translate import (
    _NO_CODES,
    _NO_HINTS,
    ERROR_MESSAGE_LIMIT,
    ErrorCodes,
    ErrorHints,
    error_for_transport,
    interpret_answer,
    one_line,
)
from reconciler.settings import check_url

__all__ = [
    "LOG_BODY_LIMIT",
    "ApiClient",
    "TransportOptions",
    "VendorApi",
    "redact_error",
    "shielded",
]

log = logging.getLogger(__name__)

LOG_BODY_LIMIT: Final = 2000


def _clip(text: str) -> str:
    return text if len(text) <= LOG_BODY_LIMIT else text[:LOG_BODY_LIMIT] + "...(truncated)"


class ApiClient:
    """JSON over one Session: send, log (masked), translate errors, return the parsed body.

    >>> client = ApiClient("http://127.0.0.1:8080", bearer_auth(SecretStr("t")))  # doctest: +SKIP
    >>> client.request("GET", "/v1/campaigns", params={"limit": 100})  # doctest: +SKIP
    """

    def __init__(
        self,
        base_url: str,
        auth: SecretAuth,
        *,
        timeout: float = 30.0,
        retry: RetryConfig | None = None,
        auth_hint: str | None = None,
        option: str = "--api-url",
        error_codes: ErrorCodes = _NO_CODES,
        error_hints: ErrorHints = _NO_HINTS,
        max_body: int = MAX_BODY_BYTES,
    ) -> None:
        self.base_url = check_url(base_url, option)
        self._codes = error_codes
        self._hints = error_hints
        self.host = urlsplit(self.base_url).netloc
        self._auth = auth
        self._retry = retry or RetryConfig()
        self._auth_hint = auth_hint
        self.session = make_session(
            self.base_url, auth, timeout=timeout, retry=self._retry, option=option
        )
        #: Bounds on one answer's body, after decompression and in total time.
        self.max_body = max_body
        self.body_deadline = body_deadline(timeout)
        self._abandoned = threading.Event()

    def __repr__(self) -> str:
        return f"ApiClient({self.base_url!r}, auth={self._auth!r})"

    def mount_safe_post(self, path: str) -> None:
        """Let POSTs to `path` be retried like a GET (for calls that change nothing)."""
        adapter = HTTPAdapter(
            pool_connections=1,
            pool_maxsize=POOL_MAXSIZE,
            max_retries=make_retry(self._retry, allow_post=True),
        )
        self.session.mount(self.base_url + path, adapter)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send one call and return its parsed JSON body (None when empty, e.g. a 204).

        Raises an `ApiError` subclass for every failure; never a requests exception.
        """
        method = method.upper()
        if self._abandoned.is_set():
            raise ConnectionFailed("not sent: the run no longer needs it", method=method, path=path)
        safe = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        prepared = self.session.prepare_call(method, self.base_url + path, params=params, json=body)
        self._log_request(prepared)
        started = time.monotonic()
        try:
            env = self.session.send_settings(self.base_url)
            env["stream"] = True  # the body is read here, bounded in size and time
            response = self.session.send(prepared, allow_redirects=False, **env)
            try:
                content = read_bounded(
                    response.raw,
                    limit=self.max_body,
                    deadline=time.monotonic() + self.body_deadline,
                    declared=response.headers.get("Content-Length"),
                )
            finally:
                response.close()
        except requests.RequestException as exc:
            error = error_for_transport(
                exc, method, path, idempotent=safe, host=self.host, redact=self._auth.redact
            )
            log.debug("<-- %s %s failed after %.0f ms: %s", method, path, _ms(started), error)
            raise error from None
        except InvalidResponse as exc:
            exc.method, exc.path, exc.status = method, path, response.status_code
            exc.where = f"{method} {path}"
            raise
        self._log_response(response, content, started)
        return interpret_answer(
            method,
            path,
            response.status_code,
            content,
            response.headers,
            idempotent=safe,
            auth_hint=self._auth_hint,
            redact=self._auth.redact,
            codes=self._codes,
            hints=self._hints,
        )

    def _log_request(self, prepared: requests.PreparedRequest) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return
        body = prepared.body
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
        log.debug(
            "--> %s %s %s %s",
            prepared.method,
            prepared.url,
            self._auth.redact(str(mask_headers(prepared.headers))),
            _clip(self._auth.redact(text[: LOG_BODY_LIMIT * 4])),
        )

    def _log_response(self, response: requests.Response, content: bytes, started: float) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return
        log.debug(
            "<-- %s %s %s (%.0f ms) %s",
            response.status_code,
            response.request.method,
            response.request.path_url,
            _ms(started),
            _clip(self._auth.redact(content[: LOG_BODY_LIMIT * 4].decode("utf-8", "replace"))),
        )

    def redact(self, text: str) -> str:
        """Mask every form of this client's secrets (`make_redactor`)."""
        return self._auth.redact(text)

    @contextlib.contextmanager
    def shield(self) -> Iterator[None]:
        """Mask this client's secrets in any campaignctl error raised inside, then cut it.

        Providers wrap every public call in it, so an error that quotes an answer (a decode
        error's `got {...}`, a vendor message) never prints a secret the server echoed.
        """
        try:
            yield
        except CampaignctlError as exc:
            raise redact_error(exc, self._auth.redact) from None

    def abandon(self) -> None:
        """Send nothing more: each later `request` fails at once (calls in flight finish).

        For a read started ahead of need (`workflow.build_plan` lists live campaigns while
        the config loads) whose result the run no longer wants: the pages not yet
        requested are never sent, so a failed run neither waits for them nor loads the API.
        """
        self._abandoned.set()

    def close(self) -> None:
        self.session.close()


class TransportOptions(TypedDict, total=False):
    """How a provider sends its calls: `timeout` (s) of one call, `retries` after the first
    and the `backoff` unit (s) between them; unset ones take `VendorApi.client`'s defaults."""

    timeout: float
    retries: int
    backoff: float


@dataclass(frozen=True)
class VendorApi:
    """What the transport knows of one vendor's API, declared by its provider: the option
    that names its URL, what to check when credentials are rejected, its error codes and
    the hints its errors carry."""

    option: str
    auth_hint: str
    codes: ErrorCodes = field(default_factory=dict)
    hints: ErrorHints = field(default_factory=dict)

    def client(
        self,
        base_url: str,
        auth: SecretAuth,
        *,
        timeout: float = 30.0,
        retries: int = 5,
        backoff: float = 0.5,
    ) -> ApiClient:
        """An `ApiClient` for this API at `base_url`, retrying as the options say."""
        return ApiClient(
            base_url,
            auth,
            timeout=timeout,
            retry=RetryConfig(retries=retries, backoff=backoff),
            auth_hint=self.auth_hint,
            option=self.option,
            error_codes=self.codes,
            error_hints=self.hints,
        )


def redact_error(exc: CampaignctlError, redact: Callable[[str], str]) -> CampaignctlError:
    """Mask secrets in an error's message and hint (in place), then cut the message."""
    exc.message = one_line(redact(exc.message), ERROR_MESSAGE_LIMIT)
    exc.args = (exc.message,)
    if exc.hint:
        exc.hint = redact(exc.hint)
    if exc.where:
        exc.where = redact(exc.where)
    return exc


_P = ParamSpec("_P")
_Ret = TypeVar("_Ret")


def shielded(method: Callable[_P, _Ret]) -> Callable[_P, _Ret]:
    """Run a provider method inside its client's `shield` (the provider's `_client`)."""

    @functools.wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _Ret:
        client: ApiClient = args[0]._client  # type: ignore[attr-defined]
        with client.shield():
            return method(*args, **kwargs)

    return wrapper


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000
