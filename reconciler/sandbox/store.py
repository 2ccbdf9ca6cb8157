"""reconciler.sandbox.store: the sandbox's in-memory data, its clock, and `--data` persistence.

One lock guards everything; the HTTP handlers hold it for a whole operation. Email campaigns
are kept in their stored (internal) form, keyed by int id in creation order; the 0 -> 1 -> 2
status progression is driven lazily by a heap of due times, so a request costs O(log n), not
a scan of every campaign.
"""

from __future__ import annotations

import heapq
import json
import math
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from reconciler.atomic import write_atomic
from reconciler.collector import collector_paused
from reconciler.sandbox.wire import INT_MAX, json_problem

__all__ = [
    "DATA_FORMAT",
    "EMAIL_STATUS_COMPLETED",
    "EMAIL_STATUS_FAILED",
    "EMAIL_STATUS_SENDING",
    "EMAIL_STATUS_WAITING",
    "EPOCH_MAX",
    "EPOCH_MIN",
    "TOUCHPOINT_STATUSES",
    "BadRecord",
    "Store",
    "email_record_problem",
    "epoch_problem",
    "iso_utc",
    "local_to_epoch",
    "send_time_problem",
]

DATA_FORMAT = 1

EMAIL_STATUS_WAITING = 0
EMAIL_STATUS_SENDING = 1
EMAIL_STATUS_COMPLETED = 2
EMAIL_STATUS_FAILED = -1
EMAIL_STATUSES = frozenset(
    {EMAIL_STATUS_WAITING, EMAIL_STATUS_SENDING, EMAIL_STATUS_COMPLETED, EMAIL_STATUS_FAILED}
)
TOUCHPOINT_STATUSES = frozenset({"draft", "active", "completed"})

#: The stored send_time form: local time in the campaign's time_zone (the API's meaning).
LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"

# Every instant the sandbox stores must be one every reply can show: `datetime` stops at years
# 1 and 9999, the email API shows times in UTC+8 and the touchpoint API in UTC. So the last
# instant is 9999-12-31 23:59:59 in UTC+8 (8 hours before UTC's end), the first 0001-01-01
# 00:00:00 UTC. A value outside is refused when written, never stored and then failed on read.
_LATEST_ZONE = timezone(timedelta(hours=8))
EPOCH_MAX: float = datetime(9999, 12, 31, 23, 59, 59, tzinfo=_LATEST_ZONE).timestamp()
EPOCH_MIN: float = datetime(1, 1, 1, tzinfo=UTC).timestamp()
_RANGE_TEXT = "0001-01-01T00:00:00Z .. 9999-12-31T23:59:59+0800"


class BadRecord(ValueError):
    """A stored record the sandbox could not serve (found while loading a `--data` file)."""


def local_to_epoch(send_time: str, time_zone: int) -> float:
    """Return the epoch of a stored local send_time in its hour-offset zone."""
    local = datetime.strptime(send_time, LOCAL_FORMAT)
    return local.replace(tzinfo=timezone(timedelta(hours=time_zone))).timestamp()


