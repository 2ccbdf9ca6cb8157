"""reconciler.sandbox.handler: the sandbox's HTTP request handler, around the API modules.

It reads a request's body only when its length can be trusted, sends `/_admin` calls to the
admin API, applies latency and injected faults, writes the request log, and answers (or
drops the connection, for the `drop_*` faults). docs/sandbox.md describes the faults.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from reconciler.sandbox import admin, email_api, touchpoint_api
from reconciler.sandbox.wire import ApiRequest, Reply

if TYPE_CHECKING:
    from reconciler.sandbox.server import Sandbox

__all__ = ["ADMIN_PREFIX", "MAX_BODY_BYTES", "SandboxServer"]

log = logging.getLogger("reconciler.sandbox")

ADMIN_PREFIX = admin.PREFIX
MAX_BODY_BYTES = 32 * 1024 * 1024
#: More digits than this is over MAX_BODY_BYTES whatever they say (no int() of 5000 digits).
_CONTENT_LENGTH_DIGITS = len(str(MAX_BODY_BYTES)) + 1
_BODY_ERROR_CODES = {411: "length_required", 413: "too_large"}

_FAULT_STATUS = {"429": 429, "500": 500, "503": 503}
_EMAIL_FAULT_BODY = {
    429: {"code": 42900, "message": "Too many requests"},
    500: {"code": 50000, "message": "Internal server error"},
    503: {"code": 50300, "message": "Service unavailable"},
}
_TOUCHPOINT_FAULT_CODE = {429: "rate_limited", 500: "internal_error", 503: "unavailable"}


def _body_error(path: str, status: int, message: str) -> Reply:
    """A request-body error (bad length, short body, chunked) in the addressed API's shape."""
    if email_api.owns(path):
        code = email_api.CODES[_BODY_ERROR_CODES.get(status, "bad_json")]
        return Reply(status, {"code": code, "message": message})
    name = _BODY_ERROR_CODES.get(status, "invalid_request")
    return Reply(status, touchpoint_api.error_body(name, message))


def _fault_reply(path: str, status: int, retry_after: int) -> Reply:
    headers = {"Retry-After": str(retry_after)} if status == 429 else {}
    if email_api.owns(path):
        return Reply(status, dict(_EMAIL_FAULT_BODY[status]), headers)
    message = str(_EMAIL_FAULT_BODY[status]["message"])
    body = touchpoint_api.error_body(_TOUCHPOINT_FAULT_CODE[status], message)
    return Reply(status, body, headers)


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SandboxServer
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
        received = time.monotonic()
        delay = sandbox.latency.sample_seconds()
        if delay:
            time.sleep(delay)
        rule = sandbox.faults.take(request.method, request.path)
        fault = rule.fault if rule else None

        def log_as(status: int) -> None:
            sandbox.log_request(request, parts.query, status, fault, received=received, delay=delay)

        # The log is written before the client can see anything, so a test that counts
        # requests right after its call returns never races the server.
        if fault == "drop_before":
            log_as(0)
            self._drop()
            return
        if rule is not None and fault in _FAULT_STATUS:
            reply = _fault_reply(request.path, _FAULT_STATUS[fault], rule.retry_after)
        else:
            reply = sandbox.serve(request)
        if fault == "drop_after_commit":
            log_as(0)
            self._drop()
            return
        log_as(reply.status)
        self._send(reply)

    def _admin(self, sandbox: Sandbox, request: ApiRequest) -> Reply:
        if not ipaddress.ip_address(self.client_address[0]).is_loopback:
            return admin.AdminError(404, "no such path").reply()
        return sandbox.admin(request)

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
