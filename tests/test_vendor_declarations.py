"""Each vendor field is declared once; the model, schema, codec and importer derive from it.

These fail when one of the derived lists drifts from the declarations (as dd55ef6 once did),
and show what adding a field means: one `VendorField` line in the vendor's `fields.py`.
"""

from __future__ import annotations

from reconciler.importer import EMAIL_ORDER, MESSAGING_ORDER, STATUS_ALIASES
from reconciler.model import (
    EMAIL_DIFFABLE_FIELDS,
    MESSAGING_DIFFABLE_FIELDS,
    EmailCampaign,
    MessagingCampaign,
    json_schema,
)
from reconciler.providers.engagelab import client
from reconciler.providers.engagelab.fields import ENGAGELAB
from reconciler.providers.imbrace.fields import IMBRACE
from reconciler.providers.vendors import EMAIL_WRITE_ONLY, VENDOR_DEFAULTS, vendor_for


def test_each_models_fields_are_its_vendors_declarations_in_order() -> None:
    for model, vendor in ((EmailCampaign, ENGAGELAB), (MessagingCampaign, IMBRACE)):
        declared = [f.name for f in vendor.fields]
        assert list(model.model_fields) == ["kind", *declared, "lifecycle"]


def test_the_schema_lists_every_declared_field_with_its_text() -> None:
    props = json_schema("EmailCampaign")["properties"]
    for f in ENGAGELAB.fields:
        assert f.name in props
        if f.doc is not None:
            assert props[f.name]["description"] == f.doc


def test_the_codec_encodes_every_declared_field_and_decodes_every_readable_one() -> None:
    assert set(client._ENCODERS) == {f.name for f in ENGAGELAB.fields}
    assert set(client._FIELD_DECODERS) == {f.name for f in ENGAGELAB.fields} - EMAIL_WRITE_ONLY
    assert {"subject", "attachments"} == EMAIL_WRITE_ONLY


def test_diffable_sets_import_order_and_defaults_derive_from_the_declarations() -> None:
    assert tuple(f.name for f in ENGAGELAB.fields if f.diffable) == EMAIL_DIFFABLE_FIELDS
    assert MESSAGING_DIFFABLE_FIELDS == ("channel_type", "touchpoints")
    assert set(EMAIL_ORDER) == {"kind"} | {f.name for f in ENGAGELAB.fields}
    assert MESSAGING_ORDER == ("kind", "name", "channel_type", "touchpoints")
    assert dict(VENDOR_DEFAULTS["EmailCampaign"]) == {"time_zone": 8}


def test_statuses_are_the_vendors_words() -> None:
    email, messaging = vendor_for("EmailCampaign"), vendor_for("MessagingCampaign")
    assert email.is_pristine(0) and not email.is_pristine(1)
    assert messaging.is_pristine("draft") and not messaging.is_pristine("active")
    assert messaging.parts_locked("completed") and not email.parts_locked(2)
    assert email.status_word(2) == "2 (completed)"
    assert STATUS_ALIASES["completed"] == (2, "completed")


def test_a_declared_plain_text_field_is_one_line_away_from_the_model_and_codec() -> None:
    # What `fields.py` gains for a new field; everything else is derived from the tuple.
    from pydantic import StrictStr, create_model

    from reconciler.model import _EmailCampaignRules, _model_fields
    from reconciler.providers.description import VendorDescription, VendorField

    extra = VendorField("preheader", StrictStr | None, "Preview text.", empty="", order=13)
    vendor = VendorDescription("EmailCampaign", (*ENGAGELAB.fields, extra), frozenset({0}))
    model = create_model("EmailCampaign", __base__=_EmailCampaignRules, **_model_fields(vendor))
    assert "preheader" in model.model_fields and "preheader" in vendor.diffable
    assert vendor.import_order[-1] == "preheader" and vendor.empty_value("preheader") == ""
    doc = {"name": "N", "campaign_type": "normal", "to": {"type": "list", "value": ["a"]}}
    made = model.model_validate(
        {**doc, "sender_id": 1, "template_invoke_name": "t", "preheader": "Hi"}
    )
    assert made.canonical()["preheader"] == "Hi"
