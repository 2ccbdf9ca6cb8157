"""reconciler.model: pydantic models of the YAML kinds, built from the vendors' field declarations.

Each kind's fields, types, normalisers and schema text come from its vendor's declarations
(`providers/engagelab/fields.py`, `providers/imbrace/fields.py`); this module adds the
cross-field rules of docs/reference/vendors.md "Campaign fields", enforced offline, and the
JSON Schema. Values are canonicalised on the way in, so a model's ``canonical()`` is the one
form the planner diffs, the state records and the providers send.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    TypeAdapter,
    ValidationInfo,
    create_model,
    model_validator,
)

from reconciler import canonical as c
from reconciler.modelbase import (
    FieldError,
    Lifecycle,
    ResolvedFile,
    Source,
    StrictModel,
    did_you_mean,
    drop_unset,
    raise_all,
)
from reconciler.providers.description import VendorDescription
from reconciler.providers.engagelab.fields import ENGAGELAB
from reconciler.providers.engagelab.quirks import canonical_campaign_type, canonical_google_track
from reconciler.providers.engagelab.types import (
    MAX_ATTACHMENT_BYTES,
    MAX_ATTACHMENTS,
    AbTest,
    Attachment,
    GoogleTrack,
    Recipient,
    WarmUp,
    WinCondition,
    attachment_canonical,
    widen_defs,
)
from reconciler.providers.imbrace.fields import IMBRACE
from reconciler.providers.imbrace.types import Touchpoint

__all__ = [
    "EMAIL_DIFFABLE_FIELDS",
    "KINDS",
    "MAX_ATTACHMENTS",
    "MAX_ATTACHMENT_BYTES",
    "MESSAGING_DIFFABLE_FIELDS",
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
    "email_type_rules",
    "json_schema",
    "raw_rule_errors",
]

#: The pinned-field error the loader reports at a line (its old name here).
_FieldError = FieldError

#: Fields of an EmailCampaign that a plan diffs (and lifecycle.ignore_changes may name,
#: all but campaign_type).
EMAIL_DIFFABLE_FIELDS: tuple[str, ...] = ENGAGELAB.diffable
#: Fields of a MessagingCampaign that a plan diffs; changing channel_type means replace.
MESSAGING_DIFFABLE_FIELDS: tuple[str, ...] = IMBRACE.diffable

#: The fields whose unset spellings (null, "", []) are dropped before validation.
_EMAIL_OPTIONAL = ENGAGELAB.optional | {"lifecycle"}
_MESSAGING_OPTIONAL = IMBRACE.optional | {"lifecycle"}


def _model_fields(vendor: VendorDescription) -> dict[str, Any]:
    """The pydantic field definitions of a vendor's declared fields, then `lifecycle`."""
    out: dict[str, Any] = {}
    for f in vendor.fields:
        annotation = f.type
        if f.normalise is not None:
            annotation = Annotated[annotation, BeforeValidator(f.normalise)]
        kwargs: dict[str, Any] = dict(f.constraints)
        if f.optional and "default_factory" not in kwargs:
            kwargs["default"] = None
        if f.doc is not None:
            kwargs["description"] = f.doc
        if isinstance(f.schema, dict):
            kwargs["json_schema_extra"] = f.schema
        out[f.name] = (annotation, Field(**kwargs))
    out["lifecycle"] = (Lifecycle | None, None)
    return out


def _ab_dimension(ab_test: Any) -> str | None:
    """The tested list of an A/B test, validated (AbTest) or raw (a mapping with exactly one
    of the lists); None when it cannot be told."""
    if isinstance(ab_test, AbTest):
        return ab_test.dimension
    if isinstance(ab_test, dict):
        given = [d for d in c.AB_DIMENSIONS if ab_test.get(d) is not None]
        return given[0] if len(given) == 1 else None
    return None


def email_type_rules(values: Mapping[str, Any]) -> list[FieldError]:
    """The rules that `campaign_type` sets on the other fields (vendors.md "Campaign
    fields"), every one broken.

    `values` is a validated campaign's fields or, when a field failed (pydantic then skips
    the model's rules), the raw mapping: the loader runs these on it so that one run reports
    a missing `sender_id` beside a missing `to`. Only presence is judged here; a value that
    is present but wrong is its field's own error.
    """
    try:
        campaign_type = canonical_campaign_type(values.get("campaign_type"))
    except ValueError:
        return []  # which rules apply is unknown: the field's own error says why
    errors: list[FieldError] = []
    ab_test = values.get("ab_test")
    if campaign_type == "normal":
        if ab_test is not None:
            errors.append(FieldError("ab_test", "ab_test is only allowed when campaign_type is ab"))
        for field in ("sender_id", "template_invoke_name"):
            if not values.get(field):
                errors.append(FieldError(field, f"{field} is required for a normal campaign"))
        return errors
    if ab_test is None:
        errors.append(FieldError("ab_test", "ab_test is required when campaign_type is ab"))
    if values.get("warm_up"):
        errors.append(FieldError("warm_up", "warm_up is only allowed when campaign_type is normal"))
    dimension = _ab_dimension(ab_test)
    if dimension is None:
        return errors
    single = c.AB_DIMENSIONS[dimension]
    if values.get(single) is not None:
        errors.append(
            FieldError(
                single, f"{single} is ignored by the API when ab_test tests {dimension}; remove it"
            )
        )
    if dimension == "template_invoke_names" and not values.get("subject"):
        errors.append(
            FieldError("subject", "subject is required when ab_test tests template_invoke_names")
        )
    if dimension != "sender_ids" and not values.get("sender_id"):
        errors.append(FieldError("sender_id", "sender_id is required"))
    if dimension != "template_invoke_names" and not values.get("template_invoke_name"):
        errors.append(FieldError("template_invoke_name", "template_invoke_name is required"))
    return errors


