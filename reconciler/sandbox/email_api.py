"""reconciler.sandbox.email_api: the EngageLab Email marketing campaigns API, as documented.

Routes `/v1/marketing/campaigns[/{id}]`: Basic auth, the vendor's `{"code", "message"}`
errors, validation of every documented field rule, list paging and filters, and replies in
the quirky shapes of the vendor's own examples (vendors.md "Email quirks"). The sandbox
emulates the vendor: it imports nothing from reconciler.providers, and little else.

Vendor codes the docs give: 30000 (HTTP 401), 32112 (HTTP 401, as the docs show), 32110.
The others are the sandbox's own, one per rule, listed in `CODES` and docs/sandbox.md.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hmac
import re
from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from reconciler.sandbox.store import (
    EMAIL_STATUS_WAITING,
    Store,
    local_to_epoch,
    send_time_problem,
)
from reconciler.sandbox.wire import (
    INT_MAX,
    ApiRequest,
    BadBody,
    Reply,
    first_query_value,
    json_problem,
    parse_json_body,
)

__all__ = [
    "AB_TYPE",
    "CODES",
    "NORMAL_TYPE",
    "PREFIX",
    "SERVER_KEYS",
    "EmailApiError",
    "apply_fields",
    "handle",
    "new_record",
    "owns",
    "render",
]

PREFIX = "/v1/marketing/campaigns"


def owns(path: str) -> bool:
    """Whether a request path is this API's."""
    return path == PREFIX or path.startswith(PREFIX + "/")


#: docs/reference/vendors.md "Email quirks": the field table is the truth, 1 = A/B and 2 = normal.
AB_TYPE = 1
NORMAL_TYPE = 2

CODES: dict[str, int] = {
    "auth": 30000,
    "bad_json": 32100,
    "campaign_type": 32101,
    "name_length": 32102,
    "to": 32103,
    "send_time": 32104,
    "time_zone": 32105,
    "attachments": 32106,
    "ab_test": 32107,
    "warm_up": 32108,
    "google_track": 32109,
    "executed": 32110,
    "sender_id": 32111,
    "name_empty": 32112,
    "unknown_field": 32113,
    "query": 32114,
    "reply_to": 32115,
    "string_field": 32116,
    "not_found": 40400,
    "method": 40500,
    "length_required": 41100,
    "too_large": 41300,
}

NAME_MAX = 64
ATTACHMENTS_MAX = 10
ATTACHMENTS_BYTES_MAX = 10 * 1024 * 1024
WARM_UP_MAX = 20
GOOGLE_TRACK_KEYS = (
    "campaign_name",
    "campaign_source",
    "campaign_medium",
    "campaign_term",
    "campaign_content",
)
GOOGLE_TRACK_MAX = 64
TO_TYPES = frozenset({"list", "tag", "segment"})
AB_DIMENSIONS = ("template_invoke_names", "sender_ids", "send_times", "subjects")
AB_COMPARES = frozenset(
    {"open_percent", "click_percent", "uni_open_percent", "uni_click_percent", "delivered_percent"}
)
AB_AFTER_TIME_MAX = {"hour": 23, "day": 10}
LIST_LIMIT_DEFAULT = 10
LIST_LIMIT_MAX = 100
DEFAULT_TIME_ZONE = 8
RESPONSE_ZONE = timezone(timedelta(hours=8))

WRITABLE = frozenset(
    {
        "campaign_type",
        "name",
        "to",
        "reply_to",
        "sender_id",
        "template_invoke_name",
        "subject",
        "send_time",
        "run_time",
        "time_zone",
        "attachments",
        "ab_test",
        "google_track",
        "warm_up",
    }
)


class EmailApiError(Exception):
    """A vendor error reply: HTTP status, vendor code and message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def reply(self) -> Reply:
        return Reply(self.status, {"code": self.code, "message": self.message})


def _is_digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() also takes "²", which int() refuses."""
    return text.isascii() and text.isdigit()


