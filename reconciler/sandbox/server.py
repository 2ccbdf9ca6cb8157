"""reconciler.sandbox.server: the `Sandbox` Python API, serving both vendor APIs on loopback.

One threaded server (`handler`) serves both vendor APIs (email and touchpoint) on one port,
wraps them in latency, injected faults and a request log, and offers an unauthenticated
admin API under `/_admin` (loopback only, `admin`) that mirrors the Python methods here.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from reconciler.sandbox import admin, email_api, touchpoint_api
from reconciler.sandbox.faults import FaultRule, Faults, Latency, LogEntry, RequestLog
from reconciler.sandbox.faults import parse_fault_spec as _parse_fault_spec
from reconciler.sandbox.handler import SandboxServer
from reconciler.sandbox.store import (
    TOUCHPOINT_STATUSES,
    Store,
    iso_utc,
    load_file,
    save_file,
)
from reconciler.sandbox.wire import ApiRequest, Reply, json_problem

__all__ = ["DEFAULT_SEED_FIELDS", "HOST", "KNOWN_QUIRKS", "SEED_MAX", "Sandbox"]

HOST = "127.0.0.1"
#: The most objects one seed call inserts: more would hold the store lock for seconds.
SEED_MAX = 100_000
#: Response variants the vendor's docs show besides the usual one (docs/sandbox.md).
KNOWN_QUIRKS = frozenset(
    {"bare_to", "string_sender_id", "float_warm_up", "trailing_comma"}
    | touchpoint_api.TOUCHPOINT_QUIRKS
)
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

DEFAULT_SEED_FIELDS: dict[str, Any] = {
    "campaign_type": email_api.NORMAL_TYPE,
    "to": [{"type": "list", "value": ["all"]}],
    "sender_id": 1,
    "template_invoke_name": "seed_template",
}


class Sandbox:
    """A local emulator of both campaign APIs on loopback, for tests, benches and demos.

    >>> with Sandbox() as sandbox:                       # doctest: +SKIP
    ...     sandbox.faults.add("POST", "/v1/marketing/campaigns", 429, count=2)
    ...     requests.get(sandbox.url + "/v1/marketing/campaigns", auth=("demo-user", "demo-key"))
    """

    def __init__(
        self,
        port: int = 0,
        *,
        latency_ms: float = 0,
        jitter_ms: float = 0,
        data_file: str | Path | None = None,
        api_user: str = "demo-user",
        api_key: str = "demo-key",
        imbrace_api_key: str = "demo-imbrace-key",
        quirks: Iterable[str] = (),
        complete_after_s: float = 60.0,
    ) -> None:
        self.api_user = api_user
        self.api_key = api_key
        self.imbrace_api_key = imbrace_api_key
        self.data_file = Path(data_file) if data_file is not None else None
        self.store = Store(complete_after_s=complete_after_s)
        self.faults = Faults()
        self.log = RequestLog()
        self.latency = Latency(float(latency_ms), float(jitter_ms))
        self._defaults = (float(latency_ms), float(jitter_ms), complete_after_s)
        self._initial_quirks = _check_quirks(quirks)
        self.quirks: frozenset[str] = self._initial_quirks
        self._port = port
        self._server: SandboxServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        where = self.url if self._server else "stopped"
        return f"Sandbox({where})"

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Sandbox:
        """Load `data_file` if it exists, bind 127.0.0.1 and serve in a background thread."""
        if self._server is not None:
            return self
        if self.data_file is not None:
            with self.store.lock:
                load_file(self.store, self.data_file)
        self._server = SandboxServer((HOST, self._port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket, and save `data_file`."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._save()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the sandbox is not running: call start() first")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL of both APIs, `http://127.0.0.1:PORT`."""
        return f"http://{HOST}:{self.port}"

    # ------------------------------------------------------------------ control

    def reset(self) -> None:
        """Empty every store; clear faults and the log; restore latency, quirks and timings."""
        with self.store.lock:
            self.store.clear()
            self.store.complete_after_s = self._defaults[2]
            self._save()
        self.faults.clear()
        self.log.clear()
        self.latency = Latency(self._defaults[0], self._defaults[1])
        self.quirks = self._initial_quirks

    def set_latency(self, ms: float, jitter_ms: float = 0) -> None:
        """Delay every API request by `ms` plus a uniform random 0..`jitter_ms`."""
        if ms < 0 or jitter_ms < 0:
            raise ValueError("latency must not be negative")
        self.latency = Latency(float(ms), float(jitter_ms))

    def set_quirks(self, *quirks: str) -> None:
        """Switch response variants on (see KNOWN_QUIRKS); no argument switches all off."""
        self.quirks = _check_quirks(quirks)

    def add_faults(self, spec: str) -> list[FaultRule]:
        """Queue the rules of a `--faults` SPEC string."""
        rules = _parse_fault_spec(spec)
        for rule in rules:
            self.faults.add_rule(rule)
        return rules

    def request_count(
        self, method: str | None = None, path_prefix: str | None = None, status: int | None = None
    ) -> int:
        """How many API requests matched (admin calls are never counted)."""
        return self.log.count(method, path_prefix, status)

    def tick(self, seconds: float = 0.0) -> int:
        """Advance the sandbox clock by `seconds`, apply due status changes; return how many."""
        with self.store.lock:
            self.store.move_clock(seconds)
            moved = self.store.advance()
            self._save()
        return moved

    @property
    def complete_after_s(self) -> float:
        return self.store.complete_after_s

    @complete_after_s.setter
    def complete_after_s(self, seconds: float) -> None:
        with self.store.lock:
            self.store.complete_after_s = float(seconds)

    # ------------------------------------------------------------------ email data

    def set_email_status(self, campaign_id: int, status: int) -> None:
        """Set an email campaign's status as the vendor would (0, 1, 2 or -1)."""
        with self.store.lock:
            self.store.set_email_status(self._email_record(campaign_id), int(status))
            self._save()

    def edit_email_campaign(self, campaign_id: int, **fields: Any) -> dict[str, Any]:
        """Change fields out of band (as the vendor's UI would), in request form; any status."""
        return _found(self.edit_email_fields(campaign_id, fields), "email", campaign_id)

    def edit_email_fields(
        self, campaign_id: int, fields: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """`edit_email_campaign` with the fields as a mapping (any key); None: no such campaign."""
        return self._edit(self.store.email, int(campaign_id), lambda r: self._edit_email(r, fields))

    def email_campaign(self, campaign_id: int) -> dict[str, Any]:
        """The stored campaign, write-only fields (subject, attachments) included."""
        with self.store.lock:
            self.store.advance()
            return copy.deepcopy(self._email_record(campaign_id))

    def email_campaigns(self) -> list[dict[str, Any]]:
        """Every stored campaign, oldest first, write-only fields included."""
        with self.store.lock:
            self.store.advance()
            return copy.deepcopy(list(self.store.email.values()))

    def seed_email_campaigns(
        self, count: int, *, name_prefix: str = "seed-", **fields: Any
    ) -> list[int]:
        """Insert `count` valid campaigns directly (fast); names are `<prefix>00001`…"""
        _check_count("count", count, SEED_MAX)
        width = max(5, len(str(count)))
        # The longest name seeded goes through the API's own checks (length, Unicode).
        template = {**DEFAULT_SEED_FIELDS, **fields, "name": f"{name_prefix}{count:0{width}d}"}
        try:
            parsed = email_api.apply_fields(email_api.new_record(0, {}, 0.0), template)
        except email_api.EmailApiError as exc:
            raise ValueError(exc.message) from None
        ids: list[int] = []
        with self.store.lock:
            now = self.store.now()
            for index in range(1, count + 1):
                record = email_api.new_record(self.store.new_email_id(), {}, now)
                for key, value in parsed.items():
                    if key not in email_api.SERVER_KEYS:
                        record[key] = copy.deepcopy(value)
                record["name"] = f"{name_prefix}{index:0{width}d}"
                self.store.add_email(record)
                ids.append(record["campaign_id"])
            self._save()
        return ids

    # ------------------------------------------------------------------ touchpoint data

    def set_touchpoint_campaign_status(self, campaign_id: str, status: str) -> None:
        """Set a touchpoint campaign's status: draft, active or completed."""
        self.edit_touchpoint_campaign(campaign_id, status=status)

    def edit_touchpoint_campaign(self, campaign_id: str, **fields: Any) -> dict[str, Any]:
        """Change a touchpoint campaign's status, name or channel_type out of band."""
        return _found(self.edit_touchpoint_fields(campaign_id, fields), "touchpoint", campaign_id)

    def edit_touchpoint_fields(
        self, campaign_id: str, fields: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """`edit_touchpoint_campaign` with the fields as a mapping; None: no such campaign."""
        store = self.store
        return self._edit(store.tp_campaigns, campaign_id, lambda r: _edit_tp(store, r, fields))

    def touchpoint_campaigns(self) -> list[dict[str, Any]]:
        with self.store.lock:
            return copy.deepcopy(list(self.store.tp_campaigns.values()))

    def touchpoints(self, campaign_id: str | None = None) -> list[dict[str, Any]]:
        """Stored touchpoints in creation order, `message` (write-only) included."""
        with self.store.lock:
            if campaign_id is None:
                records = list(self.store.touchpoints.values())
            else:
                ids = self.store.tp_by_campaign.get(campaign_id, [])
                records = [self.store.touchpoints[i] for i in ids]
            return copy.deepcopy(records)

    def seed_touchpoint_campaigns(
        self,
        count: int,
        *,
        touchpoints: int = 0,
        name_prefix: str = "seed-journey-",
        channel_type: str = "whatsapp",
    ) -> list[str]:
        """Insert `count` draft campaigns with `touchpoints` valid message touchpoints each."""
        _check_count("count", count, SEED_MAX)
        _check_count("touchpoints", touchpoints, SEED_MAX // max(count, 1))
        _check_fields({"name_prefix": name_prefix, "channel_type": channel_type})
        ids: list[str] = []
        width = max(5, len(str(count)))
        with self.store.lock:
            stamp = iso_utc(self.store.now())
            for index in range(1, count + 1):
                campaign = {
                    "_id": touchpoint_api.new_id(self.store),
                    "name": f"{name_prefix}{index:0{width}d}",
                    "status": "draft",
                    "channel_type": channel_type,
                    "created_at": stamp,
                    "updated_at": stamp,
                }
                self.store.add_tp_campaign(campaign)
                for position in range(1, touchpoints + 1):
                    self.store.add_touchpoint(
                        {
                            "_id": touchpoint_api.new_id(self.store),
                            "name": f"step {position}",
                            "type": "message",
                            "campaign_id": campaign["_id"],
                            "created_at": stamp,
                            "message": {"text": f"message {position}"},
                        }
                    )
                ids.append(campaign["_id"])
            self._save()
        return ids

    # ------------------------------------------------------------------ serving

    def serve(self, request: ApiRequest) -> Reply:
        """Answer one API request (no latency or faults: the handler applies those)."""
        with self.store.lock:
            if email_api.owns(request.path):
                reply = email_api.handle(
                    self.store,
                    request,
                    api_user=self.api_user,
                    api_key=self.api_key,
                    quirks=self.quirks,
                )
            elif touchpoint_api.owns(request.path):
                reply = touchpoint_api.handle(
                    self.store, request, api_key=self.imbrace_api_key, quirks=self.quirks
                )
            else:
                return Reply(
                    404, {"error": {"code": "not_found", "message": f"no such path {request.path}"}}
                )
            if request.method in _WRITE_METHODS and reply.status < 300:
                self._save()
            return reply

    def log_request(
        self,
        request: ApiRequest,
        query: str,
        status: int,
        fault: str | None,
        *,
        received: float = 0.0,
        delay: float = 0.0,
    ) -> None:
        """Log one API request; `received` is its time.monotonic(), `delay` its latency (s)."""
        method, path, answered = request.method, request.path, time.monotonic()
        entry = LogEntry(method, path, query, status, fault, time.time(), received, delay, answered)
        self.log.record(entry)

    def stats(self) -> dict[str, Any]:
        with self.store.lock:
            counts = {
                "email_campaigns": len(self.store.email),
                "touchpoint_campaigns": len(self.store.tp_campaigns),
                "touchpoints": len(self.store.touchpoints),
            }
        return {
            "requests": len(self.log),
            "by_route": self.log.counters(),
            "objects": counts,
            "pending_faults": self.faults.pending(),
            "latency": {"ms": self.latency.ms, "jitter_ms": self.latency.jitter_ms},
            "quirks": sorted(self.quirks),
        }

    def admin(self, request: ApiRequest) -> Reply:
        """Answer one `/_admin/...` call (`reconciler.sandbox.admin`)."""
        return admin.answer(self, request)

    # ------------------------------------------------------------------ internals

    def _email_record(self, campaign_id: int) -> dict[str, Any]:
        record = self.store.email.get(int(campaign_id))
        if record is None:
            raise KeyError(f"email campaign {campaign_id} not found")
        return record

    def _edit_email(self, record: dict[str, Any], fields: Mapping[str, Any]) -> None:
        """Merge request-form fields (and `status`) into a stored record; ValueError if invalid."""
        changes = {k: v for k, v in fields.items() if k != "status"}
        try:
            merged = email_api.apply_fields(record, changes)
        except email_api.EmailApiError as exc:
            raise ValueError(exc.message) from None
        if "status" in fields:
            status = fields["status"]
            if isinstance(status, bool) or not isinstance(status, int):
                raise ValueError("status must be an integer: 0, 1, 2 or -1")
            self.store.set_email_status(merged, status)
        if changes:
            merged["update_time"] = self.store.now()
        record.update(merged)
        self.store.schedule(record)

    def _edit(
        self, table: Mapping[Any, dict[str, Any]], key: Any, edit: Callable[[dict[str, Any]], None]
    ) -> dict[str, Any] | None:
        """Edit one stored record in place and save; a copy of it, or None if there is none."""
        with self.store.lock:
            record = table.get(key)
            if record is None:
                return None
            edit(record)
            self._save()
            return copy.deepcopy(record)

    def _save(self) -> None:
        if self.data_file is not None:
            with self.store.lock:
                save_file(self.store, self.data_file)


def _check_quirks(quirks: Iterable[str]) -> frozenset[str]:
    chosen = frozenset(quirks)
    unknown = sorted(chosen - KNOWN_QUIRKS)
    if unknown:
        raise ValueError(f"unknown quirk {', '.join(unknown)}: use {sorted(KNOWN_QUIRKS)}")
    return chosen


def _edit_tp(store: Store, record: dict[str, Any], fields: Mapping[str, Any]) -> None:
    unknown = sorted(set(fields) - {"status", "name", "channel_type"})
    if unknown:
        raise ValueError(f"cannot edit {', '.join(unknown)} (status, name, channel_type)")
    if "status" in fields and fields["status"] not in TOUCHPOINT_STATUSES:
        raise ValueError(f"status must be one of {sorted(TOUCHPOINT_STATUSES)}")
    for key in ("name", "channel_type"):
        if key in fields and (not isinstance(fields[key], str) or not fields[key].strip()):
            raise ValueError(f"{key} must be a non-empty string")
    _check_fields(fields)
    record.update(fields)
    record["updated_at"] = iso_utc(store.now())


def _found(record: dict[str, Any] | None, kind: str, campaign_id: object) -> dict[str, Any]:
    if record is None:
        raise KeyError(f"{kind} campaign {campaign_id} not found")
    return record


def _check_count(name: str, value: Any, most: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= most:
        raise ValueError(f"{name} must be a whole number from 0 to {most}, not {value!r}")


def _check_fields(fields: Mapping[str, Any]) -> None:
    """ValueError when a value could not be saved or served as JSON (a lone surrogate, NaN)."""
    problem = json_problem(dict(fields))
    if problem is not None:
        raise ValueError(f"the fields {problem}")
