"""The PostgreSQL state backend when the server refuses: bad schema names, no server, a role
without rights, a lock held outside campaignctl, a dead holder's session, a lost
compare-and-swap. Every case is a clear error naming the state, and the lock is never left
held. The server is a real throwaway cluster (tests/remote_engines.py).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from conftest import run_cli
from remote_engines import PgCluster
from test_state_remote_cli import write_emails

from reconciler.errors import StateError, StateLocked
from reconciler.sandbox import Sandbox
from reconciler.state import ManagedRecord, StateStore
from reconciler.state.location import open_state
from reconciler.state.lock import LockInfo


def rec(name: str) -> ManagedRecord:
    return ManagedRecord(
        "EmailCampaign", name, "1", {"name": name}, "fp", 0, {}, "2026-11-25T10:00:00Z"
    )


def admin(cluster: PgCluster) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=cluster.host, port=cluster.port, user=cluster.user, dbname="postgres", autocommit=True
    )


def url_as(cluster: PgCluster, user: str, schema: str) -> str:
    host = quote(cluster.host, safe="")
    return f"postgresql://{user}@{host}:{cluster.port}/postgres?schema={schema}"


@pytest.fixture
def cli_env(sandbox_env: Sandbox, in_tmp_path: Path) -> Sandbox:
    return sandbox_env


@pytest.fixture
def role(pg_cluster: PgCluster) -> Iterator[str]:
    """A login role with no rights beyond connecting (dropped afterwards)."""
    name = f"r_{uuid.uuid4().hex[:10]}"
    with admin(pg_cluster) as conn:
        conn.execute(f"CREATE ROLE {name} LOGIN")
    yield name
    with admin(pg_cluster) as conn:
        conn.execute(f"DROP OWNED BY {name}")
        conn.execute(f"DROP ROLE {name}")


def made_schema(cluster: PgCluster) -> tuple[str, str]:
    """A schema with campaignctl's tables in it (made by the superuser); (schema, url)."""
    url = cluster.url()
    schema = url.rsplit("schema=", 1)[1]
    store = StateStore(backend=open_state(url))
    assert not store.exists()  # the first use creates the schema and tables
    store.close()
    return schema, url


def assert_one_clear_error(code: int, err: str, *needles: str) -> None:
    assert code == 1, err
    assert err.startswith("error: ") and "Traceback" not in err and "internal" not in err, err
    for needle in needles:
        assert needle in err, err


# --------------------------------------------------------------------------- the URL and server


