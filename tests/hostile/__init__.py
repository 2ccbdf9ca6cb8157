"""A hostile HTTP server on loopback whose every answer a test scripts.

The sandbox (`reconciler.sandbox`) emulates the vendors faithfully; this server does what
no vendor should: echoes the request's credentials into an error page, inflates a small
gzip body to gigabytes, drips an answer one byte at a time, sends 5e9 as a page `total`,
answers a create with another campaign's id. Each answer is an `Answer` (status, headers,
body bytes, gzip, drip, chunked), chosen by a `Script`: a function of the request.

Every loop is bounded: a drip sends at most `drip_count` pieces, a generated body at most
`size` bytes; `stop()` closes the socket and joins the serving thread.
"""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

__all__ = ["Answer", "HostileServer", "Request", "Script", "gzip_bomb", "hostile"]


@dataclass(frozen=True)
class Request:
    """What the client sent: method, path with query, headers (name -> value), body."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Answer:
    """One scripted answer.

    `gzip`: the body is sent gzip-compressed with `Content-Encoding: gzip` (a body that is
    already compressed goes with `raw_gzip=True`). `drip_interval` > 0 sends the body one
    byte per interval, at most `drip_count` bytes, then closes. `chunked` sends the body in
    `Transfer-Encoding: chunked` pieces of `chunk_size` bytes.
    """

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    gzip: bool = False
    raw_gzip: bool = False
    drip_interval: float = 0.0
    drip_count: int = 100
    chunked: bool = False
    chunk_size: int = 64 * 1024


Script = Callable[[Request], Answer]


def gzip_bomb(inflated: int) -> bytes:
    """Return gzip bytes that inflate to `inflated` zero bytes (about 1 KB per MB)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\0" * (1024 * 1024)
    parts = []
    remaining = inflated
    while remaining > 0:  # bounded: inflated / 1 MiB rounds
        piece = block if remaining >= len(block) else block[:remaining]
        parts.append(compressor.compress(piece))
        remaining -= len(piece)
    parts.append(compressor.flush())
    return b"".join(parts)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the test reads the request log instead

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(self.command, self.path, dict(self.headers.items()), body)
        self.server.owner.record(request)
        answer = self.server.owner.script(request)
        self._send(answer)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def _send(self, answer: Answer) -> None:
        payload = answer.body
        if answer.gzip and not answer.raw_gzip:
            payload = gzip.compress(payload)
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if answer.gzip or answer.raw_gzip:
            self.send_header("Content-Encoding", "gzip")
        if answer.drip_interval > 0:
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            self._drip(payload, answer)
            return
        if answer.chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(payload), answer.chunk_size):
                piece = payload[start : start + answer.chunk_size]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _drip(self, payload: bytes, answer: Answer) -> None:
        stop = self.server.owner.stopping
        for index in range(min(len(payload), answer.drip_count)):
            if stop.wait(answer.drip_interval):
                return
            try:
                self.wfile.write(payload[index : index + 1])
                self.wfile.flush()
            except OSError:
                return  # the client gave up: what the test wants


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: HostileServer

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hangs up mid-answer is what these tests provoke


class HostileServer:
    """The server: `script` answers each request; `requests` logs them in order."""

    def __init__(self) -> None:
        self.script: Script = lambda request: Answer(404, b'{"message": "no script"}')
        self.requests: list[Request] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def answer_always(self, answer: Answer) -> None:
        self.script = lambda request: answer


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    """A fresh hostile server on a free loopback port, stopped after the test."""
    server = HostileServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