def epoch_problem(name: str, value: Any) -> str | None:
    """Why `value` is not an instant the sandbox can store (a finite epoch in range), or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{name} must be a number of seconds since 1970, not {value!r}"
    if not (math.isfinite(value) and EPOCH_MIN <= value <= EPOCH_MAX):
        return f"{name} {value!r} is outside the times the API can show ({_RANGE_TEXT})"
    return None


def send_time_problem(name: str, send_time: str, time_zone: int) -> str | None:
    """Why a stored local send_time cannot be scheduled and shown, or None when it can."""
    epoch = local_to_epoch(send_time, time_zone)
    if EPOCH_MIN <= epoch <= EPOCH_MAX:
        return None
    return (
        f"{name} {send_time} in time_zone {time_zone:+d} is outside the times the API can show "
        f"({_RANGE_TEXT})"
    )


def email_record_problem(record: dict[str, Any]) -> str | None:
    """Why a stored email campaign would make its replies fail, or None when it is servable.

    The checks the API's write path makes, repeated for records that did not come through it
    (a `--data` file written by hand or by an older sandbox).
    """
    problem = json_problem(record)
    if problem is not None:
        return problem
    missing = sorted({"campaign_id", "campaign_type", "name", "to", "status"} - set(record))
    if missing:
        return f"missing {', '.join(missing)}"
    campaign_id = record["campaign_id"]
    if (
        isinstance(campaign_id, bool)
        or not isinstance(campaign_id, int)
        or not 1 <= campaign_id < INT_MAX
    ):
        return f"campaign_id must be a positive integer, not {campaign_id!r}"
    if record["status"] not in EMAIL_STATUSES:
        return f"status must be one of {sorted(EMAIL_STATUSES)}, not {record['status']!r}"
    time_zone = record.get("time_zone")
    if isinstance(time_zone, bool) or not isinstance(time_zone, int) or not -12 <= time_zone <= 14:
        return f"time_zone must be an hour offset from -12 to 14, not {time_zone!r}"
    for key in ("create_time", "update_time", "sending_since", "complete_time"):
        if (key in ("create_time", "update_time") or record.get(key) is not None) and (
            problem := epoch_problem(key, record.get(key))
        ):
            return problem
    send_times = [("send_time", record.get("send_time"))]
    ab_test = record.get("ab_test")
    if isinstance(ab_test, dict):
        send_times += [("ab_test.send_times", t) for t in ab_test.get("send_times") or []]
    for name, send_time in send_times:
        if send_time is None:
            continue
        try:
            problem = send_time_problem(name, str(send_time), time_zone)
        except ValueError:
            problem = f"{name} {send_time!r} is not {LOCAL_FORMAT}"
        if problem is not None:
            return problem
    return None


def iso_utc(epoch: float) -> str:
    """Return ISO 8601 UTC with milliseconds and `Z` (the touchpoint API's timestamps)."""
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    # isoformat, not strftime("%Y"): glibc writes year 1 as "1", not "0001".
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


@dataclass
class Store:
    """Every object the sandbox serves, plus the clock that moves email statuses.

    `complete_after_s` is how long a campaign stays "sending" (1) before it is completed (2).
    `clock_offset_s` shifts the sandbox's notion of now (`tick(seconds)` advances it).
    """

    complete_after_s: float = 60.0
    clock_offset_s: float = 0.0
    email: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_email_id: int = 1
    tp_campaigns: dict[str, dict[str, Any]] = field(default_factory=dict)
    touchpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    tp_by_campaign: dict[str, list[str]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _due: list[tuple[float, int]] = field(default_factory=list, repr=False)

    # ------------------------------------------------------------------ clock & status

    def now(self) -> float:
        # Real time keeps moving after a tick that reached the end: the clock stops there.
        return min(time.time() + self.clock_offset_s, EPOCH_MAX)

    def move_clock(self, seconds: float) -> None:
        """Advance the clock by `seconds`; ValueError when that is not forward or passes the end."""
        if isinstance(seconds, bool) or not math.isfinite(seconds) or seconds < 0:
            raise ValueError("the clock only moves forward, by a finite number of seconds")
        left = EPOCH_MAX - self.now()
        if seconds > left:
            raise ValueError(
                f"a tick of {seconds:g} s would move the clock past 9999-12-31T23:59:59+0800, "
                f"the last time the API can show ({left:.0f} s are left)"
            )
        self.clock_offset_s += seconds

    def schedule(self, record: dict[str, Any]) -> None:
        """Queue the record's next automatic status change, if it has one."""
        due = self._next_due(record)
        if due is not None:
            heapq.heappush(self._due, (due, record["campaign_id"]))

    def _next_due(self, record: dict[str, Any]) -> float | None:
        status = record["status"]
        if status == EMAIL_STATUS_WAITING and record.get("send_time"):
            return local_to_epoch(record["send_time"], record["time_zone"])
        if status == EMAIL_STATUS_SENDING:
            due = float(record.get("sending_since") or self.now()) + self.complete_after_s
            # A campaign that starts sending near the end of time completes at the end.
            return min(due, EPOCH_MAX)
        return None

    def advance(self, now: float | None = None) -> int:
        """Apply every status change that is due by `now`; return how many records moved."""
        now = self.now() if now is None else now
        moved = 0
        while self._due and self._due[0][0] <= now:
            _, campaign_id = heapq.heappop(self._due)
            record = self.email.get(campaign_id)
            if record is not None and self._advance_record(record, now):
                moved += 1
        return moved

    def _advance_record(self, record: dict[str, Any], now: float) -> bool:
        """Move one record along 0 -> 1 -> 2 as far as `now` allows (stale heap entries no-op)."""
        changed = False
        due = self._next_due(record)
        if record["status"] == EMAIL_STATUS_WAITING and due is not None and due <= now:
            record["status"] = EMAIL_STATUS_SENDING
            record["sending_since"] = due
            changed = True
            due = self._next_due(record)
        if record["status"] == EMAIL_STATUS_SENDING and due is not None and due <= now:
            record["status"] = EMAIL_STATUS_COMPLETED
            record["complete_time"] = due
            changed = True
        if changed:
            self.schedule(record)
        return changed

    def set_email_status(self, record: dict[str, Any], status: int) -> None:
        """Force a status (the vendor's side acting); sending starts its completion timer now."""
        if status not in EMAIL_STATUSES:
            raise ValueError(f"email status must be one of {sorted(EMAIL_STATUSES)}, got {status}")
        record["status"] = status
        now = self.now()
        if status == EMAIL_STATUS_SENDING:
            record["sending_since"] = now
        if status == EMAIL_STATUS_COMPLETED:
            record["complete_time"] = now
        if status == EMAIL_STATUS_WAITING:
            record["sending_since"] = None
            record["complete_time"] = None
        self.schedule(record)

    # ------------------------------------------------------------------ ids

    def new_email_id(self) -> int:
        campaign_id = self.next_email_id
        self.next_email_id += 1
        return campaign_id

    @staticmethod
    def new_id(prefix: str) -> str:
        return prefix + secrets.token_hex(12)

    # ------------------------------------------------------------------ email

    def add_email(self, record: dict[str, Any]) -> dict[str, Any]:
        self.email[record["campaign_id"]] = record
        self.schedule(record)
        return record

    # ------------------------------------------------------------------ touchpoint

    def add_tp_campaign(self, record: dict[str, Any]) -> dict[str, Any]:
        self.tp_campaigns[record["_id"]] = record
        self.tp_by_campaign[record["_id"]] = []
        return record

    def delete_tp_campaign(self, campaign_id: str) -> None:
        for tp_id in self.tp_by_campaign.pop(campaign_id, []):
            self.touchpoints.pop(tp_id, None)
        del self.tp_campaigns[campaign_id]

    def add_touchpoint(self, record: dict[str, Any]) -> dict[str, Any]:
        self.touchpoints[record["_id"]] = record
        self.tp_by_campaign.setdefault(record["campaign_id"], []).append(record["_id"])
        return record

    def delete_touchpoint(self, tp_id: str) -> None:
        record = self.touchpoints.pop(tp_id)
        siblings = self.tp_by_campaign.get(record["campaign_id"], [])
        if tp_id in siblings:
            siblings.remove(tp_id)

    # ------------------------------------------------------------------ whole store

    def clear(self) -> None:
        self.email.clear()
        self.next_email_id = 1
        self.tp_campaigns.clear()
        self.touchpoints.clear()
        self.tp_by_campaign.clear()
        self._due.clear()
        self.clock_offset_s = 0.0

    def to_data(self) -> dict[str, Any]:
        return {
            "format": DATA_FORMAT,
            "next_email_id": self.next_email_id,
            "clock_offset_s": self.clock_offset_s,
            "email_campaigns": list(self.email.values()),
            "touchpoint_campaigns": list(self.tp_campaigns.values()),
            "touchpoints": list(self.touchpoints.values()),
        }

    def load_data(self, data: dict[str, Any]) -> None:
        """Replace the store's content; BadRecord (store unchanged) when a record is unservable."""
        if data.get("format") != DATA_FORMAT:
            raise ValueError(f"unsupported sandbox data format {data.get('format')!r}")
        check_data(data)
        self.clear()
        self.next_email_id = int(data.get("next_email_id", 1))
        self.clock_offset_s = float(data.get("clock_offset_s", 0.0))
        for record in data.get("email_campaigns", []):
            self.add_email(dict(record))
            self.next_email_id = max(self.next_email_id, int(record["campaign_id"]) + 1)
        for record in data.get("touchpoint_campaigns", []):
            self.add_tp_campaign(dict(record))
        for record in data.get("touchpoints", []):
            self.add_touchpoint(dict(record))


def check_data(data: dict[str, Any]) -> None:
    """Raise BadRecord naming the first record a loaded store could not serve.

    Refusing to start is the choice here (not dropping or repairing the record): the file is
    left as it is, and the message names the record and the field to fix or delete.
    """
    hint = "edit or delete that record in the file"
    offset = data.get("clock_offset_s", 0.0)
    if (
        isinstance(offset, bool)
        or not isinstance(offset, int | float)
        or not (math.isfinite(offset) and 0 <= offset <= EPOCH_MAX)
    ):
        raise BadRecord(
            f"clock_offset_s {offset!r} puts the clock outside the times the API can show "
            f"({_RANGE_TEXT}); {hint}"
        )
    next_id = data.get("next_email_id", 1)
    if isinstance(next_id, bool) or not isinstance(next_id, int) or not 1 <= next_id <= INT_MAX:
        raise BadRecord(f"next_email_id must be a whole number from 1 to {INT_MAX}; {hint}")
    for record in data.get("email_campaigns", []):
        if not isinstance(record, dict):
            raise BadRecord(f"an email campaign is not an object: {record!r:.60}; {hint}")
        problem = email_record_problem(record)
        if problem is not None:
            raise BadRecord(f"email campaign {record.get('campaign_id')}: {problem}; {hint}")
    tp_keys = {
        "touchpoint_campaigns": {"_id", "name", "status", "channel_type", "created_at"},
        "touchpoints": {"_id", "name", "type", "campaign_id", "created_at"},
    }
    for section, keys in tp_keys.items():
        for record in data.get(section, []):
            if not isinstance(record, dict):
                raise BadRecord(f"{section}: a record is not an object: {record!r:.60}; {hint}")
            problem = json_problem(record)
            missing = sorted(keys - set(record))
            if missing:
                problem = f"missing {', '.join(missing)}"
            if problem is not None:
                raise BadRecord(f"{section} {record.get('_id')}: {problem}; {hint}")


def load_file(store: Store, path: Path) -> bool:
    """Fill the store from a `--data` file; False when the file does not exist yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    try:
        with collector_paused():  # a RecursionError runs no finalizer at its depth
            data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a sandbox data file ({exc})") from exc
    except RecursionError:
        raise ValueError(f"{path}: not a sandbox data file (nested too deeply)") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a sandbox data file")
    try:
        store.load_data(data)
    except BadRecord as exc:
        raise ValueError(f"{path}: {exc}") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: not a sandbox data file ({exc})") from exc
    return True


def save_file(store: Store, path: Path) -> None:
    """Write the store atomically (temp file in the same directory, fsync, rename)."""
    # Encode first: a value that cannot be written (NaN, a lone surrogate) fails here, before
    # the file is touched, and not halfway through writing it.
    text = json.dumps(store.to_data(), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    text.encode("utf-8")
    write_atomic(path, text)
