"""Real state engines for the tests: an S3 server (moto's, over HTTP) and a PostgreSQL cluster.

Both are started once per test session on loopback by the fixtures below (registered in
conftest.py). `StateBackends.location(kind, name)` gives a fresh state of each kind, so the
same contract tests run on the file, S3 and PostgreSQL backends.
"""

from __future__ import annotations

import contextlib
import glob
import http.client
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

KINDS = ("file", "s3", "postgres")

#: moto accepts any credentials; boto3 needs some (and no real account is ever reached).
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing-secret-key-never-printed",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class S3Server:
    endpoint: str
    buckets: list[str] = field(default_factory=list)

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")

    def new_bucket(self, *, versioned: bool = False) -> str:
        name = f"state-{uuid.uuid4().hex[:12]}"
        client = self.client()
        client.create_bucket(Bucket=name)
        if versioned:
            client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        self.buckets.append(name)
        return name

    def url(self, bucket: str, key: str = "campaigns/state.json") -> str:
        return f"s3://{bucket}/{key}?endpoint={self.endpoint}&region=us-east-1"


@dataclass
class PgCluster:
    host: str  # the socket directory
    port: int
    user: str = "postgres"

    def url(self, database: str = "postgres", schema: str | None = None) -> str:
        schema = schema or f"s_{uuid.uuid4().hex[:10]}"
        host = quote(self.host, safe="")  # libpq: a host that is a path is a socket directory
        return f"postgresql://{self.user}@{host}:{self.port}/{database}?schema={schema}"

    def env(self) -> dict[str, str]:
        return {}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_s3() -> Iterator[S3Server]:
    """moto's S3 server on 127.0.0.1, a free port; AWS_* test credentials in os.environ."""
    from moto.server import ThreadedMotoServer

    previous = {name: os.environ.get(name) for name in S3_ENV}
    os.environ.update(S3_ENV)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Server(f"http://{host}:{port}")
    finally:
        server.stop()
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server for the whole session."""
    pytest.importorskip("boto3")
    with running_s3() as server:
        yield server


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run `bash .ci/install-system-deps`")
    return Path(found[-1]).parent


def _as_postgres(argv: list[str]) -> list[str]:
    """Root may not run a cluster: its commands run as the `postgres` user."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


@contextlib.contextmanager
def running_postgres() -> Iterator[PgCluster]:
    """A throwaway PostgreSQL cluster: initdb in a temp dir, a free port, its socket there."""
    bindir = _pg_bin()
    root = Path(tempfile.mkdtemp(prefix="campaignctl-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", _free_port()
    user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
    run: dict[str, Any] = {"check": True, "capture_output": True, "timeout": 120}
    initdb = [str(bindir / "initdb"), "-D", str(data), "-U", user, "-A", "trust"]
    subprocess.run(_as_postgres(initdb), **run)
    options = f"-p {port} -k {root} -c listen_addresses='' -c fsync=off -c max_connections=200"
    pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data)]
    start = [*pg_ctl, "-o", options, "-l", str(root / "log"), "-w", "-t", "60", "start"]
    subprocess.run(_as_postgres(start), **run)
    try:
        yield PgCluster(str(root), port, user)
    finally:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(_as_postgres([*pg_ctl, "-m", "immediate", "stop"]), **run)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A PostgreSQL cluster for the whole session."""
    pytest.importorskip("psycopg")
    with running_postgres() as cluster:
        yield cluster


@dataclass
class StateBackends:
    """Fresh states of each kind; `env` is what a subprocess needs to reach them."""

    tmp_path: Path
    s3: S3Server | None = None
    pg: PgCluster | None = None

    def location(self, kind: str, versioned: bool = False) -> str:
        if kind == "file":
            return str(self.tmp_path / f"state-{uuid.uuid4().hex[:8]}" / "default.json")
        if kind == "s3":
            assert self.s3 is not None
            return self.s3.url(self.s3.new_bucket(versioned=versioned))
        assert self.pg is not None
        return self.pg.url()

    def env(self) -> dict[str, str]:
        extra = dict(S3_ENV) if self.s3 is not None else {}
        if self.pg is not None:
            extra.update(self.pg.env())
        return {**os.environ, **extra}


@pytest.fixture(params=KINDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def state_backends(
    request: pytest.FixtureRequest, backend_kind: str, tmp_path: Path, monkeypatch: Any
) -> StateBackends:
    """The engines `backend_kind` needs (started once per session), their env set."""
    backends = StateBackends(tmp_path)
    if backend_kind == "s3":
        backends.s3 = request.getfixturevalue("s3_server")
    if backend_kind == "postgres":
        backends.pg = request.getfixturevalue("pg_cluster")
        for name, value in backends.pg.env().items():
            monkeypatch.setenv(name, value)
    return backends


class S3Proxy(BaseHTTPRequestHandler):
    """A loopback proxy in front of the S3 server, for tests that change what the store does.

    A subclass may answer a request itself (`intercept` returns True), drop request headers
    (`dropped_headers`), or see moto's status (`forwarded`); the rest is forwarded as is.
    """

    upstream: tuple[str, int]
    dropped_headers: frozenset[str] = frozenset({"host"})

    def intercept(self, path: str) -> bool:
        return False

    def forwarded(self, path: str, status: int) -> None:
        pass

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = urlsplit(self.path).path
        if self.intercept(path):
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in self.dropped_headers}
        conn = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            conn.request(self.command, self.path, body=body or None, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
        finally:
            conn.close()
        self.forwarded(path, answer.status)
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def s3_proxy(s3: S3Server, handler: type[S3Proxy], **attrs: Any) -> Iterator[str]:
    """Serve `handler` (its class attributes set from attrs) in front of s3; yield its URL."""
    parts = urlsplit(s3.endpoint)
    assert parts.hostname is not None and parts.port is not None
    attrs["upstream"] = (parts.hostname, parts.port)
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (handler,), attrs))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