@pytest.mark.parametrize("schema", ["1starts_with_digit", "has-dash", "x" * 64])
def test_an_invalid_schema_name_is_refused_before_connecting(
    schema: str, in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"postgresql://ci@db.invalid/campaigns?schema={schema}"
    code, _, err = run_cli(capsys, "--state", url, "state", "list")
    assert_one_clear_error(code, err, f"invalid schema name {schema!r}", "--state")


def test_no_server_on_the_port_is_a_clear_connection_error(
    in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:  # a port nothing listens on (bound, never listening)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        url = f"postgresql://ci@127.0.0.1:{port}/campaigns"
        code, _, err = run_cli(capsys, "--state", url, "state", "list")
    assert_one_clear_error(
        code, err, "cannot connect to PostgreSQL", f"127.0.0.1:{port}/campaigns", "PGPASSWORD"
    )


# --------------------------------------------------------------------------- a role without rights


def test_a_role_that_may_not_create_the_schema_is_told_how_to_proceed(
    pg_cluster: PgCluster, role: str, in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with admin(pg_cluster) as conn:
        conn.execute(f"REVOKE CREATE ON DATABASE postgres FROM {role}")
    url = url_as(pg_cluster, role, f"s_{uuid.uuid4().hex[:8]}")
    code, _, err = run_cli(capsys, "--state", url, "state", "list")
    assert_one_clear_error(
        code, err, "cannot create the schema", "permission denied", "?schema=NAME"
    )


def test_a_role_that_may_not_read_the_tables_gets_the_servers_reason(
    pg_cluster: PgCluster, role: str, in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema, _ = made_schema(pg_cluster)
    with admin(pg_cluster) as conn:
        conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
    url = url_as(pg_cluster, role, schema)
    for command in (("state", "list"), ("state", "workspaces")):
        code, _, err = run_cli(capsys, "--state", url, *command)
        assert_one_clear_error(code, err, "PostgreSQL: permission denied for table")


def test_a_failed_lock_row_write_releases_the_advisory_lock(
    pg_cluster: PgCluster, role: str, cli_env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    schema, admin_url = made_schema(pg_cluster)
    with admin(pg_cluster) as conn:
        conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}")
    write_emails(("Alpha",))
    url = url_as(pg_cluster, role, schema)
    code, _, err = run_cli(capsys, "--state", url, "apply", "--auto-approve")
    assert_one_clear_error(code, err, "PostgreSQL: permission denied for table locks")
    assert cli_env.email_campaigns() == []
    # the advisory lock was given back at once: another session takes it without waiting
    store = StateStore(backend=open_state(admin_url))
    with store.lock("after"):
        pass
    store.close()


# --------------------------------------------------------------------------- holders


def test_a_lock_held_by_a_session_that_wrote_no_holder_row_is_named_as_unknown(
    pg_cluster: PgCluster, cli_env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    schema, url = made_schema(pg_cluster)
    with admin(pg_cluster) as other:  # e.g. a hand-written script taking campaignctl's key
        key = f"campaignctl:{schema}:default"
        taken = other.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (key,))
        assert taken.fetchone() == (True,)
        write_emails(("Alpha",))
        code, out, err = run_cli(capsys, "--state", url, "apply", "--auto-approve")
    assert code == 1, out + err
    assert "is locked by pid 0 on another session" in err
    assert cli_env.email_campaigns() == []


def _dead_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                           capture_output=True, text=True)  # fmt: skip
    return int(child.stdout)


def test_unlock_of_a_dead_session_removes_its_row_and_the_holder_finds_it_broken(
    pg_cluster: PgCluster, in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, url = made_schema(pg_cluster)
    code, _, err = run_cli(capsys, "--state", url, "state", "unlock", "nothing-held")
    assert code == 1 and "the state is not locked" in err, err
    gone = open_state(url)
    info = LockInfo("dead-run-lock-id", _dead_pid(), socket.gethostname(), "2026-01-01T00:00:00Z",
                    "campaignctl apply", "ci")  # fmt: skip
    gone.acquire(info)
    gone.close()  # its session ends: the advisory lock with it, the holder row stays
    assert open_state(url).holder() is None, "a row without a live session holds nothing"
    code, out, err = run_cli(capsys, "--state", url, "state", "unlock", info.id)
    assert code == 0, err
    assert info.id in out + err
    code, _, err = run_cli(capsys, "--state", url, "state", "unlock", info.id)
    assert code == 1 and "the state is not locked" in err, err


def test_a_lost_compare_and_swap_is_refused_and_keeps_the_other_writers_state(
    pg_cluster: PgCluster,
) -> None:
    _, url = made_schema(pg_cluster)
    first = StateStore(backend=open_state(url))
    with pytest.raises(StateError, match="changed by another writer") as info, first.lock("a"):
        first.read()
        first.record(rec("From-first"))
        # a writer that ignores the lock (an older tool, a hand-made row) commits first
        rogue = open_state(url)
        state, _ = rogue.load(quiet=True)
        state.put(rec("From-rogue"))
        state.serial += 1
        rogue.write(state)
        rogue.close()
    assert not isinstance(info.value, StateLocked)
    kept = StateStore(backend=open_state(url)).read()
    assert "EmailCampaign/From-rogue" in kept.campaigns
