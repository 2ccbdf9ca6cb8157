"""reconciler.providers.http.retries: the retry policy, as a urllib3 `Retry` (configuration).

docs/reference/semantics.md "Retries": 429 is retried for every method, POST included;
5xx and dropped connections only for the methods safe to repeat.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Final

from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

__all__ = [
    "IDEMPOTENT_METHODS",
    "MAX_RETRY_AFTER",
    "NOTICEABLE_WAIT_S",
    "RETRY_STATUSES",
    "CampaignRetry",
    "RetryConfig",
    "make_retry",
]

log = logging.getLogger(__name__)

IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
RETRY_STATUSES: Final = frozenset({429, *range(500, 600)})
#: A Retry-After beyond this is cut down to it: a run should fail with RateLimited rather
#: than sleep for an hour on one call.
MAX_RETRY_AFTER: Final = 60.0


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
            # INFO: apply shows it in a CI log (cli.progress.retries_shown). Method and path
            # only: no query string, header or body, so nothing secret can be in it.
            cause = f"HTTP {last.status}" if last.status else type(last.error).__name__
            path = (last.url or "").split("?", 1)[0]
            done = len(new.history)
            most = done + new.total if isinstance(new.total, int) else None
            of = f" of {most}" if most is not None else ""
            log.info("retrying %s %s after %s (retry %d%s)", last.method, path, cause, done, of)
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
