"""reconciler.sandbox.email_records: an email campaign as stored, and as the vendor shows it.

`apply_fields` merges a request's fields into a stored record and checks the cross-field
rules; `new_record` is a fresh one; `render` is a record in the shapes of the vendor's own
examples, with the quirks switched on (vendors.md "Email quirks").
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from reconciler.sandbox.email_fields import (
    AB_TYPE,
    CODES,
    DEFAULT_TIME_ZONE,
    GOOGLE_TRACK_KEYS,
    NORMAL_TYPE,
    WRITABLE,
    EmailApiError,
    _invalid,
    _parse_ab_test,
    _parse_attachments,
    _parse_campaign_type,
    _parse_google_track,
    _parse_name,
    _parse_optional_string,
    _parse_reply_to,
    _parse_send_time,
    _parse_sender_id,
    _parse_time_zone,
    _parse_to,
    _parse_warm_up,
)
from reconciler.sandbox.store import EMAIL_STATUS_WAITING, local_to_epoch, send_time_problem
from reconciler.sandbox.wire import json_problem

__all__ = ["RESPONSE_ZONE", "SERVER_KEYS", "apply_fields", "new_record", "render"]

RESPONSE_ZONE = timezone(timedelta(hours=8))

SERVER_KEYS = frozenset(
    {"campaign_id", "status", "create_time", "update_time", "sending_since", "complete_time"}
)


def apply_fields(
    record: Mapping[str, Any], body: Mapping[str, Any], *, extra: Collection[str] = ()
) -> dict[str, Any]:
    """Return `record` with the body's keys parsed and merged in (keys absent stay as they are).

    `extra` names additional keys the caller handles itself (the admin's `status`).
    """
    unknown = sorted(set(body) - WRITABLE - set(extra))
    if unknown:
        raise _invalid("unknown_field", f"unknown field: {', '.join(unknown)}")
    merged = dict(record)
    time_zone = (
        _parse_time_zone(body["time_zone"])
        if "time_zone" in body
        else merged.get("time_zone", DEFAULT_TIME_ZONE)
    )
    merged["time_zone"] = time_zone
    parsers: dict[str, Callable[[Any], Any]] = {
        "campaign_type": _parse_campaign_type,
        "name": _parse_name,
        "to": _parse_to,
        "reply_to": _parse_reply_to,
        "sender_id": _parse_sender_id,
        "template_invoke_name": lambda v: _parse_optional_string("template_invoke_name", v),
        "subject": lambda v: _parse_optional_string("subject", v),
        "attachments": _parse_attachments,
        "google_track": _parse_google_track,
        "warm_up": _parse_warm_up,
        "ab_test": lambda v: _parse_ab_test(v, time_zone),
    }
    for key, parse in parsers.items():
        if key in body:
            merged[key] = parse(body[key])
    for key in ("run_time", "send_time"):  # send_time wins when both are given
        if key in body:
            merged["send_time"] = _parse_send_time(key, body[key], time_zone)
    _check_whole(merged)
    return merged


def _check_whole(record: Mapping[str, Any]) -> None:
    """The cross-field rules, on the campaign as it would be stored."""
    problem = json_problem(dict(record))
    if problem is not None:
        # Python callers (edit_email_campaign) skip the body parser; the record must still be
        # one that encodes as UTF-8 JSON, or every later save and list would fail.
        raise _invalid("bad_json", f"the campaign {problem}")
    _check_send_times(record)
    if record.get("name") is None:
        raise EmailApiError(401, CODES["name_empty"], "name cannot be empty")
    if record.get("campaign_type") is None:
        raise _invalid("campaign_type", "campaign_type is required: 1 (A/B) or 2 (normal)")
    if record.get("to") is None:
        raise _invalid("to", "to is required: an array of exactly one {type, value} object")
    ab_test = record.get("ab_test")
    if record["campaign_type"] == NORMAL_TYPE and ab_test:
        raise _invalid("ab_test", "ab_test is only for A/B campaigns (campaign_type 1)")
    if record["campaign_type"] == AB_TYPE:
        if not ab_test:
            raise _invalid("ab_test", "an A/B campaign (campaign_type 1) needs ab_test")
        if record.get("warm_up"):
            raise _invalid("warm_up", "warm_up is only for normal campaigns (campaign_type 2)")
        if "template_invoke_names" in ab_test and not record.get("subject"):
            raise _invalid(
                "ab_test", "subject is required when ab_test tests template_invoke_names"
            )


def _check_send_times(record: Mapping[str, Any]) -> None:
    """Every send time must be an instant the API can show, in the campaign's time_zone.

    Checked on the merged record: a PUT of time_zone alone moves a stored send_time too.
    """
    time_zone = record.get("time_zone", DEFAULT_TIME_ZONE)
    send_times = [("send_time", record.get("send_time"))]
    ab_test = record.get("ab_test") or {}
    send_times += [("ab_test.send_times", t) for t in ab_test.get("send_times") or []]
    for name, send_time in send_times:
        if send_time and (problem := send_time_problem(name, send_time, time_zone)):
            raise _invalid("send_time", problem)


def new_record(campaign_id: int, fields: Mapping[str, Any], now: float) -> dict[str, Any]:
    """Return a stored campaign: every field present, status 0, timestamps set."""
    record: dict[str, Any] = {
        "campaign_id": campaign_id,
        "campaign_type": None,
        "name": None,
        "to": None,
        "reply_to": None,
        "sender_id": None,
        "template_invoke_name": None,
        "subject": None,
        "send_time": None,
        "time_zone": DEFAULT_TIME_ZONE,
        "attachments": None,
        "ab_test": None,
        "google_track": None,
        "warm_up": None,
        "status": EMAIL_STATUS_WAITING,
        "create_time": now,
        "update_time": now,
        "sending_since": None,
        "complete_time": None,
    }
    record.update(fields)
    return record


# --------------------------------------------------------------------------- replies


def _vendor_time(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    moment = datetime.fromtimestamp(epoch, tz=RESPONSE_ZONE)
    # isoformat, not strftime("%Y"): glibc writes year 1 as "1", not "0001".
    return moment.replace(tzinfo=None).isoformat(timespec="seconds") + moment.strftime("%z")


def _rate_text(value: float) -> str:
    return repr(float(value))


def render(
    record: Mapping[str, Any], quirks: Collection[str] = (), *, listing: bool = False
) -> dict[str, Any]:
    """Return a campaign as the vendor's examples show it (write-only fields left out)."""
    sender_id = record.get("sender_id")
    send_time = record.get("send_time")
    run_time = _vendor_time(local_to_epoch(send_time, record["time_zone"])) if send_time else None
    warm_up = record.get("warm_up")
    if warm_up:
        as_numbers = "float_warm_up" in quirks
        warm_up_out: list[dict[str, Any]] | None = [
            {
                "domain": w["domain"],
                "rate": w["rate"],
                "upgrade_value": (
                    w["upgrade_value"] if as_numbers else _rate_text(w["upgrade_value"])
                ),
                "downgrade_value": (
                    w["downgrade_value"] if as_numbers else _rate_text(w["downgrade_value"])
                ),
            }
            for w in warm_up
        ]
    else:
        warm_up_out = [] if listing else None
    google_track = record.get("google_track")
    to = record["to"]
    out: dict[str, Any] = {
        "campaign_id": record["campaign_id"],
        "campaign_type": record["campaign_type"],
        "name": record["name"],
        "to": to[0] if "bare_to" in quirks else [dict(t) for t in to],
        "template_invoke_name": record.get("template_invoke_name") or "",
        "reply_to": record.get("reply_to") or "",
        "status": record["status"],
        "from_email": f"sender{sender_id}@sandbox.engagelab.test" if sender_id else "",
        "from_name": f"Sandbox sender {sender_id}" if sender_id else "",
        "sender_id": (
            str(sender_id) if sender_id is not None and "string_sender_id" in quirks else sender_id
        ),
        "create_time": _vendor_time(record["create_time"]),
        "update_time": _vendor_time(record["update_time"]),
        "run_time": run_time,
        "complete_time": _vendor_time(record.get("complete_time")),
        "time_zone": f"{record['time_zone']:+d}",
        "google_track": (
            {key: google_track.get(key, "") for key in GOOGLE_TRACK_KEYS} if google_track else None
        ),
        "warm_up": warm_up_out,
    }
    if record["campaign_type"] == AB_TYPE and record.get("ab_test"):
        out["ab_test"] = copy.deepcopy(record["ab_test"])
    return out
