"""reconciler.providers.engagelab.codec: EngageLab wire values <-> canonical values, per field.

Decoding maps every documented response variant (docs/reference/vendors.md "Email quirks")
to the canonical form, so a campaign created from a model reads back equal to that model's
canonical form minus the write-only fields: an unchanged campaign always plans `no-op`.
Encoding sends the variant the field table marks "send". The field declarations
(`fields.py`) name these functions; no HTTP here (the client quotes bad values).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from reconciler import canonical as c
from reconciler.errors import CampaignctlError
from reconciler.providers.engagelab import quirks as q

__all__ = [
    "GOOGLE_TRACK_KEYS",
    "Undocumented",
    "decode_ab_test",
    "decode_google_track",
    "decode_send_time",
    "decode_sender_id",
    "decode_time_zone",
    "decode_to",
    "decode_warm_up",
    "digits_to_int",
    "encode_list_of_objects",
    "encode_to",
    "read_attachment",
    "text",
]

GOOGLE_TRACK_KEYS: Final = (
    "campaign_name",
    "campaign_source",
    "campaign_medium",
    "campaign_term",
    "campaign_content",
)
WARM_UP_KEYS: Final = ("domain", "rate", "upgrade_value", "downgrade_value")
WIN_CONDITION_KEYS: Final = ("time_unit", "after_time", "compare")


class Undocumented(ValueError):
    """A response value no documented variant covers: `text`, then the value quoted.

    The client quotes the value (bounded, before masking); here it is only carried.
    """

    def __init__(self, text: str, value: Any) -> None:
        super().__init__(f"{text}, got {value!r}")
        self.text = text
        self.value = value


# --------------------------------------------------------------------------- decoding


def text(value: Any) -> str | None:
    """A string field: "" and null are one "unset" (docs/reference/semantics.md "Unset values")."""
    if c.is_empty(value):
        return None
    if not isinstance(value, str):
        raise Undocumented("expected a string", value)
    return value


def _scalar_text(value: Any) -> str:
    """A list item the API writes as a string or a number (a tag, a sender id)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Undocumented("expected a string", value)
    return str(value)


