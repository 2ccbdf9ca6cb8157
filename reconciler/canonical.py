"""reconciler.canonical: vendor-neutral canonical forms: unset values, send times, hashes.

The forms every kind shares (docs/reference/semantics.md "Unset values"), the send-time
forms the sandbox shares too, and the stable hashes state and plans use. One vendor's own
value variants live in its package (`providers/engagelab/quirks.py`,
`providers/imbrace/quirks.py`).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, Final

from reconciler.jsoncodec import dumps_compact

__all__ = [
    "AB_DIMENSIONS",
    "DEFAULT_TIME_ZONE",
    "SEND_TIME_FORMAT",
    "canonical_send_time",
    "canonical_time_zone",
    "comparable",
    "content_hash",
    "drop_empty",
    "fingerprint",
    "format_send_time",
    "hash_write_only",
    "is_empty",
    "parse_send_time",
    "send_time_to_wire_run_time",
    "stable_json",
]


#: docs/reference/vendors.md "Campaign fields", time_zone: default +8.
DEFAULT_TIME_ZONE = 8


#: The one send_time form we diff and store: local time in the campaign's time zone.
SEND_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

#: The A/B test dimensions; exactly one is set, and each overrides one single field.
AB_DIMENSIONS: dict[str, str] = {
    "template_invoke_names": "template_invoke_name",
    "sender_ids": "sender_id",
    "send_times": "send_time",
    "subjects": "subject",
}


#: Exact types whose answer needs no comparison: sized ones are empty when `not value` (a
#: str equals only "" of the four, a list only []...), numbers never equal any of them.
_SIZED: Final = frozenset({str, list, dict, tuple})
_NEVER_EMPTY: Final = frozenset({int, bool, float})


def is_empty(value: Any) -> bool:
    """Return True for the values semantics.md "Unset values" names: None, "", [] and {}."""
    if value is None:
        return True
    # The same answers as the comparisons below, without their reflected calls for the
    # common types: a plan of 10,000 campaigns asks this about 400,000 times.
    kind = type(value)
    if kind in _SIZED:
        return not value
    if kind in _NEVER_EMPTY:
        return False
    return value == "" or value == [] or value == {} or value == ()  # type: ignore[no-any-return]


def drop_empty(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Return the mapping without its empty values (docs/reference/semantics.md "Unset values")."""
    return {k: v for k, v in mapping.items() if not is_empty(v)}


_TZ_RE = re.compile(r"^\s*([+-]?)(\d{1,2})(?::?00)?\s*$")


def canonical_time_zone(value: Any) -> int:
    """Map 8, "8", "+8", "-5", "+08:00" to an int hour offset in [-12, 14].

    vendors.md "Email quirks": requests send "8" (string), responses give "+8", the table says int.
    """
    if isinstance(value, bool):
        raise ValueError('time_zone must be an hour offset such as 8, "+8" or -5')
    if isinstance(value, int):
        hours = value
    elif isinstance(value, float) and value.is_integer():
        hours = int(value)
    elif isinstance(value, str) and (match := _TZ_RE.match(value)):
        hours = int(match.group(2)) * (-1 if match.group(1) == "-" else 1)
    else:
        raise ValueError('time_zone must be an hour offset such as 8, "+8" or -5')
    if not -12 <= hours <= 14:
        raise ValueError("time_zone must be between -12 and +14")
    return hours


_SEND_TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S",
)


#: The canonical form and the responses' `run_time` form, read without strptime (30,000
#: calls were 10% of a 10,000 plan): what strptime's `%Y-%m-%d %H:%M:%S` and
#: `%Y-%m-%dT%H:%M:%S%z` take when every part has all its digits (others go to strptime).
_CANONICAL_SEND_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)", re.ASCII)
_RUN_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)([+-])(\d\d)([0-5]\d)", re.ASCII)


def parse_send_time(value: Any) -> datetime:
    """Parse either documented send_time form; ValueError names both."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError('send_time must be a string such as "2026-12-01 10:00:00"')
    text = value.strip()
    if (match := _CANONICAL_SEND_TIME.fullmatch(text)) is not None:
        try:
            year, month, day, hour, minute, second = map(int, match.groups())
            return datetime(year, month, day, hour, minute, second)
        except ValueError:
            pass  # month 13, hour 24...: strptime below gives the same error as before
    elif (match := _RUN_TIME.fullmatch(text)) is not None:
        try:
            return _run_time(match)
        except ValueError:
            pass
    if text.endswith("Z"):
        text = text[:-1] + "+0000"
    for fmt in _SEND_TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise ValueError('send_time must be "YYYY-MM-DD HH:MM:SS" or "YYYY-MM-DDTHH:MM:SS+0800"')


def _run_time(match: re.Match[str]) -> datetime:
    """A `_RUN_TIME` match as strptime's `%z` makes it (timezone.utc for +0000)."""
    year, month, day, hour, minute, second = map(int, match.groups()[:6])
    sign = -1 if match.group(7) == "-" else 1
    zone = _zone(sign * (int(match.group(8)) * 60 + int(match.group(9))))
    return datetime(year, month, day, hour, minute, second, tzinfo=zone)


