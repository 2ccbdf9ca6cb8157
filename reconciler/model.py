"""reconciler.model: pydantic models of the YAML kinds, in canonical form, and their schema.

Every rule of vendors.md "Campaign fields" is enforced here, offline. Values are canonicalised
on the way in (reconciler.canonical), so a model's ``canonical()`` is the one form the planner
diffs, the state records and the providers send.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_validator,
)

from reconciler import canonical as c

__all__ = [
    "KINDS",
    "MAX_ATTACHMENTS",
    "MAX_ATTACHMENT_BYTES",
    "AbTest",
    "Attachment",
    "Campaign",
    "EmailCampaign",
    "GoogleTrack",
    "Lifecycle",
    "MessagingCampaign",
    "Recipient",
    "ResolvedFile",
    "Source",
    "Touchpoint",
    "WarmUp",
    "WinCondition",
    "campaign_adapter",
    "json_schema",
]

MAX_NAME = 64
MAX_ATTACHMENTS = 10
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_WARM_UP = 20
AFTER_TIME_MAX = {"hour": 23, "day": 10}


@dataclass(frozen=True)
class Source:
    """Where a campaign was declared: file and 1-based line and column."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class ResolvedFile:
    """An attachment file as the loader found it: absolute path, size and content hash."""

    path: str
    size: int
    sha256: str


#: Called by Attachment validation with the YAML's `path`; returns the resolved file or
#: raises ValueError (outside the config dir, missing...). The loader passes it in the
#: validation context as "resolve_attachment"; without it, attachments stay unresolved.
AttachmentResolver = Callable[[str], ResolvedFile]


#: semantics.md "Unset values": absent, null, "" and [] are one value for an optional field.
_UNSET_SPELLINGS: tuple[Any, ...] = (None, "", [])


def _drop_unset(data: Any, optional: frozenset[str]) -> Any:
    """Return a YAML mapping without its optional keys spelled unset (null, "" or [])."""
    if not isinstance(data, dict):
        return data
    return {
        k: v
        for k, v in data.items()
        if not (k in optional and any(v == u and type(v) is type(u) for u in _UNSET_SPELLINGS))
    }