_INT_DIGITS = len(str(INT_MAX))
_QUERY_INT = re.compile(r"-?[0-9]{1,18}")


def _digits_int(text: str) -> int | None:
    """An ASCII digit string as an int if it fits 64 bits, else None (no int() of 5000 digits)."""
    if not _is_digits(text) or len(text) > _INT_DIGITS:
        return None
    value = int(text)
    return value if value <= INT_MAX else None


def _invalid(rule: str, message: str) -> EmailApiError:
    return EmailApiError(400, CODES[rule], message)


# --------------------------------------------------------------------------- field parsers


def _is_blank(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _parse_campaign_type(value: Any) -> int:
    if isinstance(value, str) and (number := _digits_int(value.strip())) is not None:
        value = number
    if isinstance(value, bool) or value not in (AB_TYPE, NORMAL_TYPE):
        raise _invalid("campaign_type", "campaign_type must be 1 (A/B) or 2 (normal)")
    return int(value)


def _parse_name(value: Any) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise EmailApiError(401, CODES["name_empty"], "name cannot be empty")
    if not isinstance(value, str) or len(value) > NAME_MAX:
        raise _invalid("name_length", f"name must be a string of at most {NAME_MAX} characters")
    return value


def _parse_to(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], dict):
        raise _invalid("to", "to must be an array of exactly one {type, value} object")
    entry = value[0]
    if set(entry) != {"type", "value"}:
        raise _invalid("to", "to[0] must have exactly the keys type and value")
    if entry["type"] not in TO_TYPES:
        raise _invalid("to", "to[0].type must be list, tag or segment")
    values = entry["value"]
    if (
        not isinstance(values, list)
        or not values
        or not all(isinstance(v, str) and v.strip() for v in values)
    ):
        raise _invalid("to", "to[0].value must be a non-empty array of non-empty strings")
    return [{"type": entry["type"], "value": list(values)}]


def _parse_optional_string(field: str, value: Any) -> str | None:
    if _is_blank(value):
        return None
    if not isinstance(value, str):
        raise _invalid("string_field", f"{field} must be a string")
    return value


def _parse_reply_to(value: Any) -> str | None:
    text = _parse_optional_string("reply_to", value)
    if text is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text):
        raise _invalid("reply_to", "reply_to must be an email address")
    return text


def _parse_sender_id(value: Any) -> int | None:
    if _is_blank(value):
        return None
    if isinstance(value, str):
        value = _digits_int(value.strip())
    # A JSON body cannot carry an int past 64 bits (the parser refuses it); a digit string
    # past 64 bits is refused here, before int() of 5000 digits could raise.
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise _invalid("sender_id", "sender_id must be a positive integer (or its 64-bit string)")


_TZ_RE = re.compile(r"^([+-]?)([0-9]{1,2})$")


def _parse_time_zone(value: Any) -> int:
    if _is_blank(value):
        return DEFAULT_TIME_ZONE
    hours: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        hours = value
    elif isinstance(value, str) and (match := _TZ_RE.match(value.strip())):
        hours = int(match.group(2)) * (-1 if match.group(1) == "-" else 1)
    if hours is None or not -12 <= hours <= 14:
        raise _invalid(
            "time_zone", 'time_zone must be an hour offset from -12 to 14 (8, "8", "+8")'
        )
    return hours


_TIME_FORMATS_WITH_ZONE = ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S%z")
_TIME_FORMATS_LOCAL = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")


def _local_text(moment: datetime) -> str:
    """The stored form. Not strftime: glibc writes year 1 as "1", which strptime then refuses."""
    return moment.replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")