@functools.lru_cache(maxsize=64)
def _zone(minutes: int) -> timezone:
    """One tzinfo per offset, not one per campaign (50,000 of them were 6 MB)."""
    return timezone(timedelta(minutes=minutes))


def canonical_send_time(value: Any, time_zone: int | None = None) -> str:
    """Return send_time as "YYYY-MM-DD HH:MM:SS" local to the campaign's time zone.

    Accepts both documented forms (`2022-10-19 19:35:20` and `2022-10-26T17:10:20+0800`,
    the latter as responses' `run_time` gives it). A time without an offset is already in
    the campaign's zone (semantics.md "send_time"); one with an offset is converted into it.
    """
    parsed = parse_send_time(value)
    if parsed.tzinfo is not None:
        hours = DEFAULT_TIME_ZONE if time_zone is None else time_zone
        # Shifted by the difference of the offsets, not via UTC as astimezone() does: a
        # time whose result is representable must convert even when UTC is not (year 1).
        shift = timedelta(hours=hours) - (parsed.utcoffset() or timedelta(0))
        try:
            parsed = parsed.replace(tzinfo=None) + shift
        except OverflowError:
            # 9999-12-31T23:00:00-1200 is a valid text whose conversion passes year 9999:
            # one more value the API cannot take, so a ValueError like the others.
            raise ValueError(
                f"send_time {_shown(value)} is out of range once converted to "
                f"time zone {hours:+d} (years 1 to 9999)"
            ) from None
    return format_send_time(parsed)


def _shown(value: Any) -> str:
    return repr(value) if isinstance(value, str) else repr(str(value))


def format_send_time(moment: datetime) -> str:
    """`YYYY-MM-DD HH:MM:SS`, the year always four digits (strftime writes year 1 as "1")."""
    return f"{moment.year:04d}-" + moment.strftime("%m-%d %H:%M:%S")


def send_time_to_wire_run_time(send_time: str, time_zone: int | None) -> str:
    """Return the `2022-10-26T17:10:20+0800` form of a canonical send_time (for responses)."""
    hours = DEFAULT_TIME_ZONE if time_zone is None else time_zone
    local = datetime.strptime(send_time, SEND_TIME_FORMAT)
    return local.replace(tzinfo=timezone(timedelta(hours=hours))).strftime("%Y-%m-%dT%H:%M:%S%z")


def stable_json(value: Any) -> str:
    """Serialise to compact JSON with sorted keys: the form hashes and fingerprints use."""
    return dumps_compact(value)


def content_hash(value: Any) -> str:
    """Return `sha256:<hex>` of a value's stable JSON (or of bytes as they are)."""
    data = value if isinstance(value, bytes) else stable_json(value).encode()
    return "sha256:" + hashlib.sha256(data).hexdigest()


def fingerprint(value: Any) -> str:
    """Return a short stable fingerprint of a live object (for stale-plan checks)."""
    return content_hash(value)[len("sha256:") :][:32]


def comparable(canonical: Mapping[str, Any]) -> dict[str, Any]:
    """Return a canonical campaign without what must not be diffed (attachment paths).

    An attachment is compared by filename and content hash: moving the file is no change.
    """
    out = dict(canonical)
    if out.get("attachments"):
        out["attachments"] = [
            {"filename": a["filename"], "sha256": a["sha256"]} for a in out["attachments"]
        ]
    return out


def hash_write_only(canonical: Mapping[str, Any]) -> dict[str, Any]:
    """Return a canonical campaign as the state records it: write-only values hashed.

    State keeps no subject text, attachment bytes or touchpoint message, only their
    hashes (issue "state"): enough to see a change, nothing worth leaking.
    """
    out = comparable(canonical)
    if "subject" in out and not is_empty(out["subject"]):
        out["subject"] = content_hash(out["subject"])
    if out.get("touchpoints"):
        out["touchpoints"] = [
            {**tp, "message": content_hash(tp["message"])} if "message" in tp else dict(tp)
            for tp in out["touchpoints"]
        ]
    return out


def ordered_unique(values: Iterable[str]) -> list[str]:
    """Return the values once each, in first-seen order."""
    seen: dict[str, None] = {}
    for value in values:
        seen.setdefault(value, None)
    return list(seen)
