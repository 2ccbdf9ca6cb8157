"""The S3 state backend when the bucket or the store misbehaves: a clear one-line error naming
the state (and a hint), never a traceback, never a credential.

The store is moto's real S3 server on loopback (tests/remote_engines.py). Answers S3 gives
that moto never does (AccessDenied) come from a loopback proxy in front of it that answers
one chosen request with S3's error document and forwards everything else.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import run_cli
from remote_engines import S3_ENV, S3Proxy, S3Server, s3_proxy
from test_state_remote_cli import write_emails

from reconciler.errors import StateError
from reconciler.sandbox import Sandbox
from reconciler.state import ManagedRecord, StateStore
from reconciler.state.limits import MAX_LOCK_BYTES
from reconciler.state.location import open_state

KEY = "campaigns/state.json"


@dataclass
class Deny:
    """Answer requests with `method` on exactly `path` (or under it, with prefix) with
    `status` and S3's error document for `code`."""

    method: str
    path: str
    code: str = "AccessDenied"
    status: int = 403
    prefix: bool = False
    hits: list[str] = field(default_factory=list)

    def matches(self, method: str, path: str) -> bool:
        same = path.startswith(self.path) if self.prefix else path == self.path
        return method == self.method and same


class _DenyingProxy(S3Proxy):
    """Answers a request that matches a rule with the rule's S3 error; forwards the rest."""

    rules: list[Deny]

    def intercept(self, path: str) -> bool:
        for rule in self.rules:
            if rule.matches(self.command, path):
                rule.hits.append(path)
                reply = (
                    '<?xml version="1.0" encoding="UTF-8"?><Error><Code>'
                    f"{rule.code}</Code><Message>Access Denied</Message>"
                    "<RequestId>proxy</RequestId></Error>"
                ).encode()
                self.send_response(rule.status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(reply) if self.command != "HEAD" else 0))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply)
                return True
        return False


@dataclass
class Proxy:
    endpoint: str
    rules: list[Deny]

    def url(self, bucket: str) -> str:
        return f"s3://{bucket}/{KEY}?endpoint={self.endpoint}&region=us-east-1"


@pytest.fixture
def proxy(s3_server: S3Server) -> Iterator[Proxy]:
    rules: list[Deny] = []
    with s3_proxy(s3_server, _DenyingProxy, rules=rules) as endpoint:
        yield Proxy(endpoint, rules)


@pytest.fixture
def cli_env(sandbox_env: Sandbox, in_tmp_path: Path, s3_server: S3Server) -> Sandbox:
    """The sandbox as the vendor APIs, a tmp working directory, moto's test credentials."""
    return sandbox_env


def rec(name: str) -> ManagedRecord:
    return ManagedRecord(
        "EmailCampaign", name, "1", {"name": name}, "fp", 0, {}, "2026-11-25T10:00:00Z"
    )


def assert_one_clear_error(err: str, *needles: str) -> None:
    assert "Traceback" not in err and "internal" not in err, err
    assert err.startswith("error: "), err
    for needle in needles:
        assert needle in err, err
    assert S3_ENV["AWS_SECRET_ACCESS_KEY"] not in err


# --------------------------------------------------------------------------- bucket errors