def _parse_send_time(field: str, value: Any, time_zone: int) -> str | None:
    """Return the stored local form; a time with an offset is converted into `time_zone`."""
    if _is_blank(value):
        return None
    if isinstance(value, str):
        text = value.strip()
        for fmt in _TIME_FORMATS_LOCAL:
            try:
                return _local_text(datetime.strptime(text, fmt))
            except ValueError:
                pass
        for fmt in _TIME_FORMATS_WITH_ZONE:
            try:
                moment = datetime.strptime(text, fmt)
            except ValueError:
                continue
            try:
                local = moment.astimezone(timezone(timedelta(hours=time_zone)))
            except OverflowError:
                # 9999-12-31T23:59:59-1200 is past year 9999 in UTC+14: not a time to store.
                raise _invalid(
                    "send_time", f"{field} {text} in time_zone {time_zone:+d} is after year 9999"
                ) from None
            return _local_text(local)
    raise _invalid(
        "send_time",
        f'{field} must be "YYYY-MM-DD HH:MM:SS" or "YYYY-MM-DDTHH:MM:SS+0800"',
    )


def _parse_attachments(value: Any) -> list[dict[str, str]] | None:
    if _is_blank(value):
        return None
    if not isinstance(value, list) or len(value) > ATTACHMENTS_MAX:
        raise _invalid("attachments", f"attachments must be an array of at most {ATTACHMENTS_MAX}")
    out: list[dict[str, str]] = []
    total = 0
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise _invalid("attachments", f"attachments[{index}] must be an object")
        filename = item.get("filename", item.get("file_name"))
        content = item.get("content")
        if not isinstance(filename, str) or not filename.strip():
            raise _invalid("attachments", f"attachments[{index}] needs a filename")
        if not isinstance(content, str):
            raise _invalid("attachments", f"attachments[{index}].content must be base64 text")
        try:
            total += len(base64.b64decode(content, validate=True))
        except (binascii.Error, ValueError):
            raise _invalid(
                "attachments", f"attachments[{index}].content is not valid base64"
            ) from None
        out.append({"filename": filename, "content": content})
    if total > ATTACHMENTS_BYTES_MAX:
        raise _invalid("attachments", "attachments exceed 10 MB in total (decoded)")
    return out


def _parse_google_track(value: Any) -> dict[str, str] | None:
    if _is_blank(value):
        return None
    if not isinstance(value, dict):
        raise _invalid("google_track", "google_track must be an object")
    unknown = sorted(set(value) - set(GOOGLE_TRACK_KEYS))
    if unknown:
        raise _invalid("google_track", f"google_track has unknown keys: {', '.join(unknown)}")
    out: dict[str, str] = {}
    for key, text in value.items():
        if text is None:
            continue
        if not isinstance(text, str) or len(text) > GOOGLE_TRACK_MAX:
            raise _invalid(
                "google_track", f"google_track.{key} must be a string of at most 64 characters"
            )
        out[key] = text
    return out if any(out.values()) else None


def _rate_value(index: int, key: str, value: Any) -> float:
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not 0 < number <= 1:
        raise _invalid("warm_up", f"warm_up[{index}].{key} must be a number in (0, 1]")
    return number


def _parse_warm_up(value: Any) -> list[dict[str, Any]] | None:
    if _is_blank(value):
        return None
    if not isinstance(value, list) or len(value) > WARM_UP_MAX:
        raise _invalid("warm_up", f"warm_up must be an array of at most {WARM_UP_MAX}")
    out: list[dict[str, Any]] = []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or set(item) - {
            "domain",
            "rate",
            "upgrade_value",
            "downgrade_value",
        }:
            raise _invalid(
                "warm_up",
                f"warm_up[{index}] must be {{domain, rate, upgrade_value, downgrade_value}}",
            )
        domain = item.get("domain")
        if not isinstance(domain, str) or not domain.strip():
            raise _invalid("warm_up", f"warm_up[{index}].domain must be a non-empty string")
        rate = item.get("rate")
        if isinstance(rate, str):
            rate = _digits_int(rate.strip())
        if not isinstance(rate, int) or isinstance(rate, bool) or not 1 <= rate <= INT_MAX:
            raise _invalid("warm_up", f"warm_up[{index}].rate must be a positive integer")
        out.append(
            {
                "domain": domain,
                "rate": rate,
                "upgrade_value": _rate_value(index, "upgrade_value", item.get("upgrade_value")),
                "downgrade_value": _rate_value(
                    index, "downgrade_value", item.get("downgrade_value")
                ),
            }
        )
    return out


