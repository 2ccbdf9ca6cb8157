"""reconciler.providers.description: what a vendor description is: field declarations, statuses.

A vendor package (`providers/engagelab`, `providers/imbrace`) declares each field of its
campaigns once, as a `VendorField`; the model, its JSON Schema, the codec, the diffable set,
the importer's field order and the vendor defaults all derive from those lines
(docs/reference/vendors.md "Campaign fields"). The planner, applier, drift check and importer
ask a `VendorDescription` ("can this status be updated?", "which fields are write-only?")
instead of knowing. Import-light on purpose: no HTTP here, the pure core reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Any, Final

__all__ = [
    "NO_DEFAULT",
    "REQUIRED",
    "HostTable",
    "VendorDescription",
    "VendorField",
]


class _Marker(Enum):
    REQUIRED = "required"
    NO_DEFAULT = "no default"


#: `VendorField.empty` of a field that cannot be cleared (the API requires it).
REQUIRED: Final = _Marker.REQUIRED
#: `VendorField.default` of a field the vendor leaves unset when a request does.
NO_DEFAULT: Final = _Marker.NO_DEFAULT


def _as_text(value: Any) -> Any:
    return str(value)


@dataclass(frozen=True)
class HostTable:
    """One vendor's API hosts: the default, and the short names its URL option takes.

    `default_names` are the names of the default host itself; `others` names the other
    hosts (regions, environments) the vendor documents.
    """

    default: str
    default_names: tuple[str, ...] = ()
    others: Mapping[str, str] = field(default_factory=dict)

    @property
    def shortcuts(self) -> dict[str, str]:
        """Every short name the URL option takes, and the host it stands for."""
        return {**dict.fromkeys(self.default_names, self.default), **self.others}


@dataclass(frozen=True)
class VendorField:
    """One managed field of one vendor's campaign, declared once.

    `type` is the model's annotation (canonical value, pydantic), `doc` its schema text and
    `schema` extra JSON Schema keys (a dict), or a hook that widens the generated schema to
    the variants `normalise` accepts (a function).
    `access` is "rw" (read back by the API) or "write-only" (never returned: diffed against
    the state's record). `empty` is what a request sends to clear it (`REQUIRED`: cannot be
    cleared); `default` what the vendor stores when it is left unset. `decode` reads it from a
    response campaign (raw object, decoded time zone), `encode` turns a canonical value into
    the wire form. `order` is its place in an imported YAML file; `diffable` False keeps it
    out of plans (and of `lifecycle.ignore_changes`).
    """

    name: str
    type: Any
    doc: str | None = None
    access: str = "rw"
    empty: Any = REQUIRED
    default: Any = NO_DEFAULT
    normalise: Callable[[Any], Any] | None = None
    decode: Callable[[Mapping[str, Any], int | None], Any] | None = None
    encode: Callable[[Any], Any] = _as_text
    order: int = 0
    diffable: bool = True
    ignorable: bool = True
    optional: bool = True
    schema: dict[str, Any] | Callable[[dict[str, Any]], None] | None = None
    constraints: Mapping[str, Any] = field(default_factory=dict)

    @property
    def write_only(self) -> bool:
        return self.access == "write-only"


@dataclass(frozen=True)
class VendorDescription:
    """One vendor's facts: its kind, fields and what its statuses mean.

    `pristine` lists the statuses in which the vendor still accepts any change (email 0,
    messaging draft); `locked` those in which not even the campaign's parts may change
    (messaging completed). `status_words` names statuses for people; `status_aliases` maps
    `import --status` words to statuses. `name_filter_substring`: the list route's `name`
    filter matches substrings, so only an exact name match identifies a campaign.
    """

    kind: str
    fields: tuple[VendorField, ...]
    pristine: frozenset[int | str]
    locked: frozenset[int | str] = frozenset()
    status_words: Mapping[int | str, str] = field(default_factory=dict)
    status_aliases: Mapping[str, tuple[int | str, ...]] = field(default_factory=dict)
    name_filter_substring: bool = True
    #: Top-level keys an imported document starts with, before the declared fields.
    head: tuple[str, ...] = ("kind", "name")

    def field(self, name: str) -> VendorField:
        return next(f for f in self.fields if f.name == name)

    # Cached (a plan asks once per campaign; a description never changes).
    @cached_property
    def diffable(self) -> tuple[str, ...]:
        """The fields a plan diffs, in declaration order."""
        return tuple(f.name for f in self.fields if f.diffable)

    @cached_property
    def ignorable(self) -> tuple[str, ...]:
        """The fields `lifecycle.ignore_changes` may name."""
        return tuple(f.name for f in self.fields if f.diffable and f.ignorable)

    @cached_property
    def write_only(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields if f.write_only)

    @cached_property
    def optional(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields if f.optional)

    @property
    def defaults(self) -> dict[str, Any]:
        """What the vendor puts into a field a create leaves out or an update clears."""
        return {f.name: f.default for f in self.fields if f.default is not NO_DEFAULT}

    @property
    def import_order(self) -> tuple[str, ...]:
        """Top-level keys of an imported document, in the order the reference lists them."""
        return self.head + tuple(f.name for f in sorted(self.fields, key=lambda f: f.order))

    def empty_value(self, name: str) -> Any:
        """The wire value that clears `name`; REQUIRED when it cannot be cleared."""
        return self.field(name).empty

    def is_pristine(self, status: int | str) -> bool:
        """True while the vendor accepts changes to the campaign itself."""
        return status in self.pristine

    @property
    def change_hint(self) -> str:
        """What to tell a user whose change the vendor refused for the campaign's status."""
        words = " or ".join(self.status_word(s) for s in sorted(self.pristine, key=str))
        return f"only a campaign in status {words} can change"

    def parts_locked(self, status: int | str) -> bool:
        """True when not even the campaign's parts (touchpoints) may change."""
        return status in self.locked

    def status_word(self, status: int | str | None) -> str:
        if status in self.status_words:
            return self.status_words[status]  # type: ignore[index]
        return str(status)
