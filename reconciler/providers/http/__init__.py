"""reconciler.providers.http: the transport both providers share, one `requests.Session` per API.

Everything transport-level lives in this package so the providers only map the wire format:

- `auth`: the credential header (held as a SecretStr) and masking every form of a secret;
- `retries`: the retry policy as a urllib3 `Retry` (configuration, not loops);
- `session`: a pooled adapter on the base URL, a default (connect, read) timeout per call;
- `translate`: the one place answers and requests/urllib3 exceptions become `reconciler.errors`;
- `reading`: an answer's body, bounded in size and in time;
- `client`: `ApiClient`, which sends, logs (masked, `-v`) and translates one call;
- `paging`: every item of a limit/offset list, the pages after the first fetched concurrently.

Retry policy (docs/reference/semantics.md "Retries"): 429 is retried for every method,
POST included, because the server refused before doing anything (`Retry-After` honoured);
5xx and dropped/timed-out connections are retried for GET, PUT, PATCH and DELETE only. A
POST that got a 5xx, a timeout or a dropped connection becomes `OutcomeUnknown`, never a
blind retry: the caller looks the object up by name. A connection that could not even be
opened is retried for every method, since no byte of the request left this machine.

Every name is importable from here, as it was when this package was one module.
"""

from __future__ import annotations

from reconciler.providers.http.auth import (
    MASK,
    SECRET_HEADERS,
    SecretAuth,
    api_key_auth,
    basic_auth,
    bearer_auth,
    make_redactor,
    mask_headers,
    secret_forms,
)
from reconciler.providers.http.client import (
    LOG_BODY_LIMIT,
    ApiClient,
    TransportOptions,
    VendorApi,
    redact_error,
    shielded,
)
from reconciler.providers.http.paging import (
    LIST_WORKERS,
    MAX_PAGES,
    PAGE_LIMIT,
    list_all,
    map_concurrently,
    pages_for,
)
from reconciler.providers.http.reading import (
    BODY_DEADLINE_FACTOR,
    MAX_BODY_BYTES,
    READ_CHUNK,
    body_deadline,
    read_bounded,
)
from reconciler.providers.http.retries import (
    IDEMPOTENT_METHODS,
    MAX_RETRY_AFTER,
    NOTICEABLE_WAIT_S,
    RETRY_STATUSES,
    CampaignRetry,
    RetryConfig,
    make_retry,
)
from reconciler.providers.http.session import (
    CONNECT_TIMEOUT_MAX,
    POOL_MAXSIZE,
    USER_AGENT,
    TimeoutSession,
    make_session,
)
from reconciler.providers.http.translate import (
    ERROR_MESSAGE_LIMIT,
    ERROR_TEXT_LIMIT,
    QUOTE_LIMIT,
    ErrorCodes,
    ErrorHints,
    error_for_response,
    error_for_transport,
    interpret_answer,
    one_line,
    parse_body,
    quote,
    text_of_error_body,
    vendor_error,
)

__all__ = [
    "BODY_DEADLINE_FACTOR",
    "CONNECT_TIMEOUT_MAX",
    "ERROR_MESSAGE_LIMIT",
    "ERROR_TEXT_LIMIT",
    "IDEMPOTENT_METHODS",
    "LIST_WORKERS",
    "LOG_BODY_LIMIT",
    "MASK",
    "MAX_BODY_BYTES",
    "MAX_PAGES",
    "MAX_RETRY_AFTER",
    "NOTICEABLE_WAIT_S",
    "PAGE_LIMIT",
    "POOL_MAXSIZE",
    "QUOTE_LIMIT",
    "READ_CHUNK",
    "RETRY_STATUSES",
    "SECRET_HEADERS",
    "USER_AGENT",
    "ApiClient",
    "CampaignRetry",
    "ErrorCodes",
    "ErrorHints",
    "RetryConfig",
    "SecretAuth",
    "TimeoutSession",
    "TransportOptions",
    "VendorApi",
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
