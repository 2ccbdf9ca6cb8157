"""reconciler.providers.http: one `requests.Session` per API, and the one place errors become ours.

Everything transport-level lives here so the providers only map the wire format: the auth
header (held as a SecretStr and masked everywhere), a default (connect, read) timeout on
every call, a pooled adapter mounted on the base URL, the retry policy as a urllib3 `Retry`
(configuration, not loops), the masked `-v` exchange log, and the translation of
requests/urllib3 exceptions and API error bodies into `reconciler.errors`.

Retry policy (docs/reference/semantics.md "Retries"): 429 is retried for every method,
POST included, because the server refused before doing anything (`Retry-After` honoured);
5xx and dropped/timed-out connections are retried for GET, PUT, PATCH and DELETE only. A
POST that got a 5xx, a timeout or a dropped connection becomes `OutcomeUnknown`, never a
blind retry: the caller looks the object up by name. A connection that could not even be
opened is retried for every method, since no byte of the request left this machine.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import html
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, ParamSpec, TypeVar
from urllib.parse import urlsplit

import requests
from pydantic import SecretStr
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    ConnectTimeoutError,
    DecodeError,
    MaxRetryError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from reconciler import __version__
from reconciler.errors import (
    ApiError,
    AuthError,
    CampaignctlError,
    ConflictError,
    ConnectionFailed,
    ExecutedError,
    InvalidResponse,
    NotFound,
    OutcomeUnknown,
    RateLimited,
    ServerError,
    ValidationFailed,
)
from reconciler.settings import check_url, is_loopback_host

__all__ = [
    "IDEMPOTENT_METHODS",
    "POOL_MAXSIZE",
    "SECRET_HEADERS",
    "USER_AGENT",
    "ApiClient",
    "CampaignRetry",
    "ErrorCodes",
    "RetryConfig",
    "SecretAuth",
    "TimeoutSession",
    "api_key_auth",
    "basic_auth",
    "bearer_auth",
    "body_deadline",
    "error_for_response",
    "error_for_transport",
    "interpret_answer",
    "list_all",
    "make_redactor",
    "make_retry",
    "make_session",
    "map_concurrently",
    "mask_headers",
    "one_line",
    "pages_for",
    "parse_body",
    "quote",
    "read_bounded",
    "redact_error",
    "secret_forms",
    "shielded",
    "text_of_error_body",
    "vendor_error",
]

log = logging.getLogger(__name__)

USER_AGENT: Final = f"campaignctl/{__version__}"
#: At least the list fan-out's worker count, so concurrent page fetches never wait for a socket.
POOL_MAXSIZE: Final = 32
IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
RETRY_STATUSES: Final = frozenset({429, *range(500, 600)})
#: A Retry-After beyond this is cut down to it: a run should fail with RateLimited rather
#: than sleep for an hour on one call.
MAX_RETRY_AFTER: Final = 60.0
CONNECT_TIMEOUT_MAX: Final = 10.0
PAGE_LIMIT: Final = 100
LIST_WORKERS: Final = 32
#: 200,000 objects: a `total` beyond this is a broken answer, not a list to fetch.
MAX_PAGES: Final = 2000
LOG_BODY_LIMIT: Final = 2000
#: No answer body, after decompression, may be larger: a gzip bomb stops here.
MAX_BODY_BYTES: Final = 64 * 1024 * 1024
READ_CHUNK: Final = 64 * 1024
#: An answer's body must have arrived within this many read timeouts (`body_deadline`).
BODY_DEADLINE_FACTOR: Final = 4
#: A value of an answer quoted in an error is cut to this many characters before masking,
#: and the masked message to ERROR_MESSAGE_LIMIT: the first cut never shows.
QUOTE_LIMIT: Final = 4000
ERROR_MESSAGE_LIMIT: Final = 600
MASK: Final = "***"


# --------------------------------------------------------------------------- auth


def _identity(text: str) -> str:
    return text


def _char_pattern(char: str) -> str:
    """Every way one character of a secret may be written in an answer that quotes it.

    As is; percent-encoded (`%2F`); JSON- or Python-escaped (`\\u002f`, `\\x2f`, `\\/`, with
    any number of backslashes, since a repr of an escaped string doubles them); an HTML
    character reference (`&#47;`, `&#x2f;`); `+` for a space. Letter case is left to the
    caller's IGNORECASE: hex digits and the raw key alike.
    """
    code = ord(char)
    alternatives = [re.escape(char), "".join(f"%{byte:02x}" for byte in char.encode())]
    if code < 0x10000:
        alternatives.append(rf"\\+u{code:04x}")
    if code < 0x100:
        alternatives.append(rf"\\+x{code:02x}")
    alternatives += [f"&#0*{code};", f"&#x0*{code:x};"]
    if char == "/":
        alternatives.append(r"\\+/")
    if char == " ":
        alternatives.append(r"\+")
    return "(?:" + "|".join(alternatives) + ")"


def _base64_forms(value: str) -> set[str]:
    """The base64 of a value as a server may re-encode it: standard and URL-safe, no padding."""
    raw = value.encode()
    return {
        base64.b64encode(raw).decode("ascii").rstrip("="),
        base64.urlsafe_b64encode(raw).decode("ascii").rstrip("="),
    }


def secret_forms(value: str) -> set[str]:
    """Every form of one secret that must never be printed, as plain strings.

    The value itself; if it is base64 (a `Basic` token), the same without padding and in
    the URL-safe alphabet; and the value's own base64, standard and URL-safe. Escaped and
    percent-encoded spellings of each are matched by `make_redactor`, not listed here.
    """
    if not value:
        return set()
    forms = {value, value.rstrip("="), value.rstrip("=").replace("+", "-").replace("/", "_")}
    forms |= _base64_forms(value)
    return {form for form in forms if form}


def make_redactor(values: Iterable[str]) -> Callable[[str], str]:
    """Return the one function that masks every form of every secret value in a text.

    Forms: see `secret_forms`; each is matched character by character in any spelling of
    `_char_pattern` (so `s3cr%33t`, `s3cr\\u0033t` and `S3CR3T` are all caught), longest
    first, so a `Basic` token is masked whole rather than around the key inside it.
    """
    forms = sorted({form for value in values for form in secret_forms(value)}, key=len)
    if not forms:
        return _identity
    pattern = re.compile(
        "|".join("".join(_char_pattern(ch) for ch in form) for form in reversed(forms)),
        re.IGNORECASE,
    )

    def redact(text: str) -> str:
        return pattern.sub(MASK, text)

    return redact


class SecretAuth(requests.auth.AuthBase):
    """Sets one credential header (`Authorization: Basic ...`, `x-api-key: ...`).

    The credential never shows in a repr; `redact` masks it, and every value it encodes,
    in any of their forms (`make_redactor`), in any text that quotes a request or an answer.
    """

    def __init__(
        self,
        credential: SecretStr,
        *,
        header: str = "Authorization",
        scheme: str = "",
        secrets: Iterable[SecretStr] = (),
    ) -> None:
        self.header = header
        self.scheme = scheme
        self._credential = credential
        #: Every value that must never be printed: the header credential and what it encodes.
        self.secrets: tuple[SecretStr, ...] = (credential, *secrets)
        self._redact = make_redactor(s.get_secret_value() for s in self.secrets)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        value = self._credential.get_secret_value()
        request.headers[self.header] = f"{self.scheme} {value}" if self.scheme else value
        return request

    def __repr__(self) -> str:
        return f"SecretAuth({self.header!r}, {self.scheme!r}, {MASK!r})"

    def redact(self, text: str) -> str:
        """Return the text with every form of every secret value replaced by the mask."""
        return self._redact(text)


def basic_auth(user: str, key: SecretStr) -> SecretAuth:
    """HTTP Basic `base64(api_user:api_key)`, as the email API documents it."""
    token = base64.b64encode(f"{user}:{key.get_secret_value()}".encode()).decode("ascii")
    return SecretAuth(SecretStr(token), scheme="Basic", secrets=(key,))


def bearer_auth(token: SecretStr) -> SecretAuth:
    """`Authorization: Bearer <token>`."""
    return SecretAuth(token, scheme="Bearer")


def api_key_auth(key: SecretStr, header: str = "x-api-key") -> SecretAuth:
    """A key in a header of its own, as the iMBrace SDK sends `x-api-key: <key>`."""
    return SecretAuth(key, header=header)


#: Request headers whose value is a credential, whatever the API.
SECRET_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "x-api-key"})


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Return the headers with the credential of any credential header masked."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        if name.lower() in ("authorization", "proxy-authorization"):
            scheme = value.split(" ", 1)[0] if " " in value else ""
            out[name] = f"{scheme} {MASK}".strip()
        elif name.lower() in SECRET_HEADERS:
            out[name] = MASK
        else:
            out[name] = value
    return out


# --------------------------------------------------------------------------- retries


@dataclass(frozen=True)
class RetryConfig:
    """How hard to try: attempts after the first, and the exponential backoff unit (s)."""

    retries: int = 5
    backoff: float = 0.5
    backoff_max: float = 30.0


#: A Retry-After wait this long is announced on stderr even without -v.
NOTICEABLE_WAIT_S = 5.0


class CampaignRetry(Retry):
    """urllib3 Retry whose only change is that POST is retried on 429 and nothing else.

    A 429 means the server refused before doing anything, so repeating a create is safe;
    a 5xx or a read error on POST may hide a committed write, so urllib3's default (POST is
    not an allowed method) stands and the caller sees `OutcomeUnknown`.
    """

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if method.upper() == "POST" and not self._is_method_retryable(method):
            return status_code == 429
        return super().is_retry(method, status_code, has_retry_after)

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        seconds = super().get_retry_after(response)
        if seconds is None:
            return None
        seconds = min(seconds, MAX_RETRY_AFTER)
        if seconds >= NOTICEABLE_WAIT_S:
            # Without -v a long Retry-After would look like a hang: say why we wait.
            log.warning("rate limited by the API: waiting %.0f s (Retry-After)", seconds)
        return seconds

    def increment(self, *args: Any, **kwargs: Any) -> CampaignRetry:
        new = super().increment(*args, **kwargs)
        last = new.history[-1] if new.history else None
        if last is not None:
            cause = f"HTTP {last.status}" if last.status else type(last.error).__name__
            log.debug("retrying %s %s after %s", last.method, last.url, cause)
        return new


def make_retry(config: RetryConfig, *, allow_post: bool = False) -> CampaignRetry:
    """Return the Retry policy: 429 + 5xx forced, backoff with jitter, Retry-After honoured.

    `allow_post=True` is for POST calls that change nothing (touchpoint validation).
    """
    methods = IDEMPOTENT_METHODS | {"POST"} if allow_post else IDEMPOTENT_METHODS
    return CampaignRetry(
        total=config.retries,
        connect=config.retries,
        read=config.retries,
        status=config.retries,
        other=0,
        allowed_methods=methods,
        status_forcelist=RETRY_STATUSES,
        backoff_factor=config.backoff,
        backoff_jitter=config.backoff,
        backoff_max=config.backoff_max,
        respect_retry_after_header=True,
        raise_on_status=False,
    )


# --------------------------------------------------------------------------- session


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


# --------------------------------------------------------------------------- translation

#: A vendor's error codes and the error each means: each provider passes its own table.
ErrorCodes = Mapping[int | str, type[ApiError]]
_NO_CODES: Final[ErrorCodes] = {}

_PREFIX: Final[dict[type[ApiError], str]] = {
    AuthError: "credentials rejected",
    ValidationFailed: "request rejected",
    NotFound: "not found",
    ExecutedError: "the campaign has already run and cannot change",
    ConflictError: "request refused",
    RateLimited: "rate limited by the API, still after retries",
}

_HINTS: Final[dict[type[ApiError], str]] = {
    ExecutedError: "only a campaign that is still waiting to send (status 0, draft) can change",
    RateLimited: "wait a minute and rerun",
}

_NOT_JSON: Final = object()


def parse_body(content: bytes) -> tuple[Any, str | None]:
    """Return (parsed JSON or None for an empty body, None) or (_NOT_JSON, the parse error)."""
    if not content.strip():
        return None, None
    try:
        return json.loads(content), None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        return _NOT_JSON, str(exc)
    except RecursionError:
        # 100,000 nested arrays exhaust the parser's stack: a broken answer, not a crash.
        return _NOT_JSON, "nested too deeply to read"


def _code(value: Any) -> int | str | None:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, int | str) and not isinstance(value, bool):
        return value
    return None


#: An error text quoted from an answer is cut to this many characters: one line, readable.
ERROR_TEXT_LIMIT: Final = 300
_MESSAGE_KEYS: Final = ("message", "error_description", "detail", "msg", "title")


def one_line(text: str, limit: int | None = ERROR_TEXT_LIMIT) -> str:
    """Return the text on one line (whitespace runs collapsed), cut to `limit` characters."""
    flat = " ".join(text.split())
    if limit is None or len(flat) <= limit:
        return flat
    return flat[: limit - 1].rstrip() + "…"


def _message_of(body: Mapping[str, Any]) -> str:
    for key in _MESSAGE_KEYS:
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            return value
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        parts = [str(_message_of(e) or e) if isinstance(e, Mapping) else str(e) for e in errors[:5]]
        return "; ".join(parts)
    return ""


def vendor_error(body: Any) -> tuple[int | str | None, str] | None:
    """Return (code, message) of an error body of any JSON shape, or None for a success body.

    Email: `{"code": N, "message": "..."}` (code 0 is success); iMBrace:
    `{"code": "...", "message": "..."}`, and, read generously (the vendor documents only its
    SDK), `{"error": {...}}`, `{"error": "..."}` or `{"message": "..."}` on an error status.
    """
    if not isinstance(body, Mapping):
        return None
    nested = body.get("error")
    if isinstance(nested, Mapping):
        return _code(nested.get("code")), one_line(_message_of(nested), None)
    if isinstance(nested, str) and nested.strip():
        return _code(body.get("code")), one_line(_message_of(body) or nested, None)
    if "code" in body and not ({"result", "count", "data"} & body.keys()):
        code = _code(body.get("code"))
        if code == 0:
            return None
        return code, one_line(_message_of(body), None)
    return None


def text_of_error_body(content: bytes) -> str:
    """Return one line of a non-JSON error body: an HTML page's title or its text, or plain text."""
    text = content[: 64 * 1024].decode("utf-8", "replace")
    if "<" in text and ">" in text:
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
        body = title.group(1) if title and title.group(1).strip() else text
        body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", body, flags=re.IGNORECASE | re.DOTALL)
        text = html.unescape(re.sub(r"<[^>]*>", " ", body))
    # Not cut here: the caller masks secrets first, so a cut never leaves half a key.
    return one_line(text, None)