class StrictModel(BaseModel):
    """Base: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


NonEmptyStr = Annotated[StrictStr, Field(min_length=1)]


_NOT_BLANK_PATTERN = r"\S"


def _not_blank(value: str) -> str:
    # The API strips before checking, so "  " is as empty to it as "" (sandbox: 32103...).
    if not value.strip():
        raise ValueError("must not be blank (only whitespace)")
    return value


#: A string the API accepts as non-empty: at least one non-whitespace character.
NonBlankStr = Annotated[
    StrictStr,
    Field(min_length=1, json_schema_extra={"pattern": _NOT_BLANK_PATTERN}),
    AfterValidator(_not_blank),
]

#: vendors.md "Campaign fields", reply_to: one address. The API's own check (HTTP 400, code 32115):
#: local@domain.tld, no whitespace and exactly one "@", so "a@b.co, c@d.co" is refused.
_EMAIL_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
#: The same two rules for editors, as JSON Schema patterns.
_EMAIL_PATTERN = "^" + _EMAIL_ADDRESS.pattern + "$"


def _sender_id_schema(*more: dict[str, Any]) -> dict[str, Any]:
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
    text = c.canonical_sender_id(value)
    if not (text.isascii() and text.isdigit()) or int(text) == 0:
        raise ValueError(f"{message} (got {value!r})")
    return text


#: A sender id: int (responses) or string (requests), kept as the string without leading zeros.
SenderId = Annotated[StrictStr, BeforeValidator(_sender_id_value)]
Name = Annotated[StrictStr, Field(min_length=1, max_length=MAX_NAME)]
TrackValue = Annotated[StrictStr, Field(max_length=64)]


class Lifecycle(StrictModel):
    """Terraform-style lifecycle: fields never diffed after create, and delete protection."""

    ignore_changes: list[NonEmptyStr] = Field(
        default_factory=list, description="Fields sent on create and never diffed afterwards."
    )
    prevent_destroy: bool = Field(
        default=False, description="Any plan that would delete or replace this is an error."
    )


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
                raise _FieldError("path", str(exc)) from None
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
        return c.canonical_rate_value(value)


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
            raise _FieldError(
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
            raise _FieldError(given[0], f"{given[0]} must list at least one value")
        return self

    @property
    def dimension(self) -> str:
        return next(d for d in c.AB_DIMENSIONS if getattr(self, d) is not None)


#: Fields of an EmailCampaign that a plan diffs (and lifecycle.ignore_changes may name,
#: all but campaign_type).
EMAIL_DIFFABLE_FIELDS: tuple[str, ...] = (
    "campaign_type",
    "to",
    "reply_to",
    "sender_id",
    "template_invoke_name",
    "subject",
    "send_time",
    "time_zone",
    "attachments",
    "google_track",
    "warm_up",
    "ab_test",
)

#: The fields whose unset spellings (null, "", []) are dropped before validation.
_EMAIL_OPTIONAL = (frozenset(EMAIL_DIFFABLE_FIELDS) - {"campaign_type", "to"}) | {"lifecycle"}


class EmailCampaign(StrictModel):
    """An EngageLab Email marketing campaign (`/v1/marketing/campaigns`)."""

    kind: Literal["EmailCampaign"] = "EmailCampaign"
    name: Annotated[Name, AfterValidator(_not_blank)] = Field(
        description="The identity; unique per kind; at most 64 characters.",
        json_schema_extra={"pattern": _NOT_BLANK_PATTERN},
    )
    campaign_type: Literal["normal", "ab"] = Field(
        description="normal or ab (the API's integers 2 or 1 are accepted too)."
    )
    to: Recipient = Field(description="Exactly one recipient entry (object or one-element list).")
    reply_to: Annotated[StrictStr, AfterValidator(_email_address)] | None = Field(
        default=None, description="One email address (the API refuses anything else)."
    )
    sender_id: SenderId | None = Field(
        default=None, description="A positive integer or its decimal string; sent as a string."
    )
    template_invoke_name: StrictStr | None = None
    subject: StrictStr | None = Field(default=None, description="Write-only: never returned.")
    send_time: StrictStr | None = Field(
        default=None, description="`YYYY-MM-DD HH:MM:SS` in time_zone, or ISO with offset."
    )
    time_zone: int | None = Field(default=None, description="Hour offset, default +8.")
    attachments: list[Attachment] | None = Field(default=None, max_length=MAX_ATTACHMENTS)
    google_track: GoogleTrack | None = None
    warm_up: list[WarmUp] | None = Field(default=None, max_length=MAX_WARM_UP)
    ab_test: AbTest | None = None
    lifecycle: Lifecycle | None = None

    @model_validator(mode="before")
    @classmethod
    def _unset(cls, data: Any) -> Any:
        return _drop_unset(data, _EMAIL_OPTIONAL)

    @field_validator("campaign_type", mode="before")
    @classmethod
    def _campaign_type(cls, value: Any) -> Any:
        return c.canonical_campaign_type(value)

    @field_validator("to", mode="before")
    @classmethod
    def _to(cls, value: Any) -> Any:
        if isinstance(value, list) and len(value) != 1:
            raise ValueError(f"to must have exactly one entry (found {len(value)})")
        return c.canonical_to(value)

    @field_validator("time_zone", mode="before")
    @classmethod
    def _time_zone(cls, value: Any) -> Any:
        return None if value is None else c.canonical_time_zone(value)

    @field_validator("send_time", mode="before")
    @classmethod
    def _send_time_text(cls, value: Any) -> Any:
        # YAML turns an unquoted timestamp into a datetime; keep the text form.
        if value is None or isinstance(value, str):
            return value
        return c.canonical_send_time(value)

    @field_validator("warm_up", mode="before")
    @classmethod
    def _warm_up(cls, value: Any) -> Any:
        return c.canonical_warm_up(value)

    @field_validator("reply_to", "template_invoke_name", "subject", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> EmailCampaign:
        if self.send_time is not None:
            try:
                send_time = c.canonical_send_time(self.send_time, self.time_zone)
            except ValueError as exc:
                raise _FieldError("send_time", str(exc)) from None
            object.__setattr__(self, "send_time", send_time)
        if self.ab_test is not None and self.ab_test.send_times:
            times = []
            for index, text in enumerate(self.ab_test.send_times):
                try:
                    times.append(c.canonical_send_time(text, self.time_zone))
                except ValueError as exc:
                    raise _FieldError("ab_test", str(exc), rest=("send_times", index)) from None
            object.__setattr__(self.ab_test, "send_times", times)
        if self.campaign_type == "ab":
            self._check_ab()
        else:
            self._check_normal()
        self._check_attachment_total()
        self._check_lifecycle()
        return self

    def _check_ab(self) -> None:
        if self.ab_test is None:
            raise _FieldError("ab_test", "ab_test is required when campaign_type is ab")
        if self.warm_up:
            raise _FieldError("warm_up", "warm_up is only allowed when campaign_type is normal")
        dimension = self.ab_test.dimension
        single = c.AB_DIMENSIONS[dimension]
        if getattr(self, single) is not None:
            raise _FieldError(
                single, f"{single} is ignored by the API when ab_test tests {dimension}; remove it"
            )
        if dimension == "template_invoke_names" and not self.subject:
            raise _FieldError(
                "subject", "subject is required when ab_test tests template_invoke_names"
            )
        if dimension != "sender_ids" and not self.sender_id:
            raise _FieldError("sender_id", "sender_id is required")
        if dimension != "template_invoke_names" and not self.template_invoke_name:
            raise _FieldError("template_invoke_name", "template_invoke_name is required")

    def _check_normal(self) -> None:
        if self.ab_test is not None:
            raise _FieldError("ab_test", "ab_test is only allowed when campaign_type is ab")
        if not self.sender_id:
            raise _FieldError("sender_id", "sender_id is required for a normal campaign")
        if not self.template_invoke_name:
            raise _FieldError(
                "template_invoke_name", "template_invoke_name is required for a normal campaign"
            )

    def _check_attachment_total(self) -> None:
        total = sum(a.resolved.size for a in self.attachments or () if a.resolved is not None)
        if total > MAX_ATTACHMENT_BYTES:
            raise _FieldError(
                "attachments",
                f"attachments total {total} bytes; the API allows at most 10 MB "
                f"({MAX_ATTACHMENT_BYTES})",
            )
        seen: set[str] = set()
        for index, attachment in enumerate(self.attachments or ()):
            name = attachment.effective_filename
            if name in seen:
                raise _FieldError(
                    "attachments", f"duplicate attachment filename {name!r}", index=index
                )
            seen.add(name)

    def _check_lifecycle(self) -> None:
        if self.lifecycle is None:
            return
        allowed = set(EMAIL_DIFFABLE_FIELDS)
        for index, field in enumerate(self.lifecycle.ignore_changes):
            if field == "campaign_type":
                # The type decides which other fields are valid: ignoring it would send an
                # A/B test to a campaign that stays normal (the API refuses that, 32107).
                raise _FieldError(
                    "lifecycle",
                    "campaign_type cannot be ignored: it decides which fields are valid",
                    rest=("ignore_changes", index),
                )
            if field not in allowed:
                raise _FieldError(
                    "lifecycle",
                    f"unknown field {field!r}{_did_you_mean(field, allowed)}",
                    rest=("ignore_changes", index),
                )

    def canonical(self) -> dict[str, Any]:
        """Return the campaign's managed fields in canonical form, empty values dropped.

        Attachments appear as `{filename, sha256, path}` (path: absolute, for sending).
        """
        data = self.model_dump(exclude={"lifecycle", "attachments"}, exclude_none=True)
        data["to"] = self.to.model_dump()
        if self.google_track is not None:
            data["google_track"] = c.canonical_google_track(self.google_track.model_dump())
        if self.ab_test is not None:
            data["ab_test"] = self.ab_test.model_dump(exclude_none=True)
        if self.attachments:
            data["attachments"] = [_attachment_canonical(a) for a in self.attachments]
        return c.drop_empty(data)


def _attachment_canonical(attachment: Attachment) -> dict[str, Any]:
    resolved = attachment.resolved
    return {
        "filename": attachment.effective_filename,
        "sha256": resolved.sha256 if resolved else "",
        "path": resolved.path if resolved else attachment.path,
    }


#: Fields of a MessagingCampaign that a plan diffs; changing channel_type means replace.
MESSAGING_DIFFABLE_FIELDS: tuple[str, ...] = ("channel_type", "touchpoints")


class Touchpoint(StrictModel):
    """An ordered step of a MessagingCampaign; its identity is its name within the campaign."""

    name: Name
    type: Literal["message", "action"]
    message: dict[str, Any] | None = Field(
        default=None,
        description="A string (shorthand for {text: ...}) or an object; write-only.",
        json_schema_extra={"anyOf": [{"type": "string"}, {"type": "object"}, {"type": "null"}]},
    )

    @model_validator(mode="before")
    @classmethod
    def _unset(cls, data: Any) -> Any:
        return _drop_unset(data, frozenset({"message"}))

    @field_validator("message", mode="before")
    @classmethod
    def _message(cls, value: Any) -> Any:
        return c.canonical_message(value)

    @model_validator(mode="after")
    def _message_rule(self) -> Touchpoint:
        if self.type == "message":
            text = (self.message or {}).get("text")
            if not isinstance(text, str) or not text.strip():
                raise _FieldError("message", "a message touchpoint needs a non-empty message text")
        return self

    def canonical(self) -> dict[str, Any]:
        return c.drop_empty(self.model_dump(exclude_none=True))


class MessagingCampaign(StrictModel):
    """A multichannel campaign with ordered touchpoints (the `client.campaign` API)."""

    kind: Literal["MessagingCampaign"]
    name: Name
    channel_type: NonEmptyStr = Field(description="e.g. whatsapp, email; changing it replaces.")
    touchpoints: list[Touchpoint] = Field(default_factory=list)
    lifecycle: Lifecycle | None = None

    @model_validator(mode="before")
    @classmethod
    def _unset(cls, data: Any) -> Any:
        return _drop_unset(data, frozenset({"touchpoints", "lifecycle"}))

    @model_validator(mode="after")
    def _unique_touchpoints(self) -> MessagingCampaign:
        seen: set[str] = set()
        for index, tp in enumerate(self.touchpoints):
            if tp.name in seen:
                raise _FieldError(
                    "touchpoints",
                    f"duplicate touchpoint name {tp.name!r}",
                    index=index,
                    rest=("name",),
                )
            seen.add(tp.name)
        if self.lifecycle is not None:
            for index, field in enumerate(self.lifecycle.ignore_changes):
                if field not in MESSAGING_DIFFABLE_FIELDS:
                    raise _FieldError(
                        "lifecycle",
                        f"unknown field {field!r}{_did_you_mean(field, MESSAGING_DIFFABLE_FIELDS)}",
                        rest=("ignore_changes", index),
                    )
        return self

    def canonical(self) -> dict[str, Any]:
        """Return kind, name, channel_type and the touchpoints in order, canonical form."""
        return {
            "kind": self.kind,
            "name": self.name,
            "channel_type": self.channel_type,
            "touchpoints": [tp.canonical() for tp in self.touchpoints],
        }


Campaign = Annotated[EmailCampaign | MessagingCampaign, Field(discriminator="kind")]
KINDS: dict[str, type[EmailCampaign] | type[MessagingCampaign]] = {
    "EmailCampaign": EmailCampaign,
    "MessagingCampaign": MessagingCampaign,
}
campaign_adapter: TypeAdapter[EmailCampaign | MessagingCampaign] = TypeAdapter(Campaign)


class _FieldError(ValueError):
    """A cross-field rule broken at one field: the loader reports it at that field's line.

    The field's path below the model that raised it is `field`, then `index` (a list
    item), then `rest`: e.g. ("lifecycle", "ignore_changes", 2).
    """

    def __init__(
        self,
        field: str,
        message: str,
        index: int | None = None,
        *,
        rest: tuple[str | int, ...] = (),
    ) -> None:
        super().__init__(message)
        self.field = field
        self.index = index
        self.rest = rest

    @property
    def path(self) -> tuple[str | int, ...]:
        head: tuple[str | int, ...] = (
            (self.field,) if self.index is None else (self.field, self.index)
        )
        return head + self.rest


def _did_you_mean(word: str, choices: Any) -> str:
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def json_schema(kind: str | None = None) -> dict[str, Any]:
    """Return the JSON Schema of one kind, or of a document of any kind."""
    schema = KINDS[kind].model_json_schema() if kind else campaign_adapter.json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema.setdefault("title", "campaignctl campaign")
    defs = schema.get("$defs", {})
    email = schema if kind == "EmailCampaign" else defs.get("EmailCampaign")
    if email is not None:
        _accept_wire_variants(email["properties"])
    if "Recipient" in defs:
        # canonical_to reads a single string value as a one-element list.
        value = defs["Recipient"]["properties"]["value"]
        items = value["items"]
        value.clear()
        value["anyOf"] = [{"type": "array", "items": items, "minItems": 1}, items]
    if "AbTest" in defs:
        ids = defs["AbTest"]["properties"]["sender_ids"]["anyOf"][0]
        ids["items"] = _sender_id_schema()
    if "WarmUp" in defs:
        for name in ("upgrade_value", "downgrade_value"):
            prop = defs["WarmUp"]["properties"][name]
            number = {k: prop.pop(k) for k in ("type", "exclusiveMinimum", "maximum")}
            prop["anyOf"] = [number, {"type": "string", "pattern": r"^\s*(0?\.\d+|1(\.0*)?)\s*$"}]
        rate = defs["WarmUp"]["properties"]["rate"]
        integer = {k: rate.pop(k) for k in ("type", "minimum")}
        rate["anyOf"] = [integer, {"type": "string", "pattern": r"^\s*\d+\s*$"}]
    return schema


def _accept_wire_variants(props: dict[str, Any]) -> None:
    """Widen the schema to the variants the model accepts (vendors.md "Email quirks"), so editors
    do not flag valid YAML: campaign_type 2|1, `to` as a one-element list, a numeric
    sender_id, a string time_zone."""
    props["campaign_type"].pop("type", None)
    props["campaign_type"]["enum"] = ["normal", "ab", 2, 1, "2", "1"]
    to = props["to"]
    ref = to.pop("$ref")
    to["anyOf"] = [
        {"$ref": ref},
        {"type": "array", "items": {"$ref": ref}, "minItems": 1, "maxItems": 1},
    ]
    props["sender_id"].update(_sender_id_schema({"type": "null"}))
    props["reply_to"]["anyOf"][0]["pattern"] = _EMAIL_PATTERN
    props["time_zone"]["anyOf"] = [{"type": "integer"}, {"type": "string"}, {"type": "null"}]
