"""reconciler.sandbox.server: the loopback HTTP server and the `Sandbox` Python API.

One threaded server serves both vendor APIs (email and touchpoint) on one port, wraps them in
latency, injected faults and a request log, and offers an unauthenticated admin API under
`/_admin` (loopback only) that mirrors the Python methods of `Sandbox`.
"""

from __future__ import annotations

import contextlib
import copy
import ipaddress
import logging
import math
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from reconciler.sandbox import email_api, touchpoint_api
from reconciler.sandbox.faults import FaultRule, Faults, Latency, LogEntry, RequestLog
from reconciler.sandbox.faults import parse_fault_spec as _parse_fault_spec
from reconciler.sandbox.store import (
    TOUCHPOINT_STATUSES,
    Store,
    iso_utc,
    load_file,
    save_file,
)
from reconciler.sandbox.wire import ApiRequest, BadBody, Reply, json_problem, parse_json_body

__all__ = ["KNOWN_QUIRKS", "Sandbox"]

log = logging.getLogger("reconciler.sandbox")

HOST = "127.0.0.1"
ADMIN_PREFIX = "/_admin"
MAX_BODY_BYTES = 32 * 1024 * 1024
#: The most objects one seed call inserts: more would hold the store lock for seconds.
SEED_MAX = 100_000
#: More digits than this is over MAX_BODY_BYTES whatever they say (no int() of 5000 digits).
_CONTENT_LENGTH_DIGITS = len(str(MAX_BODY_BYTES)) + 1
_BODY_ERROR_CODES = {411: "length_required", 413: "too_large"}
_LOOPBACK_NAMES = frozenset({"localhost"})
#: Response variants the vendor's docs show besides the usual one (docs/sandbox.md).
KNOWN_QUIRKS = frozenset(
    {"bare_to", "string_sender_id", "float_warm_up", "trailing_comma"}
    | touchpoint_api.TOUCHPOINT_QUIRKS
)
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_FAULT_STATUS = {"429": 429, "500": 500, "503": 503}
_EMAIL_FAULT_BODY = {
    429: {"code": 42900, "message": "Too many requests"},
    500: {"code": 50000, "message": "Internal server error"},
    503: {"code": 50300, "message": "Service unavailable"},
}
_TOUCHPOINT_FAULT_CODE = {429: "rate_limited", 500: "internal_error", 503: "unavailable"}

DEFAULT_SEED_FIELDS: dict[str, Any] = {
    "campaign_type": email_api.NORMAL_TYPE,
    "to": [{"type": "list", "value": ["all"]}],
    "sender_id": 1,
    "template_invoke_name": "seed_template",
}


class _AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status

    def reply(self) -> Reply:
        code = {
            400: "invalid_request",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            415: "unsupported_media_type",
        }
        return Reply(
            self.status,
            {"error": {"code": code.get(self.status, "error"), "message": str(self)}},
        )


def _is_email_path(path: str) -> bool:
    return path == email_api.PREFIX or path.startswith(email_api.PREFIX + "/")


def _body_error(path: str, status: int, message: str) -> Reply:
    """A request-body error (bad length, short body, chunked) in the addressed API's shape."""
    if _is_email_path(path):
        code = email_api.CODES[_BODY_ERROR_CODES.get(status, "bad_json")]
        return Reply(status, {"code": code, "message": message})
    name = _BODY_ERROR_CODES.get(status, "invalid_request")
    return Reply(status, touchpoint_api.error_body(name, message))