def digits_to_int(value: Any) -> Any:
    """An integer that some responses may carry as a digit string."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value


def decode_time_zone(value: Any) -> int | None:
    """`time_zone`: responses give "+8", requests "8", the table an int; all -> 8."""
    return None if c.is_empty(value) else c.canonical_time_zone(value)


def decode_send_time(raw: Mapping[str, Any], time_zone: int | None) -> str | None:
    """`send_time` from `run_time` (`2022-10-26T17:10:20+0800`), local to the campaign's zone.

    Responses carry `run_time`; a `send_time` key, should one appear, wins as it does on
    requests. Both documented date forms are accepted.
    """
    value = raw.get("send_time")
    if c.is_empty(value):
        value = raw.get("run_time")
    return None if c.is_empty(value) else c.canonical_send_time(value, time_zone)


def decode_to(value: Any) -> dict[str, Any] | None:
    """`to`: a one-element list (documented) or a bare object (one example) -> the object."""
    if c.is_empty(value):
        return None
    entry = q.canonical_to(value)
    if (
        not isinstance(entry, Mapping)
        or not isinstance(entry.get("value"), list)
        or not isinstance(entry.get("type"), str)
    ):
        raise Undocumented("expected one {type, value} entry", value)
    return {"type": entry["type"], "value": [_scalar_text(v) for v in entry["value"]]}


def decode_sender_id(value: Any) -> str | None:
    """`sender_id`: an int in responses, a string in requests -> the string."""
    return None if c.is_empty(value) else q.canonical_sender_id(_scalar_text(value))


def decode_google_track(value: Any) -> dict[str, str] | None:
    """`google_track`: null, {} and the all-"" object all mean none; else its non-empty keys."""
    if isinstance(value, Mapping):
        value = {k: text(v) for k, v in value.items() if k in GOOGLE_TRACK_KEYS}
    result = q.canonical_google_track(value)
    if result is not None and not isinstance(result, Mapping):
        raise Undocumented("expected an object", value)
    return dict(result) if isinstance(result, Mapping) else result


def decode_warm_up(value: Any) -> list[dict[str, Any]] | None:
    """`warm_up`: null and [] mean none; "0.95" and 0.95 are one value; rate an int."""
    entries = q.canonical_warm_up(value)
    if entries is None:
        return None
    if not isinstance(entries, list):
        raise Undocumented("expected a list of warm-up rules", value)
    out = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise Undocumented("expected a warm-up rule object", entry)
        rule = {k: entry[k] for k in WARM_UP_KEYS if k in entry}
        if "rate" in rule:
            rule["rate"] = digits_to_int(rule["rate"])
        for key, item in rule.items():
            if isinstance(item, bool) or not isinstance(item, str | int | float | None):
                raise Undocumented(f"warm_up {key} must be a string or a number", item)
        out.append(rule)
    return out


def decode_ab_test(value: Any, time_zone: int | None) -> dict[str, Any] | None:
    """`ab_test`: null/{} mean none; tested lists in canonical form, empty lists dropped."""
    if c.is_empty(value):
        return None
    if not isinstance(value, Mapping):
        raise Undocumented("expected an object", value)
    out: dict[str, Any] = {}
    if not c.is_empty(value.get("percent")):
        out["percent"] = _whole(value["percent"], "percent")
    condition = value.get("win_condition")
    if isinstance(condition, Mapping):
        out["win_condition"] = {k: condition[k] for k in WIN_CONDITION_KEYS if k in condition}
        if "after_time" in out["win_condition"]:
            after = out["win_condition"]["after_time"]
            out["win_condition"]["after_time"] = _whole(after, "after_time")
        for key in ("time_unit", "compare"):
            if key in out["win_condition"]:
                out["win_condition"][key] = _scalar_text(out["win_condition"][key])
    elif not c.is_empty(condition):
        raise Undocumented("win_condition must be an object", condition)
    per_item: dict[str, Callable[[Any], Any]] = {
        "template_invoke_names": _scalar_text,
        "sender_ids": lambda v: q.canonical_sender_id(_scalar_text(v)),
        "send_times": lambda v: c.canonical_send_time(_scalar_text(v), time_zone),
        "subjects": _scalar_text,
    }
    for key, convert in per_item.items():
        items = value.get(key)
        if not c.is_empty(items):
            if not isinstance(items, list):
                raise Undocumented(f"{key} must be a list", items)
            out[key] = [convert(item) for item in items]
    return out or None


def _whole(value: Any, what: str) -> int:
    number = digits_to_int(value)
    if isinstance(number, bool) or not isinstance(number, int):
        raise Undocumented(f"{what} must be an integer", value)
    return number


def read_attachment(attachment: Mapping[str, Any]) -> dict[str, str]:
    """Return `{filename, content}` with the file's bytes base64-encoded.

    The bytes must still hash to what validation recorded: what the state says was sent
    is what was sent.
    """
    path = Path(str(attachment["path"]))
    filename = str(attachment.get("filename") or path.name)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CampaignctlError(
            f"cannot read attachment {filename}: {exc.strerror or exc}", where=str(path)
        ) from None
    expected = str(attachment.get("sha256") or "").removeprefix("sha256:")
    if expected and hashlib.sha256(data).hexdigest() != expected:
        raise CampaignctlError(
            f"attachment {filename} changed since it was validated",
            where=str(path),
            hint="run plan again",
        )
    return {"filename": filename, "content": base64.b64encode(data).decode("ascii")}


def encode_to(value: Any) -> list[dict[str, Any]]:
    entry = q.canonical_to(value)
    return [dict(entry)] if isinstance(entry, Mapping) else list(value)


def encode_list_of_objects(value: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [dict(item) for item in value]
