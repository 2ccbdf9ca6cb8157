"""reconciler.providers.http.translate: the one place answers and transport failures become errors.

An API error body of any JSON shape, a non-JSON body (an HTML error page), a status, and
requests/urllib3 exceptions are turned into `reconciler.errors` classes; secrets are masked
before any text is cut, so no part of one survives the cut.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, SSLError

from reconciler.errors import (
    ApiError,
    AuthError,
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
from reconciler.jsoncodec import loads
from reconciler.providers.http.auth import _identity

__all__ = [
    "ERROR_MESSAGE_LIMIT",
    "ERROR_TEXT_LIMIT",
    "QUOTE_LIMIT",
    "ErrorCodes",
    "ErrorHints",
    "error_for_response",
    "error_for_transport",
    "interpret_answer",
    "one_line",
    "parse_body",
    "quote",
    "text_of_error_body",
    "vendor_error",
]

#: A value of an answer quoted in an error is cut to this many characters before masking,
#: and the masked message to ERROR_MESSAGE_LIMIT: the first cut never shows.
QUOTE_LIMIT: Final = 4000
ERROR_MESSAGE_LIMIT: Final = 600

#: A vendor's error codes and the error each means: each provider passes its own table.
ErrorCodes = Mapping[int | str, type[ApiError]]
_NO_CODES: Final[ErrorCodes] = {}
#: What a vendor tells the user to do about an error, by error class (its own facts, such
#: as which status still takes changes): each provider passes its own table.
ErrorHints = Mapping[type[ApiError], str]
_NO_HINTS: Final[ErrorHints] = {}

_PREFIX: Final[dict[type[ApiError], str]] = {
    AuthError: "credentials rejected",
    ValidationFailed: "request rejected",
    NotFound: "not found",
    ExecutedError: "the campaign can no longer change",
    ConflictError: "request refused",
    RateLimited: "rate limited by the API, still after retries",
}

_HINTS: Final[ErrorHints] = {RateLimited: "wait a minute and rerun"}

_NOT_JSON: Final = object()


def parse_body(content: bytes) -> tuple[Any, str | None]:
    """Return (parsed JSON or None for an empty body, None) or (_NOT_JSON, the parse error)."""
    if not content.strip():
        return None, None
    try:
        return loads(content), None
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
    hints: ErrorHints = _NO_HINTS,
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
    hint = auth_hint if cls is AuthError else hints.get(cls, _HINTS.get(cls))
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
    hints: ErrorHints = _NO_HINTS,
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
        hints=hints,
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
