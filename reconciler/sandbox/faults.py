"""reconciler.sandbox.faults: injected faults, latency, and the request log with counters.

A fault rule answers the next `count` requests whose method and path prefix match: `429`
(with Retry-After), `500`, `503`, `drop_before` (connection closed, nothing done) or
`drop_after_commit` (the write is done, then the connection is closed with no answer).
The textual form (`--faults SPEC`) is documented in docs/sandbox.md.
"""

from __future__ import annotations

import math
import random
import re
import shlex
import threading
from collections import Counter, deque
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "FAULT_KINDS",
    "LATENCY_MAX_MS",
    "RETRY_AFTER_MAX",
    "FaultRule",
    "Faults",
    "Latency",
    "LogEntry",
    "RequestLog",
    "parse_fault_spec",
]

FAULT_KINDS = frozenset({"429", "500", "503", "drop_before", "drop_after_commit"})
_HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "*"})
#: A longer latency would hold every request thread (time.sleep of 1e297 s raises, 1e9 s hangs).
LATENCY_MAX_MS = 60_000.0
#: A Retry-After beyond an hour would make a client wait as if the sandbox were gone.
RETRY_AFTER_MAX = 3600
_SPEC_NUMBER = re.compile(r"[0-9]{1,9}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class FaultRule:
    """Answer the next `count` matching requests with `fault` (count None: every one)."""

    method: str
    path_prefix: str
    fault: str
    count: int | None = 1
    retry_after: int = 1

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        self.fault = str(self.fault)
        if self.fault not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.fault!r}: use one of {sorted(FAULT_KINDS)}")
        if self.method not in _HTTP_METHODS:
            raise ValueError(f"unknown method {self.method!r}: use one of {sorted(_HTTP_METHODS)}")
        if not self.path_prefix.startswith("/"):
            raise ValueError(f"path prefix must start with '/', got {self.path_prefix!r}")
        # A float count (1.5) would never reach 0 and fault every request forever.
        if self.count is not None and (not _is_int(self.count) or self.count < 1):
            raise ValueError(f"count must be a whole number of at least 1, not {self.count!r}")
        if not _is_int(self.retry_after) or not 0 <= self.retry_after <= RETRY_AFTER_MAX:
            raise ValueError(
                f"retry_after must be whole seconds from 0 to {RETRY_AFTER_MAX}, "
                f"not {self.retry_after!r}"
            )

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and path.startswith(self.path_prefix)


class Faults:
    """The pending fault rules, consumed in the order they were added (thread-safe)."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def add(
        self,
        method: str,
        path_prefix: str,
        fault: str | int,
        count: int | None = 1,
        retry_after: int = 1,
    ) -> FaultRule:
        """Queue a fault for the next `count` requests matching method and path prefix."""
        rule = FaultRule(method, path_prefix, str(fault), count, retry_after)
        with self._lock:
            self._rules.append(rule)
        return rule

    def add_rule(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules.append(rule)

    def take(self, method: str, path: str) -> FaultRule | None:
        """Return the fault for this request, if any, using up one of its count."""
        with self._lock:
            for index, rule in enumerate(self._rules):
                if rule.matches(method, path):
                    if rule.count is not None:
                        rule.count -= 1
                        if rule.count == 0:
                            del self._rules[index]
                    return rule
        return None

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(rule) for rule in self._rules]


@dataclass
class Latency:
    """Fixed latency plus uniform random jitter, in milliseconds."""

    ms: float = 0.0
    jitter_ms: float = 0.0

    def __post_init__(self) -> None:
        for name, value in (("latency", self.ms), ("jitter", self.jitter_ms)):
            if not math.isfinite(value) or not 0 <= value <= LATENCY_MAX_MS:
                raise ValueError(f"{name} must be 0 to {LATENCY_MAX_MS:g} ms, not {value!r}")

    def sample_seconds(self) -> float:
        extra = random.uniform(0.0, self.jitter_ms) if self.jitter_ms > 0 else 0.0
        return max(0.0, self.ms + extra) / 1000.0


@dataclass(frozen=True)
class LogEntry:
    """One answered (or dropped: status 0) API request.

    `at` is the wall-clock time it was logged; `received` and `answered` are time.monotonic()
    readings (request read, answer decided) and `delay` the latency applied, in seconds, so
    a test can show what the sandbox did (overlaps, gaps, delays) without timing itself.
    """

    method: str
    path: str
    query: str
    status: int
    fault: str | None
    at: float
    received: float = 0.0
    delay: float = 0.0
    answered: float = 0.0


class RequestLog:
    """Every API request (admin calls excluded), bounded, with exact counters."""

    def __init__(self, maxlen: int = 100_000) -> None:
        self._entries: deque[LogEntry] = deque(maxlen=maxlen)
        self._counts: Counter[tuple[str, str, int]] = Counter()
        self._lock = threading.Lock()

    def record(self, entry: LogEntry) -> None:
        with self._lock:
            self._entries.append(entry)
            self._counts[(entry.method, entry.path, entry.status)] += 1

    @property
    def entries(self) -> list[LogEntry]:
        with self._lock:
            return list(self._entries)

    def __iter__(self) -> Any:
        return iter(self.entries)

    def __len__(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def count(
        self, method: str | None = None, path_prefix: str | None = None, status: int | None = None
    ) -> int:
        with self._lock:
            return sum(
                n
                for (m, p, s), n in self._counts.items()
                if (method is None or m == method.upper())
                and (path_prefix is None or p.startswith(path_prefix))
                and (status is None or s == status)
            )

    def counters(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"method": m, "path": p, "status": s, "count": n}
                for (m, p, s), n in sorted(self._counts.items())
            ]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._counts.clear()


def parse_fault_spec(spec: str) -> list[FaultRule]:
    """Parse `--faults`: rules separated by `;`, each `METHOD PATH FAULT [xN|x*] [retry_after=S]`.

    Example: `POST /v1/marketing/campaigns 429 x2 retry_after=1; PUT /v1/ drop_after_commit`.
    """
    rules: list[FaultRule] = []
    for part in spec.split(";"):
        tokens = shlex.split(part)
        if not tokens:
            continue
        if len(tokens) < 3:
            raise ValueError(f"fault rule {part.strip()!r}: expected METHOD PATH FAULT [xN]")
        method, path, fault, *options = tokens
        count: int | None = 1
        retry_after = 1
        for option in options:
            if option == "x*":
                count = None
            elif option.startswith("x") and _SPEC_NUMBER.fullmatch(option[1:]):
                count = int(option[1:])
            elif option.startswith("retry_after=") and _SPEC_NUMBER.fullmatch(
                option.partition("=")[2]
            ):
                retry_after = int(option.partition("=")[2])
            else:
                raise ValueError(
                    f"fault rule {part.strip()!r}: unknown option {option!r} "
                    "(use xN, x* or retry_after=S)"
                )
        try:
            rules.append(FaultRule(method, path, fault, count, retry_after))
        except ValueError as exc:
            raise ValueError(f"fault rule {part.strip()!r}: {exc}") from None
    return rules