def _string_list(field: str, value: Any) -> list[str]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value)
        or not all(str(v).strip() for v in value)
    ):
        raise _invalid("ab_test", f"ab_test.{field} must be a non-empty array of strings")
    return [str(v) for v in value]


def _parse_ab_test(value: Any, time_zone: int) -> dict[str, Any] | None:
    if _is_blank(value):
        return None
    if not isinstance(value, dict):
        raise _invalid("ab_test", "ab_test must be an object")
    unknown = sorted(set(value) - {"percent", "win_condition", *AB_DIMENSIONS})
    if unknown:
        raise _invalid("ab_test", f"ab_test has unknown keys: {', '.join(unknown)}")
    percent = value.get("percent")
    if not isinstance(percent, int) or isinstance(percent, bool) or not 1 <= percent <= 100:
        raise _invalid("ab_test", "ab_test.percent must be an integer from 1 to 100")
    win = value.get("win_condition")
    if not isinstance(win, dict) or set(win) != {"time_unit", "after_time", "compare"}:
        raise _invalid("ab_test", "ab_test.win_condition must be {time_unit, after_time, compare}")
    unit = win["time_unit"]
    if unit not in AB_AFTER_TIME_MAX:
        raise _invalid("ab_test", "ab_test.win_condition.time_unit must be day or hour")
    after = win["after_time"]
    if (
        not isinstance(after, int)
        or isinstance(after, bool)
        or not 0 <= after <= AB_AFTER_TIME_MAX[unit]
    ):
        raise _invalid(
            "ab_test",
            f"ab_test.win_condition.after_time must be 0..{AB_AFTER_TIME_MAX[unit]} for {unit}",
        )
    if win["compare"] not in AB_COMPARES:
        raise _invalid(
            "ab_test", f"ab_test.win_condition.compare must be one of {sorted(AB_COMPARES)}"
        )
    dimensions = [d for d in AB_DIMENSIONS if not _is_blank(value.get(d))]
    if len(dimensions) != 1:
        raise _invalid("ab_test", f"ab_test needs exactly one of {', '.join(AB_DIMENSIONS)}")
    dimension = dimensions[0]
    values = _string_list(dimension, value[dimension])
    if dimension == "send_times":
        values = [_parse_send_time("ab_test.send_times", v, time_zone) or "" for v in values]
    if dimension == "sender_ids" and not all(_is_digits(v.strip()) for v in values):
        raise _invalid("ab_test", "ab_test.sender_ids must be integers (as strings)")
    return {
        "percent": percent,
        "win_condition": {"time_unit": unit, "after_time": after, "compare": win["compare"]},
        dimension: values,
    }


# --------------------------------------------------------------------------- records


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


# --------------------------------------------------------------------------- handlers


def _check_auth(request: ApiRequest, api_user: str, api_key: str) -> None:
    header = request.header("Authorization") or ""
    expected = base64.b64encode(f"{api_user}:{api_key}".encode()).decode("ascii")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not hmac.compare_digest(token.strip(), expected):
        raise EmailApiError(401, CODES["auth"], "Authentication failed")


def _body(request: ApiRequest) -> dict[str, Any]:
    try:
        return parse_json_body(request.body)
    except BadBody as exc:
        raise _invalid("bad_json", str(exc)) from None


def _int_query(request: ApiRequest, name: str, default: int, low: int, high: int | None) -> int:
    raw = first_query_value(request.query, name)
    if raw is None:
        return default
    # Plain ASCII digits only: int() would also take " 5", "1_0", "-0" and "١".
    value = _digits_int(raw)
    if value is None:
        raise _invalid("query", f"{name} must be a whole number written in digits 0-9")
    if value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f">= {low}"
        raise _invalid("query", f"{name} must be {bound}")
    return value