def _class_for_status(status: int) -> type[ApiError]:
    if status in (401, 403):
        return AuthError
    if status in (400, 422):
        return ValidationFailed
    if status == 404:
        return NotFound
    return ConflictError


def _detail(status: int, code: int | str | None, text: str) -> str:
    tags = f"HTTP {status}" + (f", code {code}" if code is not None else "")
    return f"{text} ({tags})" if text else tags


def error_for_response(
    method: str,
    path: str,
    status: int,
    body: Any,
    *,
    idempotent: bool,
    retry_after: float | None = None,
    auth_hint: str | None = None,
    redact: Callable[[str], str] = _identity,
    body_text: str = "",
    codes: ErrorCodes = _NO_CODES,
) -> ApiError | None:
    """Return the error an answer means, or None for a success body.

    Status decides 429 and 5xx (transport-level facts); otherwise the vendor's code wins
    over the status, since the vendor shows 32112 (a validation error) with HTTP 401.
    `body_text` is the one-line text of an error body that is not a JSON error object.
    """
    found = vendor_error(body)
    if found is None and status < 300:
        return None
    if found is not None:
        code, text = found
    else:
        # No code: a `{"message": ...}` (or `{"detail": ...}`) body still says why.
        quoted = _message_of(body) if isinstance(body, Mapping) else ""
        code, text = None, one_line(quoted, None) or body_text
    kw: dict[str, Any] = {"method": method, "path": path, "status": status, "vendor_code": code}
    # Secrets are masked before the cut to one line, so no part of one survives either.
    detail = _detail(status, code, one_line(redact(text)))
    cls = codes.get(code) if code is not None else None
    if status == 429 or cls is RateLimited:
        return RateLimited(
            f"{_PREFIX[RateLimited]}: {detail}",
            retry_after=retry_after,
            hint=_HINTS[RateLimited],
            **kw,
        )
    if status >= 500:
        if idempotent:
            return ServerError(f"server error, still after retries: {detail}", **kw)
        return OutcomeUnknown(
            f"server error answering {method}: {detail}; it may or may not have taken effect",
            hint="rerun: campaigns are looked up by name before anything is created again",
            **kw,
        )
    if 300 <= status < 400 and found is None:
        return InvalidResponse(f"unexpected redirect: {detail}", **kw)
    cls = cls or _class_for_status(status)
    hint = auth_hint if cls is AuthError else _HINTS.get(cls)
    return cls(f"{_PREFIX.get(cls, 'request refused')}: {detail}", hint=hint, **kw)


