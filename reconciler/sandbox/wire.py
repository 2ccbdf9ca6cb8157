"""reconciler.sandbox.wire: the request and reply values passed between server and API modules.

The API modules never touch sockets: they take an `ApiRequest` and return a `Reply`, which
keeps them testable and lets the server apply latency and faults around them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ApiRequest", "BadBody", "Reply", "first_query_value", "parse_json_body"]


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


def parse_json_body(body: bytes) -> dict[str, Any]:
    """Return the body as a JSON object; raise BadBody for anything else."""
    if not body.strip():
        raise BadBody("the request body is empty (a JSON object is required)")
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadBody(f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise BadBody("the request body must be a JSON object")
    return value


def first_query_value(query: Mapping[str, list[str]], name: str) -> str | None:
    """Return a query parameter's first non-empty value, or None when absent or empty."""
    values = query.get(name) or []
    for value in values:
        if value != "":
            return value
    return None
