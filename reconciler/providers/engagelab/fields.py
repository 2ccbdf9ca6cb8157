"""reconciler.providers.engagelab.fields: each EngageLab campaign field declared once; statuses.

One line per field (docs/reference/vendors.md "Campaign fields"): the model (`model.py`),
its JSON Schema, the codec (`client.py`), the diffable set, the importer's field order and
the vendor defaults all derive from `FIELDS`. Adding a plain string field is one line here,
e.g. `VendorField("preheader", Text, "Preview text.", empty="", order=8)`, plus a test.
Import-light: the planner and the model read this module.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, StrictStr

from reconciler import canonical as c
from reconciler.modelbase import NOT_BLANK_PATTERN, Name, empty_is_none, not_blank
from reconciler.providers.description import VendorDescription, VendorField
from reconciler.providers.engagelab import codec as w
from reconciler.providers.engagelab import quirks as q
from reconciler.providers.engagelab import types as t

__all__ = ["ENGAGELAB", "FIELDS", "STATUS_WAITING"]

Text = StrictStr | None


def _wire_variants(*variants: Any) -> Any:
    def widen(prop: dict[str, Any]) -> None:
        prop.pop("type", None)
        prop["enum"] = list(variants)

    return widen


def _one_or_list(prop: dict[str, Any]) -> None:
    ref = prop.pop("$ref")
    prop["anyOf"] = [
        {"$ref": ref},
        {"type": "array", "items": {"$ref": ref}, "minItems": 1, "maxItems": 1},
    ]


def _email_pattern(prop: dict[str, Any]) -> None:
    prop["anyOf"][0]["pattern"] = t.EMAIL_PATTERN


def _sender_id(prop: dict[str, Any]) -> None:
    prop.update(t.sender_id_schema({"type": "null"}))


def _hour_offset(prop: dict[str, Any]) -> None:
    prop["anyOf"] = [{"type": "integer"}, {"type": "string"}, {"type": "null"}]


# fmt: off
#: name, model type, schema text; then what differs from the defaults of VendorField.
FIELDS: Final[tuple[VendorField, ...]] = (
    VendorField("name", Annotated[Name, AfterValidator(not_blank)], "The identity; unique per kind; at most 64 characters.", schema={"pattern": NOT_BLANK_PATTERN}, optional=False, diffable=False, order=0),  # noqa: E501
    VendorField("campaign_type", Literal["normal", "ab"], "normal or ab (the API's integers 2 or 1 are accepted too).", normalise=q.canonical_campaign_type, decode=lambda raw, tz: q.canonical_campaign_type(raw.get("campaign_type")), encode=lambda v: q.CAMPAIGN_TYPE_WIRE[q.canonical_campaign_type(v)], schema=_wire_variants("normal", "ab", 2, 1, "2", "1"), optional=False, ignorable=False, order=1),  # noqa: E501
    VendorField("to", t.Recipient, "Exactly one recipient entry (object or one-element list).", normalise=t.one_recipient, decode=lambda raw, tz: w.decode_to(raw.get("to")), encode=w.encode_to, schema=_one_or_list, optional=False, order=2),  # noqa: E501
    VendorField("reply_to", t.EmailAddress | None, "One email address (the API refuses anything else).", normalise=empty_is_none, schema=_email_pattern, empty="", order=6),  # noqa: E501
    VendorField("sender_id", t.SenderId | None, "A positive integer or its decimal string; sent as a string.", decode=lambda raw, tz: w.decode_sender_id(raw.get("sender_id")), encode=lambda v: str(q.canonical_sender_id(v)), schema=_sender_id, empty="", order=3),  # noqa: E501
    VendorField("template_invoke_name", Text, None, normalise=empty_is_none, empty="", order=4),
    VendorField("subject", Text, "Write-only: never returned.", normalise=empty_is_none, access="write-only", empty="", order=5),  # noqa: E501
    VendorField("send_time", Text, "`YYYY-MM-DD HH:MM:SS` in time_zone, or ISO with offset.", normalise=t.send_time_input, decode=lambda raw, tz: w.decode_send_time({k: w.text(raw.get(k)) for k in ("send_time", "run_time")}, tz), encode=c.canonical_send_time, empty="", order=7),  # noqa: E501
    VendorField("time_zone", int | None, "Hour offset, default +8.", normalise=t.time_zone_input, decode=lambda raw, tz: tz, encode=c.canonical_time_zone, schema=_hour_offset, empty=c.DEFAULT_TIME_ZONE, default=c.DEFAULT_TIME_ZONE, order=8),  # noqa: E501
    VendorField("attachments", list[t.Attachment] | None, None, access="write-only", encode=lambda v: [w.read_attachment(a) for a in v], empty=[], constraints={"max_length": t.MAX_ATTACHMENTS}, order=9),  # noqa: E501
    VendorField("google_track", t.GoogleTrack | None, None, decode=lambda raw, tz: w.decode_google_track(raw.get("google_track")), encode=dict, empty=dict.fromkeys(w.GOOGLE_TRACK_KEYS, ""), order=10),  # noqa: E501
    VendorField("warm_up", list[t.WarmUp] | None, None, normalise=q.canonical_warm_up, decode=lambda raw, tz: w.decode_warm_up(raw.get("warm_up")), encode=w.encode_list_of_objects, empty=[], constraints={"max_length": t.MAX_WARM_UP}, order=11),  # noqa: E501
    VendorField("ab_test", t.AbTest | None, None, decode=lambda raw, tz: w.decode_ab_test(raw.get("ab_test"), tz), encode=dict, empty=None, order=12),  # noqa: E501
)
# fmt: on

#: The one status in which the API accepts changes (0 waiting; 32110 otherwise).
STATUS_WAITING: Final = 0

ENGAGELAB: Final = VendorDescription(
    kind="EmailCampaign",
    fields=FIELDS,
    pristine=frozenset({STATUS_WAITING}),
    status_words={0: "0 (waiting)", 1: "1 (sending)", 2: "2 (completed)", -1: "-1 (failed)"},
    status_aliases={
        "0": (0,),
        "waiting": (0,),
        "1": (1,),
        "sending": (1,),
        "2": (2,),
        "completed": (2,),
        "-1": (-1,),
        "failed": (-1,),
    },
    head=("kind",),
)
