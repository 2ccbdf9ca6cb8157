"""Durability per campaign on a remote state: the order of vendor calls and journal writes.

The rule (issue 14): every finished step is stored before the next call ON THAT CAMPAIGN;
another campaign's call may go on while a journal write is in flight. Proved with counts:
the journal writes are held on the real engines (S3: a loopback proxy in front of moto's
server that holds journal PUTs until released; PostgreSQL: another session holding an
EXCLUSIVE lock on the journal table, so the INSERT waits), and the sandbox's request log
and the stored journal objects/rows are read while they are held.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from builders import email_yaml, journey_yaml
from conftest import wait_until
from pydantic import SecretStr
from remote_engines import PgCluster, S3Proxy, S3Server, s3_proxy

from reconciler.applier import ApplyResult, Outcome, apply_plan
from reconciler.loader import load_directory
from reconciler.planner import compute_plan
from reconciler.providers import open_providers
from reconciler.sandbox import Sandbox
from reconciler.settings import Settings
from reconciler.state import StateStore
from reconciler.state.location import open_state
from reconciler.workflow import read_live

pytestmark = pytest.mark.slow

KEY = "campaigns/state.json"
EMAILS = "/v1/marketing/campaigns"
TP_CAMPAIGNS = "/channel-service/v1/campaign"
TOUCHPOINTS = "/channel-service/v1/touchpoints"
WAIT_S = 60.0


class _HoldingProxy(S3Proxy):
    """Forwards to moto; a PUT under `hold_prefix` waits for `go` first (counted in
    `arrived`), and `stored` counts the journal PUTs moto has answered."""

    hold: Hold

    def _journal(self, path: str) -> bool:
        return self.command == "PUT" and path.startswith(self.hold.prefix)

    def intercept(self, path: str) -> bool:
        if self._journal(path):
            self.hold.arrive()
            self.hold.go.wait(WAIT_S)
        return False

    def forwarded(self, path: str, status: int) -> None:
        if self._journal(path) and status == 200:
            self.hold.stored_one()


@dataclass
class Hold:
    """Journal writes held on a real engine until `release()`."""

    location: str = ""
    prefix: str = ""
    go: threading.Event = field(default_factory=threading.Event)
    arrived: int = 0
    stored: int = 0
    mutex: threading.Lock = field(default_factory=threading.Lock)
    #: How many journal entries the engine holds now (objects or rows).
    count_stored: Callable[[], int] = lambda: 0
    #: How many journal writes are waiting at the engine now.
    count_waiting: Callable[[], int] = lambda: 0
    on_release: Callable[[], None] = lambda: None

    def arrive(self) -> None:
        with self.mutex:
            self.arrived += 1

    def stored_one(self) -> None:
        with self.mutex:
            self.stored += 1

    def release(self) -> None:
        self.go.set()
        self.on_release()


@pytest.fixture
def s3_hold(s3_server: S3Server) -> Iterator[Hold]:
    bucket = s3_server.new_bucket()
    hold = Hold(prefix=f"/{bucket}/{KEY}.journal/")

    def stored() -> int:
        listed = s3_server.client().list_objects_v2(Bucket=bucket, Prefix=f"{KEY}.journal/")
        return len(listed.get("Contents", []))

    hold.count_stored = stored
    hold.count_waiting = lambda: hold.arrived - hold.stored
    with s3_proxy(s3_server, _HoldingProxy, hold=hold) as endpoint:
        hold.location = f"s3://{bucket}/{KEY}?endpoint={endpoint}&region=us-east-1"
        try:
            yield hold
        finally:
            hold.go.set()  # before the proxy shuts down: a held request must not hang it


@pytest.fixture
def pg_hold(pg_cluster: PgCluster) -> Iterator[Hold]:
    import psycopg

    location = pg_cluster.url()
    schema = location.rsplit("schema=", 1)[1]
    maker = StateStore(backend=open_state(location))
    maker.exists()  # creates the schema and tables
    maker.close()
    conninfo = location.replace(f"?schema={schema}", "")
    locker = psycopg.connect(conninfo, autocommit=True)
    observer = psycopg.connect(conninfo, autocommit=True)
    locker.execute("BEGIN")
    locker.execute(f'LOCK TABLE "{schema}".journal IN EXCLUSIVE MODE')  # INSERTs wait

    def stored() -> int:
        row = observer.execute(f'SELECT count(*) FROM "{schema}".journal').fetchone()
        return int(row[0]) if row else 0

    def waiting() -> int:
        row = observer.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()
        return int(row[0]) if row else 0

    hold = Hold(location=location, count_stored=stored, count_waiting=waiting)
    hold.on_release = lambda: locker.execute("COMMIT")
    try:
        yield hold
    finally:
        if not hold.go.is_set():
            hold.release()
        locker.close()
        observer.close()


@pytest.fixture(params=["s3", "pg"])
def hold(request: pytest.FixtureRequest) -> Hold:
    return request.getfixturevalue(f"{request.param}_hold")  # type: ignore[no-any-return]


def blocked_on_a_stored_step() -> bool:
    """True when an apply worker waits for a step's journal write (writer.Durable.wait)."""
    for frame in sys._current_frames().values():
        current: Any = frame
        while current is not None:
            code = current.f_code
            if code.co_name == "wait" and code.co_filename.endswith("writer.py"):
                return True
            current = current.f_back
    return False