def raw_rule_errors(kind: str, data: Any) -> list[FieldError]:
    """The cross-field rules judged on a raw document whose fields did not all validate."""
    if kind != ENGAGELAB.kind or not isinstance(data, dict):
        return []
    return email_type_rules(drop_unset(data, _EMAIL_OPTIONAL))


class _Dynamic(StrictModel):
    """A model whose fields come from declarations: mypy reads them as Any but these two."""

    if TYPE_CHECKING:
        name: str
        lifecycle: Lifecycle | None

        def __getattr__(self, name: str) -> Any: ...


class _EmailCampaignRules(_Dynamic):
    """The cross-field rules and canonical form of an EmailCampaign (its fields: ENGAGELAB)."""

    kind: Literal["EmailCampaign"] = "EmailCampaign"

    @model_validator(mode="before")
    @classmethod
    def _unset(cls, data: Any) -> Any:
        return drop_unset(data, _EMAIL_OPTIONAL)

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> EmailCampaign:
        # Every broken rule is collected, not only the first: one run reports them all.
        errors: list[FieldError] = []
        if self.send_time is not None:
            try:
                send_time = c.canonical_send_time(self.send_time, self.time_zone)
                object.__setattr__(self, "send_time", send_time)
            except ValueError as exc:
                errors.append(FieldError("send_time", str(exc)))
        if self.ab_test is not None and self.ab_test.send_times:
            times = []
            for index, text in enumerate(self.ab_test.send_times):
                try:
                    times.append(c.canonical_send_time(text, self.time_zone))
                except ValueError as exc:
                    errors.append(FieldError("ab_test", str(exc), rest=("send_times", index)))
            if len(times) == len(self.ab_test.send_times):
                object.__setattr__(self.ab_test, "send_times", times)
        errors += email_type_rules(self.__dict__)  # the fields (extra keys are refused)
        errors += self._check_attachment_total()
        errors += self._check_lifecycle()
        raise_all(errors)
        return self

    def _check_attachment_total(self) -> list[FieldError]:
        errors: list[FieldError] = []
        total = sum(a.resolved.size for a in self.attachments or () if a.resolved is not None)
        if total > MAX_ATTACHMENT_BYTES:
            errors.append(
                FieldError(
                    "attachments",
                    f"attachments total {total} bytes; the API allows at most 10 MB "
                    f"({MAX_ATTACHMENT_BYTES})",
                )
            )
        seen: set[str] = set()
        for index, attachment in enumerate(self.attachments or ()):
            name = attachment.effective_filename
            if name in seen:
                errors.append(
                    FieldError("attachments", f"duplicate attachment filename {name!r}", index)
                )
            seen.add(name)
        return errors

    def _check_lifecycle(self) -> list[FieldError]:
        if self.lifecycle is None:
            return []
        errors: list[FieldError] = []
        allowed = set(EMAIL_DIFFABLE_FIELDS)
        for index, field in enumerate(self.lifecycle.ignore_changes):
            if field == "campaign_type":
                # The type decides which other fields are valid: ignoring it would send an
                # A/B test to a campaign that stays normal (the API refuses that, 32107).
                errors.append(
                    FieldError(
                        "lifecycle",
                        "campaign_type cannot be ignored: it decides which fields are valid",
                        rest=("ignore_changes", index),
                    )
                )
            elif field not in allowed:
                errors.append(
                    FieldError(
                        "lifecycle",
                        f"unknown field {field!r}{did_you_mean(field, allowed)}",
                        rest=("ignore_changes", index),
                    )
                )
        return errors

    def canonical(self) -> dict[str, Any]:
        """Return the campaign's managed fields in canonical form, empty values dropped.

        Attachments appear as `{filename, sha256, path}` (path: absolute, for sending).
        """
        data = self.model_dump(exclude={"lifecycle", "attachments"}, exclude_none=True)
        data["to"] = self.to.model_dump()
        if self.google_track is not None:
            data["google_track"] = canonical_google_track(self.google_track.model_dump())
        if self.ab_test is not None:
            data["ab_test"] = self.ab_test.model_dump(exclude_none=True)
        if self.attachments:
            data["attachments"] = [attachment_canonical(a) for a in self.attachments]
        return c.drop_empty(data)