def _root_cause(exc: BaseException) -> BaseException:
    """Return the urllib3 reason inside a requests exception (MaxRetryError unwrapped)."""
    inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc
    if isinstance(inner, MaxRetryError) and inner.reason is not None:
        return inner.reason
    return inner


def error_for_transport(
    exc: requests.RequestException,
    method: str,
    path: str,
    *,
    idempotent: bool,
    host: str,
    redact: Callable[[str], str] = _identity,
) -> ApiError:
    """Return the error a transport failure means: nothing sent, or no answer to a request.

    Nothing sent (connection refused, DNS, TLS, connect timeout) is `ConnectionFailed`.
    No answer: `ServerError` for a request safe to repeat, `OutcomeUnknown` for POST.
    """
    cause = _root_cause(exc)
    reason = redact(f"{type(cause).__name__}: {cause}")
    kw: dict[str, Any] = {"method": method, "path": path}
    never_sent = isinstance(exc, requests.exceptions.ConnectTimeout | requests.exceptions.SSLError)
    if never_sent or isinstance(cause, ConnectTimeoutError | SSLError):
        return ConnectionFailed(
            f"cannot reach {host}: {reason}", hint="check the API URL and the network", **kw
        )
    timed_out = isinstance(exc, requests.exceptions.Timeout)
    what = "timed out waiting for the answer" if timed_out else "the connection dropped"
    if idempotent:
        return ServerError(f"no answer from {host}, still after retries: {what} ({reason})", **kw)
    return OutcomeUnknown(
        f"no answer to {method} from {host}: {what} ({reason}); "
        "it may or may not have taken effect",
        hint="rerun: campaigns are looked up by name before anything is created again",
        **kw,
    )


