"""reconciler.providers.engagelab.types: the value shapes of an EngageLab campaign (pydantic).

Recipient, attachment, UTM parameters, warm-up rules and the A/B test, each checked as the
API checks it (docs/reference/vendors.md "Campaign fields"), plus the JSON Schema variants
the loader accepts for them. The field declarations (`fields.py`) name these types.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PrivateAttr,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from reconciler import canonical as c
from reconciler.modelbase import FieldError, NonBlankStr, NonEmptyStr, ResolvedFile, StrictModel
from reconciler.providers.engagelab import quirks as q

__all__ = [
    "MAX_ATTACHMENTS",
    "MAX_ATTACHMENT_BYTES",
    "MAX_WARM_UP",
    "AbTest",
    "Attachment",
    "EmailAddress",
    "GoogleTrack",
    "Recipient",
    "SenderId",
    "WarmUp",
    "WinCondition",
    "attachment_canonical",
    "one_recipient",
    "send_time_input",
    "time_zone_input",
    "widen_defs",
]

MAX_ATTACHMENTS = 10
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_WARM_UP = 20
AFTER_TIME_MAX = {"hour": 23, "day": 10}


#: local@domain.tld, no whitespace and exactly one "@", so "a@b.co, c@d.co" is refused.
_EMAIL_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
#: The same two rules for editors, as JSON Schema patterns.
EMAIL_PATTERN = "^" + _EMAIL_ADDRESS.pattern + "$"


def sender_id_schema(*more: dict[str, Any]) -> dict[str, Any]:
    # `minimum` applies to the integer branch only (JSON Schema ignores it for strings).
    text = {"type": "string", "pattern": r"^\s*0*[1-9][0-9]*\s*$"}
    return {"anyOf": [text, {"type": "integer"}, *more], "minimum": 1}


def _email_address(value: str) -> str:
    if not _EMAIL_ADDRESS.fullmatch(value):
        raise ValueError(f"must be one email address, such as sales@example.com (got {value!r})")
    return value


def _sender_id_value(value: Any) -> Any:
    """Check a sender id as the API does (HTTP 400, code 32111) and return its canonical text."""
    message = "must be a positive integer or its decimal string, such as 53 or '53'"
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{message} (got {value!r})")
    text = q.canonical_sender_id(value)
    if not (text.isascii() and text.isdigit()) or int(text) == 0:
        raise ValueError(f"{message} (got {value!r})")
    return text


#: A sender id: int (responses) or string (requests), kept as the string without leading zeros.
SenderId = Annotated[StrictStr, BeforeValidator(_sender_id_value)]
TrackValue = Annotated[StrictStr, Field(max_length=64)]


class Recipient(StrictModel):
    """The one `to` entry: a list, tag or segment, with its values."""

    type: Literal["list", "tag", "segment"] = Field(description="API `to[0].type`.")
    value: list[NonBlankStr] = Field(min_length=1, description="API `to[0].value`.")


class Attachment(StrictModel):
    """A file attached to every email; `path` is relative to the YAML file."""

    path: NonEmptyStr = Field(description="Relative to the YAML file; must stay in the config dir.")
    filename: NonBlankStr | None = Field(
        default=None, description="API `attachments[].filename`; default: the path's base name."
    )
    _resolved: ResolvedFile | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _resolve(self, info: ValidationInfo) -> Attachment:
        resolver = (info.context or {}).get("resolve_attachment")
        if resolver is not None:
            try:
                self._resolved = resolver(self.path)
            except ValueError as exc:
                raise FieldError("path", str(exc)) from None
        return self

    @property
    def resolved(self) -> ResolvedFile | None:
        return self._resolved

    @property
    def effective_filename(self) -> str:
        return self.filename or os.path.basename(self.path)


class GoogleTrack(StrictModel):
    """UTM parameters the API appends to links; each at most 64 characters."""

    campaign_name: TrackValue | None = None
    campaign_source: TrackValue | None = None
    campaign_medium: TrackValue | None = None
    campaign_term: TrackValue | None = None
    campaign_content: TrackValue | None = None


RateValue = Annotated[float, Field(gt=0, le=1)]


class WarmUp(StrictModel):
    """A per-domain warm-up rule; values are delivery rates in (0, 1]."""

    domain: NonBlankStr
    rate: StrictInt = Field(ge=1, description="The sending-rate level, from 1.")
    upgrade_value: RateValue
    downgrade_value: RateValue

    @field_validator("upgrade_value", "downgrade_value", mode="before")
    @classmethod
    def _rate_value(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("must be a number in (0, 1]")
        return q.canonical_rate_value(value)


class WinCondition(StrictModel):
    """When and how the A/B winner is chosen."""

    time_unit: Literal["hour", "day"]
    after_time: StrictInt
    compare: Literal[
        "open_percent",
        "click_percent",
        "uni_open_percent",
        "uni_click_percent",
        "delivered_percent",
    ]

    @model_validator(mode="after")
    def _after_time_range(self) -> WinCondition:
        top = AFTER_TIME_MAX[self.time_unit]
        if not 0 <= self.after_time <= top:
            raise FieldError(
                "after_time",
                f"after_time must be in [0, {top}] when time_unit is {self.time_unit}"
                f" (got {self.after_time})",
            )
        return self


def _send_time_text(value: Any) -> Any:
    """Check a send time and return it as text, its UTC offset (if any) kept."""
    if not isinstance(value, str | datetime):
        return value
    parsed = c.parse_send_time(value)
    text = c.format_send_time(parsed)
    if parsed.tzinfo is None:
        return text
    return text.replace(" ", "T") + parsed.strftime("%z")


class AbTest(StrictModel):
    """The A/B test: share of recipients, the win condition, and exactly one tested list."""

    percent: StrictInt = Field(ge=1, le=100)
    win_condition: WinCondition
    template_invoke_names: list[NonBlankStr] | None = None
    sender_ids: list[SenderId] | None = None
    send_times: list[NonEmptyStr] | None = None
    subjects: list[NonBlankStr] | None = None

    @field_validator("send_times", mode="before")
    @classmethod
    def _send_times(cls, value: Any) -> Any:
        if isinstance(value, list):
            # Checked here, converted by EmailCampaign once its time_zone is known: an
            # offset is kept in the text until then.
            return [_send_time_text(v) for v in value]
        return value

    @model_validator(mode="after")
    def _one_dimension(self) -> AbTest:
        given = [d for d in c.AB_DIMENSIONS if getattr(self, d) is not None]
        if len(given) != 1:
            names = ", ".join(c.AB_DIMENSIONS)
            found = f"found {len(given)}" + (f": {', '.join(given)}" if given else "")
            raise ValueError(f"exactly one of {names} must be set ({found})")
        if not getattr(self, given[0]):
            raise FieldError(given[0], f"{given[0]} must list at least one value")
        return self

    @property
    def dimension(self) -> str:
        return next(d for d in c.AB_DIMENSIONS if getattr(self, d) is not None)


def attachment_canonical(attachment: Attachment) -> dict[str, Any]:
    resolved = attachment.resolved
    return {
        "filename": attachment.effective_filename,
        "sha256": resolved.sha256 if resolved else "",
        "path": resolved.path if resolved else attachment.path,
    }


#: One reply-to address, as the API checks it (32115).
EmailAddress = Annotated[StrictStr, AfterValidator(_email_address)]


def widen_defs(defs: dict[str, Any]) -> None:
    """Widen the schema's sub-model definitions to the variants the model accepts."""
    if "Recipient" in defs:
        # canonical_to reads a single string value as a one-element list.
        value = defs["Recipient"]["properties"]["value"]
        items = value["items"]
        value.clear()
        value["anyOf"] = [{"type": "array", "items": items, "minItems": 1}, items]
    if "AbTest" in defs:
        ids = defs["AbTest"]["properties"]["sender_ids"]["anyOf"][0]
        ids["items"] = sender_id_schema()
    if "WarmUp" in defs:
        for name in ("upgrade_value", "downgrade_value"):
            prop = defs["WarmUp"]["properties"][name]
            number = {k: prop.pop(k) for k in ("type", "exclusiveMinimum", "maximum")}
            prop["anyOf"] = [number, {"type": "string", "pattern": r"^\s*(0?\.\d+|1(\.0*)?)\s*$"}]
        rate = defs["WarmUp"]["properties"]["rate"]
        integer = {k: rate.pop(k) for k in ("type", "minimum")}
        rate["anyOf"] = [integer, {"type": "string", "pattern": r"^\s*\d+\s*$"}]


def one_recipient(value: Any) -> Any:
    """`to` as YAML may give it: the object, or a list of exactly one."""
    if isinstance(value, list) and len(value) != 1:
        raise ValueError(f"to must have exactly one entry (found {len(value)})")
    return q.canonical_to(value)


def send_time_input(value: Any) -> Any:
    # YAML turns an unquoted timestamp into a datetime; keep the text form.
    if value is None or isinstance(value, str):
        return value
    return c.canonical_send_time(value)


def time_zone_input(value: Any) -> Any:
    return None if value is None else c.canonical_time_zone(value)
