"""reconciler.providers.vendors: the vendor description of each kind, and what derives from them.

The planner, applier, drift check and importer ask `vendor_for(kind)` instead of knowing a
vendor's statuses or fields (docs/reference/vendors.md "Campaign fields"). Import-light.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from reconciler.canonical import is_empty
from reconciler.providers.description import VendorDescription
from reconciler.providers.engagelab.fields import ENGAGELAB
from reconciler.providers.imbrace.fields import IMBRACE, TOUCHPOINT_WRITE_ONLY

__all__ = [
    "EMAIL_WRITE_ONLY",
    "TOUCHPOINT_WRITE_ONLY",
    "VENDORS",
    "VENDOR_DEFAULTS",
    "is_pristine",
    "same_value",
    "status_aliases",
    "vendor_for",
]

VENDORS: Final[Mapping[str, VendorDescription]] = MappingProxyType(
    {ENGAGELAB.kind: ENGAGELAB, IMBRACE.kind: IMBRACE}
)

#: Fields the email API never returns: diffed against the state's last-applied record only.
EMAIL_WRITE_ONLY: Final = ENGAGELAB.write_only

#: What each API puts into a field that a create leaves out or an update clears, per kind
#: (vendors.md "Email quirks": the email API stores and returns `time_zone` "+8" when none
#: was sent, or when it was sent empty). A field at its vendor default and the same field
#: unset are one value: clearing it is no change, and no drift. The defaults are declared
#: with the fields (`VendorField.default`); the other empty forms the APIs return are
#: "unset" already (`canonical.is_empty`, the quirks functions).
VENDOR_DEFAULTS: Final[Mapping[str, Mapping[str, Any]]] = MappingProxyType(
    {kind: MappingProxyType(vendor.defaults) for kind, vendor in VENDORS.items()}
)


def vendor_for(kind: str) -> VendorDescription:
    """The description of the vendor that serves `kind`."""
    return VENDORS[kind]


def is_pristine(kind: str, status: int | str) -> bool:
    """True while the vendor still accepts changes to a campaign of `kind` in `status`."""
    return vendor_for(kind).is_pristine(status)


def same_value(kind: str, field: str, a: Any, b: Any) -> bool:
    """True when two canonical values of one field are one value to the vendor.

    Equal values, two unset values, or one unset and the other the value the vendor puts
    back when the field is unset (`VENDOR_DEFAULTS`): `time_zone` 8 and no `time_zone`.
    """
    if a == b or (is_empty(a) and is_empty(b)):
        return True
    defaults = VENDOR_DEFAULTS.get(kind, {})
    if field not in defaults:
        return False
    default = defaults[field]
    return (is_empty(a) and b == default) or (is_empty(b) and a == default)


def status_aliases() -> dict[str, tuple[int | str, ...]]:
    """`import --status` words of every vendor, and the statuses each selects."""
    out: dict[str, tuple[int | str, ...]] = {}
    for vendor in VENDORS.values():
        for word, statuses in vendor.status_aliases.items():
            out[word] = out.get(word, ()) + statuses
    return out