def interpret_answer(
    method: str,
    path: str,
    status: int,
    content: bytes,
    headers: Mapping[str, str],
    *,
    idempotent: bool,
    auth_hint: str | None = None,
    redact: Callable[[str], str] = _identity,
    codes: ErrorCodes = _NO_CODES,
) -> Any:
    """Return an answer's parsed JSON body (None when empty), or raise the error it means.

    A success body that is not JSON (the vendor's own examples include a trailing comma)
    raises InvalidResponse saying where the parse failed, never a JSONDecodeError.
    """
    body, parse_error = parse_body(content)
    error = error_for_response(
        method,
        path,
        status,
        None if body is _NOT_JSON else body,
        idempotent=idempotent,
        retry_after=_retry_after(headers),
        auth_hint=auth_hint,
        redact=redact,
        body_text=text_of_error_body(content) if status >= 300 else "",
        codes=codes,
    )
    if error is not None:
        raise error
    if parse_error is not None:
        # Masked before the cut, so the cut never leaves part of a secret behind.
        snippet = _cut(redact(content[:QUOTE_LIMIT].decode("utf-8", "replace")), 80)
        raise InvalidResponse(
            f"the API answered HTTP {status} with a body that is not JSON ({parse_error}); "
            f"it begins {snippet!r}",
            method=method,
            path=path,
            status=status,
            hint="the vendor's own examples include invalid JSON; report it to the vendor",
        )
    return body


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quote(value: Any) -> str:
    """A value of an answer quoted in an error: its repr, cut to QUOTE_LIMIT characters.

    The cut is generous on purpose: `ApiClient.shield` masks secrets in the whole message
    and only then cuts it to ERROR_MESSAGE_LIMIT, so no part of a secret survives a cut.
    """
    return _cut(repr(value), QUOTE_LIMIT)


