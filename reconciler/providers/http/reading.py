"""reconciler.providers.http.reading: an answer's body read bounded in size and in time.

A gzip bomb stops at MAX_BODY_BYTES after decompression; a server dripping one byte at a
time stops at the body deadline; both fail as errors, never as a hang or an exhausted memory.
"""

from __future__ import annotations

import time
from typing import Final

import requests
from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError
from urllib3.response import BaseHTTPResponse

from reconciler.errors import InvalidResponse

__all__ = ["BODY_DEADLINE_FACTOR", "MAX_BODY_BYTES", "READ_CHUNK", "body_deadline", "read_bounded"]

#: No answer body, after decompression, may be larger: a gzip bomb stops here.
MAX_BODY_BYTES: Final = 64 * 1024 * 1024
READ_CHUNK: Final = 64 * 1024
#: An answer's body must have arrived within this many read timeouts (`body_deadline`).
BODY_DEADLINE_FACTOR: Final = 4


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
