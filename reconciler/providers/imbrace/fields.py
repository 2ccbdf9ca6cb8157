"""reconciler.providers.imbrace.fields: each iMBrace campaign and touchpoint field declared once.

One line per field (docs/reference/vendors.md "Resources"): the MessagingCampaign model, the
diffable set, the importer's order and the touchpoint codec derive from these; the statuses
say what may still change (a draft anything, a completed campaign nothing). Import-light.
"""

from __future__ import annotations

from typing import Final

from reconciler.modelbase import Name, NonEmptyStr
from reconciler.providers.description import VendorDescription, VendorField
from reconciler.providers.imbrace.types import Touchpoint

__all__ = [
    "DEFAULT_STATUS",
    "FIELDS",
    "IMBRACE",
    "TOUCHPOINT_FIELDS",
    "TOUCHPOINT_WRITE_ONLY",
]

# fmt: off
FIELDS: Final[tuple[VendorField, ...]] = (
    VendorField("name", Name, optional=False, diffable=False, order=0),
    VendorField("channel_type", NonEmptyStr, "e.g. whatsapp, email; changing it replaces.", optional=False, order=1),  # noqa: E501
    VendorField("touchpoints", list[Touchpoint], constraints={"default_factory": list}, order=2),
)
#: A touchpoint's own fields (the `Touchpoint` type); `message` is never returned.
TOUCHPOINT_FIELDS: Final[tuple[VendorField, ...]] = (
    VendorField("name", Name, optional=False),
    VendorField("type", str, optional=False),
    VendorField("message", dict[str, object] | None, access="write-only", empty=""),
)
# fmt: on

TOUCHPOINT_WRITE_ONLY: Final = frozenset(f.name for f in TOUCHPOINT_FIELDS if f.write_only)

#: A campaign is created draft; the schema marks `status` optional.
DEFAULT_STATUS: Final = "draft"

IMBRACE: Final = VendorDescription(
    kind="MessagingCampaign",
    fields=FIELDS,
    pristine=frozenset({DEFAULT_STATUS}),
    locked=frozenset({"completed"}),
    status_aliases={
        "completed": ("completed",),
        "draft": ("draft",),
        "active": ("active",),
    },
    head=("kind",),
)