def test_a_missing_bucket_is_named_with_a_hint_to_create_it(
    s3_server: S3Server, cli_env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    url = s3_server.url("no-such-bucket-here", KEY)
    code, out, err = run_cli(capsys, "--state", url, "state", "list")
    assert code == 1, out + err
    assert_one_clear_error(
        err,
        "S3 list failed: NoSuchBucket",
        "s3://no-such-bucket-here/campaigns/state.json",
        "create the bucket first; campaignctl never creates buckets",
    )


def test_a_denied_state_read_names_the_state_and_the_credentials(
    s3_server: S3Server, proxy: Proxy, cli_env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = s3_server.new_bucket()
    proxy.rules.append(Deny("GET", f"/{bucket}/{KEY}"))
    code, out, err = run_cli(capsys, "--state", proxy.url(bucket), "state", "list")
    assert code == 1, out + err
    assert_one_clear_error(
        err, "S3 read failed: AccessDenied: Access Denied", "check the AWS credentials"
    )
    assert proxy.rules[0].hits, "the state object was read through the proxy"


def test_a_denied_write_stops_apply_before_any_campaign_is_touched(
    s3_server: S3Server, proxy: Proxy, cli_env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = s3_server.new_bucket()
    # every PUT beside the state (the probe of conditional writes comes first) is refused
    proxy.rules.append(Deny("PUT", f"/{bucket}/{KEY}.", prefix=True))
    write_emails(("Alpha",))
    code, out, err = run_cli(capsys, "--state", proxy.url(bucket), "apply", "--auto-approve")
    assert code == 1, out + err
    assert_one_clear_error(err, "S3 write failed: AccessDenied")
    assert cli_env.email_campaigns() == [], "nothing is applied without the lock"
    left = s3_server.client().list_objects_v2(Bucket=bucket).get("Contents", [])
    assert left == [], "no probe, lock or state object is left behind"


def test_a_failed_journal_write_stops_the_run_and_keeps_what_was_committed(
    s3_server: S3Server, proxy: Proxy, cli_env: Sandbox
) -> None:
    bucket = s3_server.new_bucket()
    proxy.rules.append(Deny("PUT", f"/{bucket}/{KEY}.journal/", prefix=True))
    store = StateStore(backend=open_state(proxy.url(bucket)))
    with store.lock("apply"):
        store.read()
        with pytest.raises(StateError, match="S3 journal write failed: AccessDenied"):
            store.record(rec("First"))
        # the journal is broken: no later step may be recorded as if durable
        with pytest.raises(StateError, match="an earlier journal write failed"):
            store.record(rec("Second"))
    assert proxy.rules[0].hits


def test_a_denied_existence_check_is_a_clear_error(
    s3_server: S3Server, proxy: Proxy, cli_env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = s3_server.new_bucket()
    proxy.rules.append(Deny("HEAD", f"/{bucket}/{KEY}"))
    code, out, err = run_cli(capsys, "--state", proxy.url(bucket), "state", "workspaces")
    assert code == 1, out + err
    assert_one_clear_error(err, "S3 read failed: 403")


@pytest.mark.parametrize("command", ["list", "workspaces"])
def test_an_unreachable_endpoint_is_a_clear_error(
    command: str, cli_env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"s3://bucket/{KEY}?endpoint=http://127.0.0.1:9&region=us-east-1"
    code, out, err = run_cli(capsys, "--state", url, "state", command)
    assert code == 1, out + err
    assert_one_clear_error(err, "S3 ", "failed", "Could not connect")


# --------------------------------------------------------------------------- the lock object


def test_an_oversized_lock_object_is_refused_before_it_is_read(
    s3_server: S3Server, cli_env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = s3_server.new_bucket()
    s3_server.client().put_object(
        Bucket=bucket, Key=f"{KEY}.lock", Body=b" " * (MAX_LOCK_BYTES + 1)
    )
    write_emails(("Alpha",))
    code, out, err = run_cli(
        capsys, "--state", s3_server.url(bucket, KEY), "apply", "--auto-approve"
    )
    assert code == 1, out + err
    assert_one_clear_error(err, "lock", str(MAX_LOCK_BYTES))
    assert cli_env.email_campaigns() == []


def test_unlock_of_an_unreadable_lock_object_says_to_delete_it(
    s3_server: S3Server, cli_env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = s3_server.new_bucket()
    url = s3_server.url(bucket, KEY)
    code, out, err = run_cli(capsys, "--state", url, "state", "unlock", "some-id")
    assert code == 1 and "the state is not locked" in err, out + err
    s3_server.client().put_object(Bucket=bucket, Key=f"{KEY}.lock", Body=b"{not json")
    code, out, err = run_cli(capsys, "--state", url, "state", "unlock", "some-id")
    assert code == 1, out + err
    assert_one_clear_error(
        err, "the lock object is unreadable", f"delete the object s3://{bucket}/{KEY}.lock"
    )


def test_an_unreadable_lock_object_is_taken_over_by_the_next_apply(
    s3_server: S3Server, cli_env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = s3_server.new_bucket()
    s3_server.client().put_object(Bucket=bucket, Key=f"{KEY}.lock", Body=b"\xff garbage")
    write_emails(("Alpha",))
    code, out, err = run_cli(
        capsys, "--state", s3_server.url(bucket, KEY), "apply", "--auto-approve"
    )
    assert code == 0, out + err
    assert f"taking over an unreadable lock object s3://{bucket}/{KEY}.lock" in err
    assert [c["name"] for c in cli_env.email_campaigns()] == ["Alpha"]
    names = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert names == [KEY], "the garbage lock is gone, the state written"


# --------------------------------------------------------------------------- workspaces, history


def test_workspaces_lists_default_beside_named_ones(
    s3_server: S3Server, cli_env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    url = s3_server.url(s3_server.new_bucket(), KEY)
    write_emails(("Alpha",))
    assert run_cli(capsys, "--state", url, "apply", "--auto-approve")[0] == 0
    args = ("--state", url, "--workspace", "eu", "apply", "--auto-approve")
    assert run_cli(capsys, *args)[0] == 0
    code, out, err = run_cli(capsys, "--state", url, "state", "workspaces")
    assert code == 0, err
    assert "default" in out and "eu" in out


def test_history_lists_an_unreadable_old_version_without_its_serial(
    s3_server: S3Server, cli_env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = s3_server.new_bucket(versioned=True)
    s3_server.client().put_object(Bucket=bucket, Key=KEY, Body=b"not a state")
    s3_server.client().delete_object(Bucket=bucket, Key=KEY)  # a delete marker on top
    url = s3_server.url(bucket, KEY)
    write_emails(("Alpha",))
    code, out, err = run_cli(capsys, "--state", url, "apply", "--auto-approve")
    assert code == 0, out + err
    code, out, err = run_cli(capsys, "--state", url, "state", "history")
    assert code == 0, err
    serials = [line.split("serial ")[1].split()[0] for line in out.splitlines()]
    assert serials == ["1", "-"], out


def test_a_journal_write_failing_in_the_background_fails_its_step_and_the_run(
    s3_server: S3Server, proxy: Proxy, cli_env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = s3_server.new_bucket()
    proxy.rules.append(Deny("PUT", f"/{bucket}/{KEY}.journal/", prefix=True))
    write_emails(("Alpha", "Beta"))
    apply = ("apply", "--auto-approve", "--parallelism", "1")
    code, out, err = run_cli(capsys, "--state", proxy.url(bucket), *apply)
    assert code == 1, out + err
    # Alpha was created, its record's write failed after record() returned: still a failure;
    # Beta was created while it was in flight, and could not be recorded after it
    assert "Apply complete: 1 created, 0 updated, 0 deleted, 0 blocked, 2 failed." in out, out
    assert "done remotely, but its state journal write failed" in out + err
    assert "S3 journal write failed: AccessDenied" in out + err
    assert "Traceback" not in err and S3_ENV["AWS_SECRET_ACCESS_KEY"] not in out + err
    assert proxy.rules[0].hits
    # Alpha's record was in memory, so the final commit (not denied) stored it
    state = StateStore(backend=open_state(s3_server.url(bucket, KEY))).read()
    assert sorted(record.name for record in state.campaigns.values()) == ["Alpha"]
