"""reconciler.live: value types for campaigns as the providers read them from the APIs.

Providers fill these with canonical values (reconciler.canonical); the planner, applier and
drift check read them. Plain frozen data: no I/O, no policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.canonical import fingerprint
from reconciler.providers.engagelab.fields import ENGAGELAB
from reconciler.providers.imbrace.fields import IMBRACE
from reconciler.providers.vendors import vendor_for
from reconciler.sharing import share

__all__ = ["EMAIL_KIND", "MESSAGING_KIND", "LiveCampaign", "LiveTouchpoint"]

#: The kinds, as their vendors' descriptions name them.
EMAIL_KIND: str = ENGAGELAB.kind
MESSAGING_KIND: str = IMBRACE.kind


@dataclass(frozen=True, slots=True)
class LiveTouchpoint:
    """A touchpoint as listed: its id, name and type (the API never returns `message`)."""

    remote_id: str
    name: str
    type: str | None = None
    created_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"remote_id": self.remote_id, "name": self.name, "type": self.type}


@dataclass(frozen=True, slots=True)
class LiveCampaign:
    """A campaign as the API reports it, normalised.

    `fields` holds the readable managed fields in the canonical form the model's
    `canonical()` produces (kind and name included, empty values dropped, write-only
    fields absent). `status` is the vendor's (what it means: its description,
    `providers.vendors.vendor_for(kind)`).
    Touchpoints are in creation order, which is the campaign's order.
    """

    kind: str
    remote_id: str
    name: str
    status: int | str
    fields: Mapping[str, Any]
    touchpoints: tuple[LiveTouchpoint, ...] = ()
    #: `fingerprint`, once taken (the object is frozen, so it cannot change).
    _fingerprint: str | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def fingerprint(self) -> str:
        """A stable digest of everything a plan is based on: fields, status, touchpoints.

        Taken once per object: `workflow` takes it on the list's thread while the config
        loads, so the plan (which puts it in every action on a live campaign) only reads it.
        """
        found = self._fingerprint
        if found is None:
            fields = self.fields
            found = fingerprint(
                {
                    "fields": fields if type(fields) is dict else dict(fields),
                    "status": self.status,
                    "touchpoints": [tp.to_dict() for tp in self.touchpoints],
                }
            )
            found = share(found)  # the state's record of it is then the same string
            object.__setattr__(self, "_fingerprint", found)
        return found

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.name)

    @property
    def is_pristine(self) -> bool:
        """True while the vendor still accepts changes (its description says which status)."""
        return vendor_for(self.kind).is_pristine(self.status)
