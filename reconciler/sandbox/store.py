"""reconciler.sandbox.store: the sandbox's in-memory data, its clock, and `--data` persistence.

One lock guards everything; the HTTP handlers hold it for a whole operation. Email campaigns
are kept in their stored (internal) form, keyed by int id in creation order; the 0 -> 1 -> 2
status progression is driven lazily by a heap of due times, so a request costs O(log n), not
a scan of every campaign.
"""

from __future__ import annotations

import heapq
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from reconciler.atomic import write_atomic

__all__ = [
    "DATA_FORMAT",
    "EMAIL_STATUS_COMPLETED",
    "EMAIL_STATUS_FAILED",
    "EMAIL_STATUS_SENDING",
    "EMAIL_STATUS_WAITING",
    "TOUCHPOINT_STATUSES",
    "Store",
    "iso_utc",
    "local_to_epoch",
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


def local_to_epoch(send_time: str, time_zone: int) -> float:
    """Return the epoch of a stored local send_time in its hour-offset zone."""
    local = datetime.strptime(send_time, LOCAL_FORMAT)
    return local.replace(tzinfo=timezone(timedelta(hours=time_zone))).timestamp()


def iso_utc(epoch: float) -> str:
    """Return ISO 8601 UTC with milliseconds and `Z` (the touchpoint API's timestamps)."""
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


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
        return time.time() + self.clock_offset_s

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
            return float(record.get("sending_since") or self.now()) + self.complete_after_s
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
        if data.get("format") != DATA_FORMAT:
            raise ValueError(f"unsupported sandbox data format {data.get('format')!r}")
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


def load_file(store: Store, path: Path) -> bool:
    """Fill the store from a `--data` file; False when the file does not exist yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a sandbox data file ({exc})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a sandbox data file")
    try:
        store.load_data(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: not a sandbox data file ({exc})") from exc
    return True


def save_file(store: Store, path: Path) -> None:
    """Write the store atomically (temp file in the same directory, fsync, rename)."""
    write_atomic(path, json.dumps(store.to_data(), separators=(",", ":"), ensure_ascii=False))
