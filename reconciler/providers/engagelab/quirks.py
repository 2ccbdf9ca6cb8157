"""reconciler.providers.engagelab.quirks: one pure function per EngageLab value variant.

The vendor's docs disagree with themselves (docs/reference/vendors.md "Email quirks"); each
quirk is mapped to one canonical value here, once. The model calls these on YAML input and
the codec on API responses, so the planner only ever compares canonical values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.canonical import drop_empty, is_empty

__all__ = [
    "CAMPAIGN_TYPE_WIRE",
    "canonical_campaign_type",
    "canonical_google_track",
    "canonical_rate_value",
    "canonical_sender_id",
    "canonical_to",
    "canonical_warm_up",
]

#: vendors.md "Email quirks", campaign_type: the field table is the truth (1 = A/B, 2 = normal); the
#: request examples say the opposite. This is the one place the mapping lives.
CAMPAIGN_TYPE_WIRE: dict[str, int] = {"ab": 1, "normal": 2}


_CAMPAIGN_TYPE_FROM_WIRE = {v: k for k, v in CAMPAIGN_TYPE_WIRE.items()}


def canonical_campaign_type(value: Any) -> str:
    """Map "normal"/"ab", the wire integers 2/1 and their string forms to "normal" | "ab"."""
    if isinstance(value, bool):
        raise ValueError("campaign_type must be normal or ab (or the integers 2 or 1)")
    if isinstance(value, str):
        text = value.strip().lower()
        if text in CAMPAIGN_TYPE_WIRE:
            return text
        if text.isdigit():
            value = int(text)
    if isinstance(value, int) and value in _CAMPAIGN_TYPE_FROM_WIRE:
        return _CAMPAIGN_TYPE_FROM_WIRE[value]
    raise ValueError("campaign_type must be normal or ab (or the integers 2 or 1)")


def canonical_to(value: Any) -> Any:
    """Map the `to` object or a one-element list of it to the bare object.

    vendors.md "Email quirks": requests send `[{type, value}]`; a response example sends the object.
    A list of another length is left as is for the model to reject with a clear message.
    """
    if isinstance(value, list | tuple) and len(value) == 1:
        value = value[0]
    if isinstance(value, Mapping) and isinstance(value.get("value"), str):
        value = {**value, "value": [value["value"]]}
    return value


def canonical_sender_id(value: Any) -> Any:
    """Map a sender id given as int (responses) or string (requests) to its string form."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        text = value.strip()
        # Responses carry the id as an int, so "053" comes back as 53: one value, not a diff.
        return str(int(text)) if text.isascii() and text.isdigit() else text
    return value


def canonical_rate_value(value: Any) -> Any:
    """Map a warm-up upgrade/downgrade value given as "0.95" (examples) or 0.95 to a float."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return value
    return value


def canonical_warm_up(value: Any) -> Any:
    """Map warm_up entries to canonical numbers; null and [] both mean none."""
    if is_empty(value):
        return None
    if not isinstance(value, list):
        return value
    out = []
    for entry in value:
        if isinstance(entry, Mapping):
            entry = dict(entry)
            for key in ("upgrade_value", "downgrade_value"):
                if key in entry:
                    entry[key] = canonical_rate_value(entry[key])
            if isinstance(entry.get("rate"), str) and entry["rate"].strip().isdigit():
                entry["rate"] = int(entry["rate"])
        out.append(entry)
    return out


def canonical_google_track(value: Any) -> Any:
    """Map google_track to its non-empty fields; null, {} and all-"" forms mean none."""
    if isinstance(value, Mapping):
        trimmed = drop_empty(value)
        return trimmed or None
    return None if is_empty(value) else value