class _MessagingCampaignRules(_Dynamic):
    """The cross-field rules and canonical form of a MessagingCampaign (its fields: IMBRACE)."""

    kind: Literal["MessagingCampaign"]

    @model_validator(mode="before")
    @classmethod
    def _unset(cls, data: Any) -> Any:
        return drop_unset(data, _MESSAGING_OPTIONAL)

    @model_validator(mode="after")
    def _unique_touchpoints(self) -> MessagingCampaign:
        errors: list[FieldError] = []
        seen: set[str] = set()
        for index, tp in enumerate(self.touchpoints):
            if tp.name in seen:
                errors.append(
                    FieldError(
                        "touchpoints",
                        f"duplicate touchpoint name {tp.name!r}",
                        index=index,
                        rest=("name",),
                    )
                )
            seen.add(tp.name)
        if self.lifecycle is not None:
            for index, field in enumerate(self.lifecycle.ignore_changes):
                if field not in MESSAGING_DIFFABLE_FIELDS:
                    errors.append(
                        FieldError(
                            "lifecycle",
                            f"unknown field {field!r}"
                            f"{did_you_mean(field, MESSAGING_DIFFABLE_FIELDS)}",
                            rest=("ignore_changes", index),
                        )
                    )
        raise_all(errors)
        return self

    def canonical(self) -> dict[str, Any]:
        """Return kind, name, channel_type and the touchpoints in order, canonical form."""
        return {
            "kind": self.kind,
            "name": self.name,
            "channel_type": self.channel_type,
            "touchpoints": [tp.canonical() for tp in self.touchpoints],
        }


if TYPE_CHECKING:
    EmailCampaign = _EmailCampaignRules
    MessagingCampaign = _MessagingCampaignRules
else:
    EmailCampaign = create_model(
        "EmailCampaign",
        __base__=_EmailCampaignRules,
        __module__=__name__,
        __doc__="An EngageLab Email marketing campaign (`/v1/marketing/campaigns`).",
        **_model_fields(ENGAGELAB),
    )
    MessagingCampaign = create_model(
        "MessagingCampaign",
        __base__=_MessagingCampaignRules,
        __module__=__name__,
        __doc__="A multichannel campaign with ordered touchpoints (the `client.campaign` API).",
        **_model_fields(IMBRACE),
    )

Campaign = Annotated[EmailCampaign | MessagingCampaign, Field(discriminator="kind")]
KINDS: dict[str, type[EmailCampaign] | type[MessagingCampaign]] = {
    "EmailCampaign": EmailCampaign,
    "MessagingCampaign": MessagingCampaign,
}
campaign_adapter: TypeAdapter[EmailCampaign | MessagingCampaign] = TypeAdapter(Campaign)


def json_schema(kind: str | None = None) -> dict[str, Any]:
    """Return the JSON Schema of one kind, or of a document of any kind."""
    schema = KINDS[kind].model_json_schema() if kind else campaign_adapter.json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema.setdefault("title", "campaignctl campaign")
    defs = schema.get("$defs", {})
    for vendor in (ENGAGELAB, IMBRACE):
        model = schema if kind == vendor.kind else defs.get(vendor.kind)
        if model is not None:
            _widen(vendor, model["properties"])
    widen_defs(defs)
    return schema


def _widen(vendor: VendorDescription, props: dict[str, Any]) -> None:
    """Widen the schema to the variants the model accepts (vendors.md "Email quirks"), so
    editors do not flag valid YAML: each field's declared `schema` hook, after pydantic."""
    for f in vendor.fields:
        if callable(f.schema):
            f.schema(props[f.name])
    for name in vendor.optional | {"lifecycle"}:
        _accept_unset(props[name])


#: The unset spellings the loader drops from an optional field (modelbase.drop_unset): the
#: schema accepts them too, so an editor never flags what `validate` passes (`reply_to: ""`).
_UNSET_SCHEMAS: tuple[dict[str, Any], ...] = (
    {"type": "null"},
    {"const": ""},
    {"type": "array", "maxItems": 0},
)


def _accept_unset(prop: dict[str, Any]) -> None:
    if "anyOf" not in prop:
        kept: dict[str, Any] = {
            k: prop.pop(k) for k in ("title", "description", "default") if k in prop
        }
        variant = dict(prop)
        prop.clear()
        prop.update(kept, anyOf=[variant])
    for unset in _UNSET_SCHEMAS:
        if unset not in prop["anyOf"]:
            prop["anyOf"].append(unset)