def apply_in_background(
    sandbox: Sandbox, config: Path, location: str
) -> tuple[threading.Thread, list[ApplyResult]]:
    """Plan and apply `config` against the sandbox with the state at `location`, one worker."""
    settings = Settings(
        api_url=sandbox.url,
        touchpoint_api_url=sandbox.url,
        config_dir=config,
        api_user=sandbox.api_user,
        api_key=SecretStr(sandbox.api_key),
        imbrace_api_key=SecretStr(sandbox.imbrace_api_key),
    )
    results: list[ApplyResult] = []

    def run() -> None:
        store = StateStore(backend=open_state(location))
        with store.lock("test"), open_providers(settings, need_touchpoint=True) as providers:
            live = read_live(providers)
            plan = compute_plan(load_directory(config).campaigns, store.read(), live)
            results.append(
                apply_plan(
                    plan,
                    email=providers.email,
                    touchpoint=providers.touchpoint,
                    store=store,
                    parallelism=1,
                )
            )
        store.close()

    thread = threading.Thread(target=run, name="test-apply", daemon=True)
    thread.start()
    return thread, results


def test_a_campaigns_next_call_waits_until_its_last_step_is_stored(
    hold: Hold, sandbox: Sandbox, tmp_path: Path
) -> None:
    (tmp_path / "j.yaml").write_text(journey_yaml("Journey", [("first", "Hi!")]))
    thread, results = apply_in_background(sandbox, tmp_path, hold.location)
    try:
        assert wait_until(lambda: hold.count_waiting() >= 1, WAIT_S), "no journal write"
        assert wait_until(blocked_on_a_stored_step, WAIT_S), "the worker never waited"
        # the campaign's create is recorded (held); its touchpoint call has not been sent
        assert sandbox.request_count("POST", TP_CAMPAIGNS) == 1
        assert sandbox.request_count("POST", TOUCHPOINTS) == 0
        assert hold.count_stored() == 0
    finally:
        hold.release()
    thread.join(WAIT_S)
    assert not thread.is_alive()
    [result] = results
    assert [s.outcome for s in result.steps] == [Outcome.APPLIED]
    assert sandbox.request_count("POST", TOUCHPOINTS) == 2  # its create, then its validate
    state = StateStore(backend=open_state(hold.location)).read()
    record = state.get("MessagingCampaign", "Journey")
    assert record is not None and list(record.touchpoint_ids) == ["first"]


def test_another_campaigns_call_proceeds_while_a_journal_write_is_held(
    hold: Hold, sandbox: Sandbox, tmp_path: Path
) -> None:
    for name in ("Alpha", "Beta"):
        (tmp_path / f"{name}.yaml").write_text(email_yaml(name, kind=True))
    thread, results = apply_in_background(sandbox, tmp_path, hold.location)
    try:
        # one worker: Beta's create is sent while Alpha's journal write is still held
        assert wait_until(lambda: sandbox.request_count("POST", EMAILS) == 2, WAIT_S)
        assert hold.count_stored() == 0, "Alpha's journal write is held, not stored"
    finally:
        hold.release()
    thread.join(WAIT_S)
    assert not thread.is_alive()
    [result] = results
    assert [s.outcome for s in result.steps] == [Outcome.APPLIED, Outcome.APPLIED]
    state = StateStore(backend=open_state(hold.location)).read()
    assert sorted(c.name for c in state.campaigns.values()) == ["Alpha", "Beta"]
