"""reconciler.sandbox.wire: the request and reply values passed between server and API modules.

The API modules never touch sockets: they take an `ApiRequest` and return a `Reply`, which
keeps them testable and lets the server apply latency and faults around them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.collector import collector_paused

__all__ = [
    "INT_MAX",
    "MAX_DEPTH",
    "ApiRequest",
    "BadBody",
    "Reply",
    "first_query_value",
    "json_problem",
    "parse_json_body",
]

#: Deepest nesting a body may have; the vendors' documents nest four levels at most.
MAX_DEPTH = 32
#: JSON integers must fit 64 bits (signed or unsigned: ids up to 2**64 - 1 pass), as on any
#: real server; the bound also keeps int() away from 5000-digit numbers.
INT_MAX = 2**64 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class ApiRequest:
    """One HTTP request as the server read it (path without query, query parsed)."""

    method: str
    path: str
    query: Mapping[str, list[str]] = field(default_factory=dict)
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None


@dataclass
class Reply:
    """What to answer: status, a JSON-able body (None: no body) and extra headers.

    `raw` replaces the JSON encoding of `body` (the vendor's invalid-JSON quirk uses it).
    """

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None

    def encode(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.body is None:
            return b""
        return json.dumps(self.body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class BadBody(ValueError):
    """The request body is not a JSON object."""


def _no_constant(name: str) -> Any:
    raise BadBody(f"the request body holds {name}, which is not a JSON number")


def _shown(text: str) -> str:
    return text if len(text) <= 40 else text[:40] + "…"


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadBody(f"the request body holds the number {_shown(text)}, too large for a float")
    return value


def _bounded_int(text: str) -> int:
    # The length test comes first: int() of a 5000-digit string is slow, then refused.
    value = int(text) if len(text.lstrip("-")) <= len(str(INT_MAX)) else None
    if value is None or not -INT_MAX <= value <= INT_MAX:
        raise BadBody(f"the request body holds the number {_shown(text)}, outside 64-bit range")
    return value


def parse_json_body(body: bytes) -> dict[str, Any]:
    """Return the body as a JSON object; raise BadBody for anything else.

    Anything the sandbox could not store, render or save is refused here, before any handler
    sees it: invalid UTF-8, lone surrogates (`"\\ud800"`), NaN/Infinity, floats that overflow,
    integers outside 64 bits, and nesting deeper than MAX_DEPTH.
    """
    if not body.strip():
        raise BadBody("the request body is empty (a JSON object is required)")
    try:
        with collector_paused():  # a RecursionError runs no finalizer at its depth
            value = json.loads(
                body.decode("utf-8"),
                parse_constant=_no_constant,
                parse_float=_finite_float,
                parse_int=_bounded_int,
            )
    except RecursionError:
        raise BadBody(f"the request body nests deeper than {MAX_DEPTH} levels") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadBody(f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise BadBody("the request body must be a JSON object")
    problem = json_problem(value)
    if problem is not None:
        raise BadBody(f"the request body {problem}")
    return value


def json_problem(value: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """Why `value` could not be stored and served back as JSON, or None when it can.

    Iterative (a deep value must not exhaust the stack): every string and key must be valid
    Unicode scalar values (UTF-8 cannot encode a lone surrogate), every float finite, the
    nesting at most `max_depth`.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return "holds a string that is not valid Unicode (a lone surrogate)"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "holds a number that is not finite"
        elif isinstance(item, dict | list):
            if depth > max_depth:
                return f"nests deeper than {max_depth} levels"
            if isinstance(item, dict):
                stack.extend((key, depth) for key in item)
                stack.extend((child, depth + 1) for child in item.values())
            else:
                stack.extend((child, depth + 1) for child in item)
    return None


def first_query_value(query: Mapping[str, list[str]], name: str) -> str | None:
    """Return a query parameter's first non-empty value, or None when absent or empty."""
    values = query.get(name) or []
    for value in values:
        if value != "":
            return value
    return None
