"""reconciler.state.pg_backend: the state as a row in PostgreSQL (psycopg 3).

`postgres://USER@HOST[:PORT]/DB[?schema=NAME]` (default schema `campaignctl`); the password
comes from PGPASSWORD, ~/.pgpass or a service file, never from the URL. The schema and its
tables are created on first use. Per workspace:

- `states`: one row (lineage, serial, the document as written by the file backend);
  written compare-and-swap on the (lineage, serial) read under the lock, in one transaction
  with the history row and the journal's removal.
- a session-level advisory lock keyed by schema and workspace: it dies with the holder's
  connection (a killed run leaves no stale lock), and two workspaces never wait on each
  other (no global lock, not even to create a workspace).
- `locks`: the holder's row (id, user, host, pid, command, since, backend pid), so the lock
  error names who holds it and `state unlock ID` can end that session.
- `journal`: one row per finished step, inserted by a background writer (the rows handed
  over while an INSERT is in flight go in the next one; see writer.py), each stored before
  its campaign's next API call.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from reconciler.errors import StateError
from reconciler.state.backend import Backend, HistoryEntry
from reconciler.state.file_backend import check_unlock
from reconciler.state.journal import JournalEntry, parse_journal_line
from reconciler.state.location import StateLocation
from reconciler.state.lock import LockInfo, locked_error, warn_takeover
from reconciler.state.model import State, parse_state
from reconciler.state.writer import Durable, GroupWriter

__all__ = ["PostgresBackend"]

log = logging.getLogger("reconciler.state")

DEFAULT_SCHEMA = "campaignctl"
_SCHEMA = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_HOLDER_WAIT_S = 2.0
_DDL_ATTEMPTS = 5
_HISTORY_MAX = 50

_TABLES = (
    """CREATE TABLE IF NOT EXISTS {s}.states (
        workspace text PRIMARY KEY, lineage text NOT NULL, serial bigint NOT NULL,
        document text NOT NULL, written_at timestamptz NOT NULL DEFAULT now())""",
    """CREATE TABLE IF NOT EXISTS {s}.history (
        id bigserial PRIMARY KEY, workspace text NOT NULL, lineage text NOT NULL,
        serial bigint NOT NULL, document text NOT NULL,
        written_at timestamptz NOT NULL DEFAULT now())""",
    """CREATE TABLE IF NOT EXISTS {s}.locks (
        workspace text PRIMARY KEY, id text NOT NULL, who text NOT NULL, host text NOT NULL,
        pid integer NOT NULL, command text NOT NULL, started text NOT NULL,
        backend_pid integer NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS {s}.journal (
        workspace text NOT NULL, run text NOT NULL, seq bigint NOT NULL, line text NOT NULL,
        PRIMARY KEY (workspace, run, seq))""",
)


class PostgresBackend(Backend):
    """One workspace's row, lock and journal in one schema of one database."""

    def __init__(self, location: StateLocation) -> None:
        parts = urlsplit(location.url)
        query = parse_qsl(parts.query)
        schema = dict(query).get("schema", DEFAULT_SCHEMA)
        if not _SCHEMA.fullmatch(schema):
            raise StateError(
                f"invalid schema name {schema!r} (letters, digits, _; not starting with a digit)",
                where="--state",
            )
        self.schema = schema
        self.workspace = location.workspace
        rest = urlencode([(k, v) for k, v in query if k != "schema"])
        self._conninfo = urlunsplit(parts._replace(scheme="postgresql", query=rest))
        self.where = location.display
        self.lock_where = f"{self.where} (lock)"
        self._s = sql.Identifier(schema)
        self._conn: psycopg.Connection[Any] | None = None
        self._connect_mutex = threading.Lock()
        self._loaded: tuple[str, int] | None = None
        self._lock_id: str | None = None
        self._run = ""
        self._ready = False
        self._writer: GroupWriter | None = None
        self._journal_seen = True

    # ---- connection and schema

    def _connection(self) -> psycopg.Connection[Any]:
        with self._connect_mutex:
            if self._conn is None or self._conn.closed:
                try:
                    self._conn = psycopg.connect(
                        self._conninfo,
                        autocommit=True,
                        connect_timeout=15,
                        application_name="campaignctl",
                    )
                except psycopg.Error as exc:
                    raise self._failed(
                        exc,
                        "cannot connect to PostgreSQL",
                        hint="the password comes from PGPASSWORD, ~/.pgpass or a service file",
                    ) from None
            return self._conn

    def _failed(
        self, exc: psycopg.Error, what: str = "PostgreSQL", hint: str | None = None
    ) -> StateError:
        """The error of a failed database call: `what` failed, and the server's first line."""
        return StateError(f"{what}: {_first_line(exc)}", where=self.where, hint=hint)

    def _run_sql(self, query: Any, params: Any = None) -> list[tuple[Any, ...]]:
        """Run one statement (after creating the schema on first use); its rows."""
        self._ensure_schema()
        return self._execute(query, params)

    def _execute(self, query: Any, params: Any = None) -> list[tuple[Any, ...]]:
        try:
            cursor = self._connection().execute(query, params)
            return cursor.fetchall() if cursor.description is not None else []
        except psycopg.Error as exc:
            raise self._failed(exc) from None

    def _ensure_schema(self) -> None:
        """Create the schema and tables if missing, without any lock: two first uses at
        once may collide on the catalog's unique index; the loser retries and finds them."""
        if self._ready:
            return
        exists = self._execute("SELECT to_regclass(%s)", (f'"{self.schema}".journal',))
        for attempt in range(_DDL_ATTEMPTS):
            if exists and exists[0][0] is not None:
                break
            try:
                conn = self._connection()
                with conn.transaction():
                    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(self._s))
                    for ddl in _TABLES:
                        conn.execute(sql.SQL(ddl).format(s=self._s))
                break
            except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateObject):
                if attempt == _DDL_ATTEMPTS - 1:
                    raise StateError("cannot create the state tables", where=self.where) from None
            except psycopg.Error as exc:
                raise self._failed(
                    exc,
                    f"cannot create the schema {self.schema}",
                    hint="create it once with a role that may, or pick one with ?schema=NAME",
                ) from None
        self._ready = True

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(s=self._s)

    def close(self) -> None:
        self._close_writer()
        with self._connect_mutex:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # ---- reading

    def exists(self) -> bool:
        rows = self._run_sql(
            self._q("SELECT 1 FROM {s}.states WHERE workspace = %s"), (self.workspace,)
        )
        return bool(rows)

    def load(self, *, quiet: bool) -> tuple[State, list[JournalEntry]]:
        try:
            lines, row = self._read_rows()
        except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName):
            self._ensure_schema()  # first use (checked only now: one round trip less)
            lines, row = self._read_rows()
        except psycopg.Error as exc:
            raise self._failed(exc) from None
        self._ready = True  # the tables answered
        entries = [
            parse_journal_line(line.encode(), f"{self.where} journal {run}/{seq}")
            for run, seq, line in lines
        ]
        self._journal_seen = bool(entries)
        if row is not None:
            state = parse_state(str(row[0]).encode(), self.where)
            self._loaded = (state.lineage, state.serial)
            return state, entries
        self._loaded = None
        if entries:
            return State(lineage=entries[0].lineage, serial=entries[0].serial), entries
        return State(), entries

    def _read_rows(self) -> tuple[list[tuple[Any, ...]], tuple[Any, ...] | None]:
        """The journal's rows and the state's row, in one snapshot (journal first)."""
        conn = self._connection()
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            lines = conn.execute(
                self._q(
                    "SELECT run, seq, line FROM {s}.journal WHERE workspace = %s ORDER BY run, seq"
                ),
                (self.workspace,),
            ).fetchall()
            row = conn.execute(
                self._q("SELECT document FROM {s}.states WHERE workspace = %s"),
                (self.workspace,),
            ).fetchone()
        return lines, row

    # ---- writing

    def append(self, seq: int, line: str) -> None:
        self.append_async(seq, line).wait()

    def append_async(self, seq: int, line: str) -> Durable:
        """Group commit in the background: the lines handed over while an INSERT is in
        flight go in the next one (one statement, one round trip)."""
        writer = self._writer
        if writer is None:
            raise StateError("journal write outside a lock", where=self.where)
        return writer.submit(seq, line)

    def _insert_journal(self, lines: list[tuple[int, str]]) -> None:
        rows = sql.SQL(", ").join([sql.SQL("(%s, %s, %s, %s)")] * len(lines))
        query = sql.SQL("INSERT INTO {s}.journal (workspace, run, seq, line) VALUES {rows}")
        params: list[Any] = []
        for seq, line in lines:
            params += (self.workspace, self._run, seq, line)
        self._run_sql(query.format(s=self._s, rows=rows), params)

    def _close_writer(self) -> None:
        """Store every line handed over (their tickets resolve), then stop the writer."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()

    def write(self, state: State) -> None:
        """Compare-and-swap on what was read under the lock, with the history row and the
        journal's removal, in one transaction."""
        self._ensure_schema()
        conn = self._connection()
        document = state.to_json()
        try:
            with conn.transaction():
                if self._loaded is None:
                    changed = conn.execute(
                        self._q(
                            "INSERT INTO {s}.states (workspace, lineage, serial, document) "
                            "VALUES (%s, %s, %s, %s) ON CONFLICT (workspace) DO NOTHING"
                        ),
                        (self.workspace, state.lineage, state.serial, document),
                    ).rowcount
                else:
                    changed = conn.execute(
                        self._q(
                            "UPDATE {s}.states SET lineage = %s, serial = %s, document = %s, "
                            "written_at = now() WHERE workspace = %s AND lineage = %s "
                            "AND serial = %s"
                        ),
                        (state.lineage, state.serial, document, self.workspace, *self._loaded),
                    ).rowcount
                if changed != 1:
                    raise _Conflict
                conn.execute(
                    self._q(
                        "INSERT INTO {s}.history (workspace, lineage, serial, document) "
                        "VALUES (%s, %s, %s, %s)"
                    ),
                    (self.workspace, state.lineage, state.serial, document),
                )
                conn.execute(
                    self._q("DELETE FROM {s}.journal WHERE workspace = %s"), (self.workspace,)
                )
        except _Conflict:
            raise StateError(
                "the state row was changed by another writer while this run held the lock; "
                "it was not overwritten",
                where=self.where,
                hint="this run's steps stay in its journal rows; check `campaignctl state "
                "pull`, then plan again",
            ) from None
        except psycopg.Error as exc:
            raise self._failed(exc) from None
        self._loaded = (state.lineage, state.serial)

    def clear_journal(self) -> None:
        if not self._journal_seen:
            return  # the last read found no row, and no one else writes under our lock
        self._run_sql(self._q("DELETE FROM {s}.journal WHERE workspace = %s"), (self.workspace,))

    # ---- locking

    def _key_sql(self) -> sql.Composed:
        return sql.SQL("hashtextextended({}, 0)").format(
            sql.Literal(f"campaignctl:{self.schema}:{self.workspace}")
        )

    def acquire(self, info: LockInfo) -> None:
        self._ensure_schema()
        key = self._key_sql()
        taken = self._execute(sql.SQL("SELECT pg_try_advisory_lock({})").format(key))
        if not taken[0][0]:
            raise locked_error(self._live_holder(), self.where, self.lock_where)
        try:
            previous = self._execute(
                self._q("SELECT id, pid, host, started, command, who FROM {s}.locks "
                        "WHERE workspace = %s"),
                (self.workspace,),
            )  # fmt: skip
            if previous:
                warn_takeover(LockInfo(*previous[0]), "the lock", "its session has ended")
            self._execute(
                self._q(
                    "INSERT INTO {s}.locks (workspace, id, who, host, pid, command, started, "
                    "backend_pid) VALUES (%s, %s, %s, %s, %s, %s, %s, pg_backend_pid()) "
                    "ON CONFLICT (workspace) DO UPDATE SET id = EXCLUDED.id, who = EXCLUDED.who, "
                    "host = EXCLUDED.host, pid = EXCLUDED.pid, command = EXCLUDED.command, "
                    "started = EXCLUDED.started, backend_pid = EXCLUDED.backend_pid"
                ),
                (
                    self.workspace,
                    info.id,
                    info.who,
                    info.host,
                    info.pid,
                    info.command,
                    info.started,
                ),
            )
        except BaseException:
            self._execute(sql.SQL("SELECT pg_advisory_unlock({})").format(key))
            raise
        self._lock_id, self._run = info.id, info.id[:12]
        self._close_writer()
        # One writer: the connection runs one statement at a time anyway.
        self._writer = GroupWriter(
            self._insert_journal, writers=1, where=self.where, name="pg-journal"
        )

    def _live_holder(self) -> LockInfo:
        """The holder row of the session holding the advisory lock (it writes its row just
        after taking the lock: wait a moment for it)."""
        deadline = time.monotonic() + _HOLDER_WAIT_S
        while True:
            found = self._holder_row(live_only=True)
            if found is not None:
                return found[0]
            if time.monotonic() > deadline:
                return LockInfo("unknown", 0, "another session", "unknown", "unknown")
            time.sleep(0.05)

    def _holder_row(self, *, live_only: bool) -> tuple[LockInfo, int, bool] | None:
        """The holder row, its backend pid, and whether that session still holds the lock."""
        query = sql.SQL(
            "SELECT l.id, l.pid, l.host, l.started, l.command, l.who, l.backend_pid, "
            "EXISTS (SELECT 1 FROM pg_locks p WHERE p.locktype = 'advisory' AND p.granted "
            "AND p.pid = l.backend_pid "
            "AND ((p.classid::bigint << 32) | p.objid::bigint) = {key}) "
            "FROM {s}.locks l WHERE l.workspace = %s"
        ).format(key=self._key_sql(), s=self._s)
        rows = self._run_sql(query, (self.workspace,))
        if not rows:
            return None
        *fields, backend_pid, live = rows[0]
        if live_only and not live:
            return None
        return LockInfo(*fields), int(backend_pid), bool(live)

    def holder(self) -> LockInfo | None:
        found = self._holder_row(live_only=True)
        return found[0] if found is not None else None

    def release(self) -> None:
        self._close_writer()  # no journal row may land after the lock is gone
        lock_id, self._lock_id = self._lock_id, None
        if lock_id is None:
            return
        try:
            gone = self._execute(
                self._q("DELETE FROM {s}.locks WHERE workspace = %s AND id = %s RETURNING id"),
                (self.workspace, lock_id),
            )
            self._execute(sql.SQL("SELECT pg_advisory_unlock({})").format(self._key_sql()))
        except StateError:
            gone = []
        if not gone:
            log.warning("warning: the state lock %s was broken while this run held it", lock_id)

    def break_lock(self, lock_id: str, *, force: bool) -> LockInfo:
        found = self._holder_row(live_only=False)
        if found is None:
            raise StateError("the state is not locked", where=self.lock_where)
        holder, backend_pid, live = found
        check_unlock(holder, lock_id, force=force, where=self.lock_where)
        if live:  # end the holder's session: its advisory lock ends with it
            # Wait (up to 5 s) until the session is gone: its advisory lock ends with it, so
            # a lock taken right after `unlock --force` must not still find it held.
            self._execute("SELECT pg_terminate_backend(%s, 5000)", (backend_pid,))
        self._run_sql(
            self._q("DELETE FROM {s}.locks WHERE workspace = %s AND id = %s"),
            (self.workspace, lock_id),
        )
        return holder

    # ---- workspaces and history

    def workspaces(self) -> list[str]:
        rows = self._run_sql(
            self._q(
                "SELECT workspace FROM {s}.states UNION SELECT workspace FROM {s}.journal "
                "ORDER BY 1"
            )
        )
        return [str(row[0]) for row in rows]

    def history(self) -> list[HistoryEntry]:
        rows = self._run_sql(
            self._q(
                "SELECT id, written_at, serial, lineage, octet_length(document) "
                "FROM {s}.history WHERE workspace = %s ORDER BY id DESC LIMIT %s"
            ),
            (self.workspace, _HISTORY_MAX),
        )
        return [
            HistoryEntry(
                version=str(id_),
                written=written.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
                serial=int(serial),
                lineage=str(lineage),
                size=int(size),
            )
            for id_, written, serial, lineage, size in rows
        ]


class _Conflict(Exception):
    """The compare-and-swap found another writer's state."""


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
