"""reconciler.sandbox.email_fields: the EngageLab email API's rule for each field of a campaign.

One parser per request field (`campaign_type`, `name`, `to`, ... `ab_test`), each returning
the stored form or raising `EmailApiError` with the vendor's code for that rule
(vendors.md "Email quirks"; the sandbox's own codes are listed in docs/sandbox.md). The
cross-field rules are `email_records`'.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from reconciler.sandbox.wire import INT_MAX, Reply

__all__ = [
    "AB_TYPE",
    "CODES",
    "DEFAULT_TIME_ZONE",
    "GOOGLE_TRACK_KEYS",
    "NORMAL_TYPE",
    "WRITABLE",
    "EmailApiError",
]


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
DEFAULT_TIME_ZONE = 8

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


def _optional_array(field: str, value: Any, most: int) -> list[Any] | None:
    """None for a blank value, else the value if it is an array of at most `most` items."""
    if _is_blank(value):
        return None
    if not isinstance(value, list) or len(value) > most:
        raise _invalid(field, f"{field} must be an array of at most {most}")
    return value


def _parse_attachments(value: Any) -> list[dict[str, str]] | None:
    items = _optional_array("attachments", value, ATTACHMENTS_MAX)
    if items is None:
        return None
    out: list[dict[str, str]] = []
    total = 0
    for index, item in enumerate(items):
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
    items = _optional_array("warm_up", value, WARM_UP_MAX)
    if items is None:
        return None
    out: list[dict[str, Any]] = []
    for index, item in enumerate(items):
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
