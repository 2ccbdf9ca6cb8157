"""reconciler.state.s3_backend: the state as an object in an S3 (or S3-compatible) bucket.

`s3://BUCKET/KEY[?endpoint=URL&region=R]`, credentials from boto3's chain only (AWS_*
variables, profiles, instance roles: botocore's, which boto3 uses; only botocore is
imported). Workspace NAME other than `default` is the key
`env:/NAME/KEY`. Beside the state object:

- `KEY.lock`: created with `If-None-Match: *` (so exactly one creator wins), holding the
  holder's id, user, host, pid, command and start; removed with `If-Match: <its etag>`.
- `KEY.journal/<run>/<n>`: the journal, written by background writers (steps handed over
  while a PUT is in flight share the next object: group commit; see writer.py), each step
  stored before its campaign's next API call; folded into the state at commit, or by the
  next run that finds them.
- The state itself is written compare-and-swap: `If-Match: <etag read under the lock>`
  (`If-None-Match: *` for the first write), so a second writer can never overwrite a newer
  state, even when a lock was broken by hand.

A store that ignores conditional writes would make all of this silently unsafe: the first
lock taken by a process probes it and refuses such a store.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC
from typing import Any
from urllib.parse import parse_qs, urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from reconciler.errors import StateError
from reconciler.state.backend import Backend, HistoryEntry
from reconciler.state.file_backend import check_unlock
from reconciler.state.journal import JournalEntry, parse_journal
from reconciler.state.limits import MAX_LOCK_BYTES, MAX_STATE_BYTES, too_large
from reconciler.state.location import DEFAULT_WORKSPACE, StateLocation
from reconciler.state.lock import LockInfo, take_over_or_raise
from reconciler.state.model import State, parse_state
from reconciler.state.writer import Durable, GroupWriter

__all__ = ["S3Backend"]

log = logging.getLogger("reconciler.state")

_LOCK_ATTEMPTS = 5
_UNREADABLE_LOCK_GRACE_S = 2.0
_HISTORY_MAX = 50
#: Journal PUTs in flight at once (group commit: each carries every line recorded meanwhile).
_JOURNAL_WRITERS = 2
#: S3's DeleteObjects takes at most this many keys.
_DELETE_BATCH = 1000


class S3Backend(Backend):
    """One workspace's state object, its lock object and its journal objects."""

    def __init__(self, location: StateLocation) -> None:
        parts = urlsplit(location.url)
        query = parse_qs(parts.query)
        self.bucket = parts.hostname or ""
        base_key = parts.path.lstrip("/")
        self.workspace = location.workspace
        self.base_key = base_key
        self.key = base_key if self.workspace == DEFAULT_WORKSPACE else self._ws_key(base_key)
        self.lock_key = f"{self.key}.lock"
        self.journal_prefix = f"{self.key}.journal/"
        self.where = location.display
        self.lock_where = f"s3://{self.bucket}/{self.lock_key}"
        self._endpoint = next(iter(query.get("endpoint", [])), None)
        self._region = next(iter(query.get("region", [])), None)
        self._client_mutex = threading.Lock()
        self._s3: Any = None
        self._mutex = threading.Lock()
        self._run = ""
        self._writer: GroupWriter | None = None
        self._journal_keys: set[str] = set()
        self._state_etag: str | None = None
        self._lock_etag: str | None = None
        self._probed = False

    @property
    def _client(self) -> Any:
        """The S3 client, made on first use (a prefetching store makes it in its thread).

        botocore's own session and client: what boto3.client() builds, without importing
        boto3 (its resource models and s3transfer, ~35 ms a process) or anything unused.
        """
        with self._client_mutex:
            if self._s3 is None:
                from botocore.config import Config
                from botocore.session import get_session

                self._s3 = get_session().create_client(
                    "s3",
                    endpoint_url=self._endpoint,
                    region_name=self._region,
                    # a parallel apply writes journal objects from up to 2 threads, and
                    # state commands run a few calls at once
                    config=Config(
                        retries={"max_attempts": 5, "mode": "standard"}, max_pool_connections=32
                    ),
                )
            return self._s3

    def _ws_key(self, base_key: str) -> str:
        return f"env:/{self.workspace}/{base_key}"

    # ---- calls

    def _call(self, what: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """One S3 call; a StateError naming the state (never the credentials) if it fails."""
        try:
            return fn(**kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise StateError(
                f"S3 {what} failed: {error.get('Code', '?')}: {error.get('Message', '')}".rstrip(),
                where=self.where,
                hint=_hint(str(error.get("Code", ""))),
            ) from None
        except BotoCoreError as exc:
            raise StateError(f"S3 {what} failed: {exc}", where=self.where) from None

    def _get(self, key: str, limit: int) -> tuple[bytes, str] | None:
        """The object's bytes and etag; None if it does not exist."""
        try:
            reply = self._client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return None
            raise self._error("read", exc) from None
        except BotoCoreError as exc:
            raise StateError(f"S3 read failed: {exc}", where=self.where) from None
        if int(reply.get("ContentLength", 0)) > limit:
            what = "lock" if limit == MAX_LOCK_BYTES else "state"
            raise StateError(too_large(what, int(reply["ContentLength"]), limit), where=key)
        return reply["Body"].read(limit + 1), str(reply["ETag"])

    def _unreachable(self, what: str, exc: BotoCoreError) -> StateError:
        """A transport failure (no connection, timeout): the store could not be asked."""
        return StateError(f"S3 {what} failed: {exc}", where=self.where)

    def _error(self, what: str, exc: ClientError) -> StateError:
        error = exc.response.get("Error", {})
        return StateError(
            f"S3 {what} failed: {error.get('Code', '?')}: {error.get('Message', '')}".rstrip(),
            where=self.where,
            hint=_hint(str(error.get("Code", ""))),
        )

    def _put_if(self, key: str, body: bytes, **condition: str) -> str | None:
        """Put `body` if the condition holds; its new etag, or None on 412."""
        try:
            reply = self._client.put_object(Bucket=self.bucket, Key=key, Body=body, **condition)
        except ClientError as exc:
            if _code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return None
            raise self._error("write", exc) from None
        except BotoCoreError as exc:
            raise StateError(f"S3 write failed: {exc}", where=self.where) from None
        return str(reply["ETag"])

    def _delete_if(self, key: str, etag: str) -> bool:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=key, IfMatch=etag)
        except ClientError as exc:
            if _code(exc) in ("PreconditionFailed", "412", "NoSuchKey", "404"):
                return False
            raise self._error("delete", exc) from None
        except BotoCoreError as exc:
            raise self._unreachable("delete", exc) from None
        return True

    # ---- reading

    def exists(self) -> bool:
        return self._exists(self.key)

    def load(self, *, quiet: bool) -> tuple[State, list[JournalEntry]]:
        keys = self._list(self.journal_prefix)  # before the state: see journal.fold
        entries: list[JournalEntry] = []
        for key in keys:
            found = self._get(key, MAX_STATE_BYTES)
            if found is not None:  # an object is stored whole: no torn last line
                entries += parse_journal(found[0], f"s3://{self.bucket}/{key}", quiet=quiet)
        with self._mutex:
            self._journal_keys.update(keys)
        found = self._get(self.key, MAX_STATE_BYTES)
        self._state_etag = found[1] if found is not None else None
        if found is not None:
            return parse_state(found[0], self.where), entries
        if entries:
            return State(lineage=entries[0].lineage, serial=entries[0].serial), entries
        return State(), entries

    def _list(self, prefix: str) -> list[str]:
        """Every key under `prefix`, sorted (list_objects_v2 pages, without a paginator:
        that would load one more botocore model in each process)."""
        keys: list[str] = []
        token: dict[str, str] = {}
        while True:
            page = self._call(
                "list", self._client.list_objects_v2, Bucket=self.bucket, Prefix=prefix, **token
            )
            keys.extend(str(item["Key"]) for item in page.get("Contents", []))
            if not page.get("IsTruncated") or not page.get("NextContinuationToken"):
                return sorted(keys)
            token = {"ContinuationToken": str(page["NextContinuationToken"])}

    # ---- writing

    def append(self, seq: int, line: str) -> None:
        self.append_async(seq, line).wait()

    def append_async(self, seq: int, line: str) -> Durable:
        """Group commit in the background: the lines handed over while journal PUTs are in
        flight go together in the next object (named by its lowest line number, so the
        objects sort in journal order). The caller waits on the ticket before it depends
        on the line being stored (the applier: before that campaign's next API call)."""
        with self._mutex:
            writer = self._writer
        if writer is None:
            raise StateError("journal write outside a lock", where=self.where)
        return writer.submit(seq, line)

    def _put_journal(self, lines: list[tuple[int, str]]) -> None:
        key = f"{self.journal_prefix}{self._run}/{min(seq for seq, _ in lines):08d}"
        body = "".join(line + "\n" for _, line in lines).encode()
        self._call("journal write", self._client.put_object, Bucket=self.bucket, Key=key, Body=body)
        with self._mutex:
            self._journal_keys.add(key)

    def _reset_journal(self) -> None:
        self._close_writer()
        run = uuid.uuid4().hex[:12]
        writer = GroupWriter(
            self._put_journal, writers=_JOURNAL_WRITERS, where=self.where, name="s3-journal"
        )
        with self._mutex:
            self._run, self._writer = run, writer

    def _close_writer(self) -> None:
        """Store every line handed over (their tickets resolve), then stop the writers."""
        with self._mutex:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()

    def write(self, state: State) -> None:
        body = state.to_json().encode()
        condition = {"IfMatch": self._state_etag} if self._state_etag else {"IfNoneMatch": "*"}
        etag = self._put_if(self.key, body, **condition)
        if etag is None:
            raise StateError(
                "the state object was changed by another writer while this run held the lock "
                "(was the lock broken?); it was not overwritten",
                where=self.where,
                hint="this run's steps stay in its journal objects; check `campaignctl state "
                "pull`, then plan again",
            )
        self._state_etag = etag
        self.clear_journal()

    def clear_journal(self) -> None:
        with self._mutex:
            keys, self._journal_keys = sorted(self._journal_keys), set()
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = [{"Key": key} for key in keys[start : start + _DELETE_BATCH]]
            self._call(
                "journal delete",
                self._client.delete_objects,
                Bucket=self.bucket,
                Delete={"Objects": batch, "Quiet": True},
            )

    # ---- locking

    def probe(self) -> None:
        """Refuse a store that ignores `If-None-Match: *` or `If-Match` (a success where
        a 412 was due): locks and compare-and-swap would silently do nothing there."""
        if self._probed:
            return
        key = f"{self.key}.probe-{uuid.uuid4().hex[:12]}"
        try:
            first = self._put_if(key, b"probe", IfNoneMatch="*")
            second = self._put_if(key, b"probe again", IfNoneMatch="*")
            wrong = self._put_if(key, b"probe", IfMatch='"00000000000000000000000000000000"')
        finally:
            self._call("probe cleanup", self._client.delete_object, Bucket=self.bucket, Key=key)
        if first is None or second is not None or wrong is not None:
            ignored = "If-None-Match" if second is not None or first is None else "If-Match"
            raise StateError(
                f"the S3 store ignores conditional writes ({ignored} was not enforced): "
                "a lock there would not exclude anyone, so it is not used",
                where=self.where,
                hint="use AWS S3 or a store that answers 412 to conditional writes, or the "
                "file or postgres:// backend",
            )
        self._probed = True

    def acquire(self, info: LockInfo) -> None:
        self.probe()
        body = info.to_json().encode()
        for _ in range(_LOCK_ATTEMPTS):
            etag = self._put_if(self.lock_key, body, IfNoneMatch="*")
            if etag is not None:
                self._lock_etag = etag
                self._reset_journal()
                return
            self._clear_stale_lock()
        raise StateError(
            "could not take the state lock: other runs keep racing for it", where=self.lock_where
        )

    def _clear_stale_lock(self) -> None:
        unreadable = f"lock object {self.lock_where}"
        etag = take_over_or_raise(self._read_lock(), unreadable, self.where, self.lock_where)
        if etag is not None:
            self._delete_if(self.lock_key, etag)

    def _read_lock(self) -> tuple[str, LockInfo | None] | None:
        deadline = time.monotonic() + _UNREADABLE_LOCK_GRACE_S
        while True:
            found = self._get(self.lock_key, MAX_LOCK_BYTES)
            if found is None:
                return None
            holder = LockInfo.parse(found[0])
            if holder is not None or time.monotonic() > deadline:
                return found[1], holder
            time.sleep(0.1)  # an object is written whole: this is only another writer's garbage

    def holder(self) -> LockInfo | None:
        found = self._read_lock()
        return found[1] if found is not None else None

    def close(self) -> None:
        self._close_writer()

    def release(self) -> None:
        self._close_writer()  # no journal PUT may land after the lock is gone
        etag, self._lock_etag = self._lock_etag, None
        if etag is not None and not self._delete_if(self.lock_key, etag):
            log.warning(
                "warning: the state lock %s was broken while this run held it", self.lock_where
            )

    def break_lock(self, lock_id: str, *, force: bool) -> LockInfo:
        found = self._read_lock()
        if found is None:
            raise StateError("the state is not locked", where=self.lock_where)
        etag, holder = found
        if holder is None:
            raise StateError(
                "the lock object is unreadable",
                where=self.lock_where,
                hint=f"delete the object {self.lock_where}",
            )
        check_unlock(holder, lock_id, force=force, where=self.lock_where)
        if not self._delete_if(self.lock_key, etag):
            raise StateError("the lock changed while it was being removed", where=self.lock_where)
        return holder

    # ---- workspaces and history

    def workspaces(self) -> list[str]:
        found = set()
        if self._exists(self.base_key):
            found.add(DEFAULT_WORKSPACE)
        suffix = f"/{self.base_key}"
        for key in self._list("env:/"):
            name = key[len("env:/") :]
            if name.endswith(suffix) and "/" not in name[: -len(suffix)]:
                found.add(name[: -len(suffix)])
        return sorted(found)

    def _exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404", "NotFound"):
                return False
            raise self._error("read", exc) from None
        except BotoCoreError as exc:
            raise self._unreachable("read", exc) from None
        return True

    def history(self) -> list[HistoryEntry]:
        status = self._call(
            "versioning read", self._client.get_bucket_versioning, Bucket=self.bucket
        )
        if status.get("Status") != "Enabled":
            raise StateError(
                f"bucket {self.bucket} is not versioned: S3 keeps no history of the state",
                where=self.where,
                hint=f"aws s3api put-bucket-versioning --bucket {self.bucket} "
                "--versioning-configuration Status=Enabled",
            )
        reply = self._call(
            "versions list", self._client.list_object_versions, Bucket=self.bucket, Prefix=self.key
        )
        versions = [v for v in reply.get("Versions", []) if v["Key"] == self.key]
        versions.sort(key=lambda v: v["LastModified"], reverse=True)
        return [self._history_entry(v) for v in versions[:_HISTORY_MAX]]

    def _history_entry(self, version: dict[str, Any]) -> HistoryEntry:
        serial: int | None = None
        lineage: str | None = None
        reply = self._call(
            "version read",
            self._client.get_object,
            Bucket=self.bucket,
            Key=self.key,
            VersionId=version["VersionId"],
        )
        try:
            state = parse_state(reply["Body"].read(MAX_STATE_BYTES + 1), self.where)
            serial, lineage = state.serial, state.lineage
        except StateError:
            pass  # an unreadable old version is still listed
        written = version["LastModified"].astimezone(UTC).replace(microsecond=0)
        return HistoryEntry(
            version=str(version["VersionId"]),
            written=written.isoformat().replace("+00:00", "Z"),
            serial=serial,
            lineage=lineage,
            size=int(version.get("Size", 0)),
        )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _hint(code: str) -> str | None:
    if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        return "check the AWS credentials (AWS_* variables or profile) and the bucket policy"
    if code == "NoSuchBucket":
        return "create the bucket first; campaignctl never creates buckets"
    return None