def _clip(text: str) -> str:
    return text if len(text) <= LOG_BODY_LIMIT else text[:LOG_BODY_LIMIT] + "...(truncated)"


# --------------------------------------------------------------------------- bounded reads


def body_deadline(timeout: float) -> float:
    """Seconds one answer's body may take in all, from its headers to its last byte.

    The read timeout bounds each wait for a byte, not the sum: a server dripping one byte
    per second would hold a run for as long as it liked. BODY_DEADLINE_FACTOR read
    timeouts (2 minutes at the default 30 s) is far beyond any honest page of 100
    campaigns, and short enough that a stuck run fails rather than hangs.
    """
    return BODY_DEADLINE_FACTOR * timeout


def _too_large(limit: int) -> InvalidResponse:
    return InvalidResponse(
        f"the API's answer is larger than {limit // (1024 * 1024)} MiB "
        f"({limit} bytes, after decompression); refused",
        hint="a campaign list page is a few kilobytes: check the API URL, or report it",
    )


def read_bounded(
    raw: BaseHTTPResponse, *, limit: int, deadline: float, declared: str | None = None
) -> bytes:
    """Return a streamed answer's body, decompressed, refusing one past `limit` bytes or
    one still arriving at `deadline` (time.monotonic()).

    Read with `read1`, which returns as soon as any bytes arrive and inflates at most the
    amount asked for, so neither a gzip bomb nor a drip-fed answer gets past a check.
    Transport failures come out as requests exceptions (as `Session.send` raises them),
    an undecodable body as InvalidResponse.
    """
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            chunk = raw.read1(READ_CHUNK, decode_content=True)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            if time.monotonic() > deadline:
                raise requests.exceptions.ReadTimeout(
                    f"the answer was still arriving after {BODY_DEADLINE_FACTOR} read "
                    f"timeouts ({size} bytes so far)"
                )
            chunks.append(chunk)
    except DecodeError as exc:
        raise InvalidResponse(f"the API's answer cannot be decompressed ({exc})") from None
    except ReadTimeoutError as exc:
        raise requests.exceptions.ReadTimeout(exc) from None
    except (ProtocolError, OSError) as exc:
        raise requests.exceptions.ConnectionError(exc) from None