def _filter_int(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not _QUERY_INT.fullmatch(raw):
        raise _invalid("query", "campaign_type and status must be integers (digits 0-9)")
    return int(raw)


def _lookup(store: Store, raw_id: str) -> dict[str, Any]:
    campaign_id = _digits_int(raw_id)
    record = store.email.get(campaign_id) if campaign_id is not None else None
    if record is None:
        raise EmailApiError(404, CODES["not_found"], f"campaign {raw_id} not found")
    return record


def _list(store: Store, request: ApiRequest, quirks: Collection[str]) -> Reply:
    limit = _int_query(request, "limit", LIST_LIMIT_DEFAULT, 1, LIST_LIMIT_MAX)
    offset = _int_query(request, "offset", 0, 0, None)
    campaign_type = first_query_value(request.query, "campaign_type")
    status = first_query_value(request.query, "status")
    name = first_query_value(request.query, "name")
    wanted_type = _filter_int(campaign_type)
    wanted_status = _filter_int(status)
    records = list(store.email.values())
    if wanted_type is not None or wanted_status is not None or name is not None:
        needle = name.casefold() if name is not None else None
        records = [
            r
            for r in records
            if (wanted_type is None or r["campaign_type"] == wanted_type)
            and (wanted_status is None or r["status"] == wanted_status)
            and (needle is None or needle in r["name"].casefold())
        ]
    page = records[offset : offset + limit]
    return Reply(
        200,
        {"result": [render(r, quirks, listing=True) for r in page], "total": len(records)},
    )


def _get(record: Mapping[str, Any], quirks: Collection[str]) -> Reply:
    reply = Reply(200, {"result": render(record, quirks)})
    if "trailing_comma" in quirks:
        # The vendor's own example ends with `],\n}\n}`: a trailing comma, invalid JSON.
        text = reply.encode()
        reply.raw = text[:-2] + b",}}"
    return reply


def handle(
    store: Store,
    request: ApiRequest,
    *,
    api_user: str,
    api_key: str,
    quirks: Collection[str] = (),
) -> Reply:
    """Answer one request under PREFIX; the caller holds the store lock."""
    try:
        _check_auth(request, api_user, api_key)
        store.advance()
        rest = request.path[len(PREFIX) :].strip("/")
        if "/" in rest:
            raise EmailApiError(404, CODES["not_found"], f"no such path {request.path}")
        if not rest:
            if request.method == "GET":
                return _list(store, request, quirks)
            if request.method == "POST":
                return _create(store, request, quirks)
            raise EmailApiError(405, CODES["method"], f"{request.method} is not allowed here")
        if request.method == "GET":
            return _get(_lookup(store, rest), quirks)
        if request.method == "PUT":
            return _update(store, _lookup(store, rest), request)
        if request.method == "DELETE":
            record = _lookup(store, rest)
            del store.email[record["campaign_id"]]
            return Reply(200, {"count": 1})
        raise EmailApiError(405, CODES["method"], f"{request.method} is not allowed here")
    except EmailApiError as exc:
        return exc.reply()


def _create(store: Store, request: ApiRequest, quirks: Collection[str]) -> Reply:
    fields = apply_fields(new_record(0, {}, 0.0), _body(request))
    writable = {k: v for k, v in fields.items() if k not in SERVER_KEYS}
    record = store.add_email(new_record(store.new_email_id(), writable, store.now()))
    return Reply(200, {"result": render(record, quirks)})


SERVER_KEYS = frozenset(
    {"campaign_id", "status", "create_time", "update_time", "sending_since", "complete_time"}
)


def _update(store: Store, record: dict[str, Any], request: ApiRequest) -> Reply:
    if record["status"] != EMAIL_STATUS_WAITING:
        raise EmailApiError(
            400, CODES["executed"], "The current campaign has been executed and cannot be modified"
        )
    body = _body(request)
    merged = apply_fields(record, body)
    record.update(merged)
    record["update_time"] = store.now()
    store.schedule(record)
    return Reply(200, {"count": 1})