def _fault_reply(path: str, status: int, retry_after: int) -> Reply:
    headers = {"Retry-After": str(retry_after)} if status == 429 else {}
    if _is_email_path(path):
        return Reply(status, dict(_EMAIL_FAULT_BODY[status]), headers)
    message = str(_EMAIL_FAULT_BODY[status]["message"])
    body = touchpoint_api.error_body(_TOUCHPOINT_FAULT_CODE[status], message)
    return Reply(status, body, headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    server_version = "campaignctl-sandbox"
    # Headers and body go out as separate writes: with Nagle on, a keep-alive client waits
    # ~40 ms for the delayed ACK on every response.
    disable_nagle_algorithm = True
    # An idle keep-alive connection frees its thread after this many seconds.
    timeout = 30

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log; the request log records what matters."""

    def _read_body(self, path: str) -> bytes | None:
        """The request body, or None after answering an error (the connection then closes).

        Any doubt about where the body ends closes the connection: bytes left unread would be
        parsed as the next request on this keep-alive connection.
        """
        problem = self._body_length_problem(path)
        if isinstance(problem, Reply):
            self.close_connection = True
            self._send(problem)
            return None
        length = problem
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            self.close_connection = True
            message = f"the body ended after {len(body)} of its {length} bytes (Content-Length)"
            self._send(_body_error(path, 400, message))
            return None
        return body

    def _body_length_problem(self, path: str) -> int | Reply:
        """The declared body length, or the error reply for a length that cannot be trusted."""
        if self.headers.get("Transfer-Encoding") is not None:
            message = "Transfer-Encoding is not supported: send the body with a Content-Length"
            return _body_error(path, 411, message)
        values = {v.strip() for v in self.headers.get_all("Content-Length") or []}
        if not values:
            return 0
        raw = values.pop()
        # One value, ASCII digits only: int() would also take " 5", "+5", "1_0" and "٥".
        if values or not (raw.isascii() and raw.isdigit()):
            return _body_error(path, 400, "Content-Length must be one whole number of bytes")
        if len(raw) > _CONTENT_LENGTH_DIGITS or int(raw) > MAX_BODY_BYTES:
            return _body_error(path, 413, f"the body is larger than {MAX_BODY_BYTES} bytes")
        return int(raw)

    def _dispatch(self) -> None:
        try:
            self._dispatch_unguarded()
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception as exc:
            # A sandbox bug must read as one, not as a hang or a silently closed socket.
            log.exception("sandbox internal error on %s %s", self.command, self.path)
            self.close_connection = True
            message = f"sandbox internal error: {type(exc).__name__}: {exc}"
            with contextlib.suppress(OSError):
                self._send(Reply(500, {"code": 50000, "message": message}))

    def _dispatch_unguarded(self) -> None:
        sandbox = self.server.sandbox
        parts = urlsplit(self.path)
        body = self._read_body(parts.path)
        if body is None:
            return
        request = ApiRequest(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            body=body,
            headers=dict(self.headers.items()),
        )
        if request.path == ADMIN_PREFIX or request.path.startswith(ADMIN_PREFIX + "/"):
            self._send(self._admin(sandbox, request))
            return
        delay = sandbox.latency.sample_seconds()
        if delay:
            time.sleep(delay)
        rule = sandbox.faults.take(request.method, request.path)
        fault = rule.fault if rule else None
        # The log is written before the client can see anything, so a test that counts
        # requests right after its call returns never races the server.
        if fault == "drop_before":
            sandbox.log_request(request, parts.query, 0, fault)
            self._drop()
            return
        if rule is not None and fault in _FAULT_STATUS:
            reply = _fault_reply(request.path, _FAULT_STATUS[fault], rule.retry_after)
        else:
            reply = sandbox.serve(request)
        if fault == "drop_after_commit":
            sandbox.log_request(request, parts.query, 0, fault)
            self._drop()
            return
        sandbox.log_request(request, parts.query, reply.status, fault)
        self._send(reply)

    def _admin(self, sandbox: Sandbox, request: ApiRequest) -> Reply:
        try:
            if not ipaddress.ip_address(self.client_address[0]).is_loopback:
                raise _AdminError(404, "no such path")
            return sandbox.admin(request)
        except _AdminError as exc:
            return exc.reply()

    def _send(self, reply: Reply) -> None:
        payload = reply.encode()
        self.send_response(reply.status)
        if reply.status != 204:
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if reply.status != 204 and payload:
            self.wfile.write(payload)

    def _drop(self) -> None:
        """Close the connection without a byte of answer (the client sees a dropped connection)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


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
        self._server: _Server | None = None
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
        self._server = _Server((HOST, self._port), self)
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
        with self.store.lock:
            record = self._email_record(campaign_id)
            self._edit_email(record, fields)
            self._save()
            return copy.deepcopy(record)

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
        with self.store.lock:
            record = self.store.tp_campaigns.get(campaign_id)
            if record is None:
                raise KeyError(f"touchpoint campaign {campaign_id} not found")
            _edit_tp_campaign(self.store, record, fields)
            self._save()
            return dict(record)

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
            if _is_email_path(request.path):
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

    def log_request(self, request: ApiRequest, query: str, status: int, fault: str | None) -> None:
        self.log.record(LogEntry(request.method, request.path, query, status, fault, time.time()))

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
        """Answer one `/_admin/...` call (no auth: the server listens on loopback only).

        A web page the user opens can send requests to 127.0.0.1 too. It cannot set
        `Content-Type: application/json` without a CORS preflight (which this server never
        grants), and a DNS-rebinding page is refused by its Host or Origin header.
        """
        _check_admin_caller(request)
        parts = [p for p in request.path[len(ADMIN_PREFIX) :].split("/") if p]
        if request.method == "GET" and parts == ["stats"]:
            return Reply(200, self.stats())
        if request.method != "POST":
            raise _AdminError(405, f"{request.method} is not allowed on {request.path}")
        body = _admin_body(request)
        match parts:
            case ["reset"]:
                self.reset()
                return Reply(200, {"ok": True})
            case ["tick"]:
                try:
                    moved = self.tick(_number(body.get("seconds", 0), "seconds"))
                except ValueError as exc:
                    raise _AdminError(400, str(exc)) from None
                return Reply(200, {"moved": moved})
            case ["latency"]:
                ms = _number(body.get("ms", 0), "ms")
                jitter = _number(body.get("jitter_ms", 0), "jitter_ms")
                try:
                    self.set_latency(ms, jitter)
                except ValueError as exc:
                    raise _AdminError(400, str(exc)) from None
                return Reply(200, {"ms": ms, "jitter_ms": jitter})
            case ["faults"]:
                return self._admin_faults(body)
            case ["quirks"]:
                quirks = body.get("quirks", [])
                if not isinstance(quirks, list) or not all(isinstance(q, str) for q in quirks):
                    raise _AdminError(400, "quirks must be a list of names")
                try:
                    self.set_quirks(*quirks)
                except ValueError as exc:
                    raise _AdminError(400, str(exc)) from None
                return Reply(200, {"quirks": sorted(self.quirks)})
            case ["email", "seed"]:
                count = body.get("count", 0)
                prefix = body.get("name_prefix", "seed-")
                if not isinstance(prefix, str):
                    raise _AdminError(400, "name_prefix must be a string")
                try:
                    ids = self.seed_email_campaigns(count, name_prefix=prefix)
                except ValueError as exc:
                    raise _AdminError(400, str(exc)) from None
                return Reply(200, {"created": len(ids)})
            case ["email", "campaigns", raw_id]:
                return self._admin_email(raw_id, body)
            case ["touchpoint", "campaigns", campaign_id]:
                return self._admin_touchpoint(campaign_id, body)
        raise _AdminError(404, f"no such admin call {request.path}")

    def _admin_touchpoint(self, campaign_id: str, body: dict[str, Any]) -> Reply:
        # Not edit_touchpoint_campaign(campaign_id, **body): a body key "campaign_id" or
        # "self" would collide with its parameters.
        with self.store.lock:
            record = self.store.tp_campaigns.get(campaign_id)
            if record is None:
                raise _AdminError(404, f"touchpoint campaign {campaign_id} not found")
            try:
                _edit_tp_campaign(self.store, record, body)
            except ValueError as exc:
                raise _AdminError(400, str(exc)) from None
            self._save()
            return Reply(200, touchpoint_api.render_campaign(record))

    def _admin_email(self, raw_id: str, body: dict[str, Any]) -> Reply:
        # An id longer than 64 bits is simply not there (and int() of 5000 digits raises).
        if not (raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 20):
            raise _AdminError(404, f"email campaign {raw_id} not found")
        with self.store.lock:
            record = self.store.email.get(int(raw_id))
            if record is None:
                raise _AdminError(404, f"email campaign {raw_id} not found")
            try:
                self._edit_email(record, body)
            except ValueError as exc:
                raise _AdminError(400, str(exc)) from None
            self._save()
            return Reply(200, {"result": email_api.render(record, self.quirks)})

    def _admin_faults(self, body: dict[str, Any]) -> Reply:
        try:
            if body.get("clear"):
                self.faults.clear()
            if "spec" in body:
                self.add_faults(str(body["spec"]))
            if "fault" in body:
                self.faults.add(
                    str(body.get("method", "*")),
                    str(body.get("path_prefix", "/")),
                    str(body["fault"]),
                    count=body.get("count", 1),
                    retry_after=body.get("retry_after", 1),
                )
        except (TypeError, ValueError) as exc:
            raise _AdminError(400, str(exc)) from None
        return Reply(200, {"pending": self.faults.pending()})

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


def _edit_tp_campaign(store: Store, record: dict[str, Any], fields: Mapping[str, Any]) -> None:
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


def _check_count(name: str, value: Any, most: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= most:
        raise ValueError(f"{name} must be a whole number from 0 to {most}, not {value!r}")


def _check_fields(fields: Mapping[str, Any]) -> None:
    """ValueError when a value could not be saved or served as JSON (a lone surrogate, NaN)."""
    problem = json_problem(dict(fields))
    if problem is not None:
        raise ValueError(f"the fields {problem}")


def _is_loopback_host(host: str) -> bool:
    """Whether a Host/Origin host names this machine (DNS rebinding uses any other name)."""
    host = host.strip().lower().removeprefix("[").removesuffix("]")
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(url: str) -> str:
    try:
        return urlsplit(url.strip()).hostname or ""
    except ValueError:  # "[::1" and the like
        return ""


def _check_admin_caller(request: ApiRequest) -> None:
    host_header = request.header("Host")
    if host_header is not None and not _is_loopback_host(_url_host(f"//{host_header.strip()}")):
        raise _AdminError(403, "the admin API answers only to a loopback Host (127.0.0.1)")
    origin = request.header("Origin")
    if origin is not None and not _is_loopback_host(_url_host(origin)):
        raise _AdminError(403, "the admin API does not answer web pages (Origin is not loopback)")


def _admin_body(request: ApiRequest) -> dict[str, Any]:
    # Required even with an empty body: a page's form or no-cors fetch can send text/plain or
    # form types to 127.0.0.1 without a preflight, but never application/json.
    media_type = (request.header("Content-Type") or "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise _AdminError(
            415, "admin POSTs need Content-Type: application/json (curl -H / requests json=)"
        )
    if not request.body.strip():
        return {}
    try:
        return parse_json_body(request.body)
    except BadBody as exc:
        raise _AdminError(400, str(exc)) from None


def _number(value: Any, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise _AdminError(400, f"{name} must be a finite number >= 0")
    return float(value)