# --------------------------------------------------------------------------- client


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
        max_body: int = MAX_BODY_BYTES,
    ) -> None:
        self.base_url = check_url(base_url, option)
        self._codes = error_codes
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
        safe = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        prepared = self.session.prepare_request(
            requests.Request(method, self.base_url + path, params=params, json=body)
        )
        self._log_request(prepared)
        started = time.monotonic()
        try:
            env = self.session.merge_environment_settings(prepared.url, {}, None, None, None)
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

    def close(self) -> None:
        self.session.close()


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


# --------------------------------------------------------------------------- paging

_T = TypeVar("_T")
_R = TypeVar("_R")


def map_concurrently(fn: Callable[[_T], _R], items: Sequence[_T], workers: int) -> list[_R]:
    """Return `[fn(item) ...]` in order, run on up to `workers` threads; the first error wins.

    On an error the calls not yet started are cancelled, so a failing list stops quickly.
    """
    if not items:
        return []
    pool = ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="list")
    try:
        futures = [pool.submit(fn, item) for item in items]
        return [future.result() for future in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _page(
    client: ApiClient, path: str, params: Mapping[str, Any], offset: int, items_key: str
) -> tuple[list[Any], int]:
    body = client.request("GET", path, params={**params, "limit": PAGE_LIMIT, "offset": offset})
    items = body.get(items_key) if isinstance(body, Mapping) else None
    total = body.get("total") if isinstance(body, Mapping) else None
    if items is None and isinstance(body, Mapping) and items_key in body:
        items = []
    if not isinstance(items, list) or not isinstance(total, int) or total < 0:
        raise InvalidResponse(
            f'expected {{"{items_key}": [...], "total": N}}, got {quote(body)}',
            method="GET",
            path=path,
        )
    return items, total


def pages_for(total: int, page_size: int) -> int:
    """How many pages of `page_size` hold `total` items (at least one): pure arithmetic."""
    return max(1, -(-total // max(1, page_size)))


def list_all(
    client: ApiClient,
    path: str,
    params: Mapping[str, Any],
    *,
    items_key: str,
    workers: int = LIST_WORKERS,
) -> list[Any]:
    """Return every item of a paged list (limit/offset + total), in the API's order.

    Page one says `total`; the other pages are then fetched concurrently (docs/reference/vendors.md
    "Email routes and auth"): 10,000 objects are 101 requests, 4 round trips deep.
    """
    first, total = _page(client, path, params, 0, items_key)
    # Checked by arithmetic before any list is built: a `total` of 5e9 allocates nothing.
    if pages_for(total, PAGE_LIMIT) > MAX_PAGES:
        raise InvalidResponse(
            f"the API reports {total} objects, more than {MAX_PAGES * PAGE_LIMIT} can be listed",
            method="GET",
            path=path,
        )
    offsets = list(range(PAGE_LIMIT, total, PAGE_LIMIT))
    rest = map_concurrently(
        lambda offset: _page(client, path, params, offset, items_key)[0], offsets, workers
    )
    return [item for page in (first, *rest) for item in page]
