"""reconciler.drift: what changed out of band since the last apply, as a `Drift` report.

Pure: state records + live campaigns (+ optionally the desired config, for
`lifecycle.ignore_changes`) -> a `Drift` report. No I/O, clock or environment. Four kinds of
drift (docs/reference/commands.md "drift"): readable live fields that differ from the record's
`last_applied`, managed campaigns gone from the API, live campaigns that no state record
manages, and campaigns whose status moved since the last apply.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from reconciler import diff
from reconciler.canonical import is_empty
from reconciler.live import MESSAGING_KIND, LiveCampaign
from reconciler.providers.vendors import same_value, vendor_for
from reconciler.render.budget import MARKDOWN_LIMIT

# The renderers live beside the plan's (reconciler.render.drift); importable from here too.
from reconciler.render.drift import (
    render_drift,
    render_drift_json,
    render_drift_markdown,
    render_drift_text,
)

if TYPE_CHECKING:
    from reconciler.loader import LoadedCampaign
    from reconciler.state import ManagedRecord, State

__all__ = [
    "DRIFT_FORMAT_VERSION",
    "MARKDOWN_LIMIT",
    "Drift",
    "DriftChange",
    "DriftItem",
    "DriftKind",
    "compute_drift",
    "refreshed_statuses",
    "render_drift",
    "render_drift_json",
    "render_drift_markdown",
    "render_drift_text",
]

DRIFT_FORMAT_VERSION = 1

#: Fields that identify a campaign rather than configure it: never reported as changes.
# `lifecycle` is campaignctl's own policy, recorded in state but never sent or read back.
_IDENTITY_FIELDS = frozenset({"kind", "lifecycle"})


class DriftKind(StrEnum):
    """The one spelling of each kind of drift, alike in code, JSON and tests."""

    fields_changed = "fields_changed"
    deleted_remotely = "deleted_remotely"
    status_changed = "status_changed"
    unmanaged = "unmanaged"


@dataclass(frozen=True)
class DriftChange:
    """One value that moved: `path` as a list of keys and indices, like a plan's changes."""

    path: tuple[str | int, ...]
    before: Any
    after: Any

    def to_dict(self) -> dict[str, Any]:
        return {"path": list(self.path), "before": self.before, "after": self.after}

    @property
    def dotted(self) -> str:
        out = ""
        for part in self.path:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        return out


@dataclass(frozen=True)
class DriftItem:
    """One campaign that drifted, in one way."""

    drift: DriftKind
    kind: str
    name: str
    remote_id: str
    message: str
    changes: tuple[DriftChange, ...] = ()

    @property
    def sort_key(self) -> tuple[str, str, int, str]:
        return (self.kind, self.name, _ORDER[self.drift], self.remote_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "drift": str(self.drift),
            "kind": self.kind,
            "name": self.name,
            "remote_id": self.remote_id,
            "message": self.message,
            "changes": [c.to_dict() for c in self.changes],
        }


_ORDER = {kind: index for index, kind in enumerate(DriftKind)}


@dataclass(frozen=True)
class Drift:
    """Every drift item, sorted by kind, name and type; `managed` counts state records read."""

    items: tuple[DriftItem, ...]
    managed: int = 0
    live: int = 0
    state_serial: int | None = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def has_drift(self) -> bool:
        return bool(self.items)

    def summary(self) -> dict[str, int]:
        counts = {str(kind): 0 for kind in DriftKind}
        for item in self.items:
            counts[str(item.drift)] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": DRIFT_FORMAT_VERSION,
            "state_serial": self.state_serial,
            "managed": self.managed,
            "live": self.live,
            "summary": self.summary(),
            "drift": [item.to_dict() for item in self.items],
        }


# --------------------------------------------------------------------------- compute


def compute_drift(
    state: State,
    live: Sequence[LiveCampaign],
    desired: Sequence[LoadedCampaign] = (),
) -> Drift:
    """Compare each state record with the live campaign of its remote id.

    A field counts only if the last apply set it (semantics.md "Managed fields": a field absent
    from the last apply is not managed, so a value set in the vendor's UI is not drift);
    write-only fields never come back from the API and are skipped. Fields a desired
    campaign lists in `lifecycle.ignore_changes` are skipped too: they are edited in the
    vendor's UI on purpose.
    """
    by_id = {(c.kind, c.remote_id): c for c in live}
    ignored = {c.key: frozenset(c.lifecycle.ignore_changes) for c in desired}
    items: list[DriftItem] = []
    managed_ids: set[tuple[str, str]] = set()
    for record in state.campaigns.values():
        managed_ids.add((record.kind, record.remote_id))
        current = by_id.get((record.kind, record.remote_id))
        if current is None:
            items.append(_deleted(record))
            continue
        items.extend(_record_drift(record, current, ignored.get((record.kind, record.name), ())))
    items.extend(_unmanaged(c) for c in live if (c.kind, c.remote_id) not in managed_ids)
    items.sort(key=lambda item: item.sort_key)
    return Drift(
        items=tuple(items),
        managed=len(state.campaigns),
        live=len(live),
        state_serial=state.serial,
    )


def _item(
    drift: DriftKind,
    of: ManagedRecord | LiveCampaign,
    message: str,
    changes: Iterable[DriftChange] = (),
) -> DriftItem:
    return DriftItem(drift, of.kind, of.name, of.remote_id, message, tuple(changes))


def _deleted(record: ManagedRecord) -> DriftItem:
    message = f"managed campaign {record.remote_id} no longer exists in the API"
    return _item(DriftKind.deleted_remotely, record, message)


def _unmanaged(current: LiveCampaign) -> DriftItem:
    message = "live campaign not managed by this state (import it, or delete it with apply --prune)"
    return _item(DriftKind.unmanaged, current, message)


def _record_drift(
    record: ManagedRecord, current: LiveCampaign, ignored: Iterable[str]
) -> list[DriftItem]:
    out: list[DriftItem] = []
    changes = field_drift(record, current, frozenset(ignored))
    if changes:
        fields = ", ".join(sorted({str(c.path[0]) for c in changes}))
        message = f"changed outside campaignctl: {fields}"
        out.append(_item(DriftKind.fields_changed, record, message, changes))
    if record.status is not None and str(record.status) != str(current.status):
        words = vendor_for(record.kind).status_word
        message = f"status changed from {words(record.status)} to {words(current.status)}"
        moved = DriftChange(("status",), record.status, current.status)
        out.append(_item(DriftKind.status_changed, record, message, [moved]))
    return out


def readable_last_applied(record: ManagedRecord) -> dict[str, Any]:
    """Return the part of `last_applied` the API can show: write-only fields left out.

    Touchpoints keep name and type only; their message is write-only (vendors.md "Resources").
    """
    out: dict[str, Any] = {}
    for key, value in record.last_applied.items():
        if key in _IDENTITY_FIELDS or is_empty(value):
            continue
        if key in vendor_for(record.kind).write_only:
            continue
        if record.kind == MESSAGING_KIND and key == "touchpoints":
            value = [_touchpoint_readable(tp) for tp in value]
        out[key] = value
    return out


def _touchpoint_readable(tp: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": tp.get("name"), "type": tp.get("type")}


def live_readable(current: LiveCampaign) -> dict[str, Any]:
    """Return the live campaign's fields in the shape of `readable_last_applied`."""
    out = {k: v for k, v in current.fields.items() if k not in _IDENTITY_FIELDS}
    if current.kind == MESSAGING_KIND:
        out["touchpoints"] = [{"name": tp.name, "type": tp.type} for tp in current.touchpoints]
    return out


def refreshed_statuses(state: State, live: Sequence[LiveCampaign]) -> list[ManagedRecord]:
    """Return the records whose live status differs, with the live status recorded.

    For `drift --refresh`: a status moved by the vendor (a scheduled campaign was sent) is
    news once; recording it makes it the baseline, as Terraform's refresh-only apply does.
    Fields are never accepted this way: a field changed in the vendor's UI stays a change
    that plan shows and apply reverts, until the YAML says otherwise.
    """
    by_id = {(c.kind, c.remote_id): c for c in live}
    out = []
    for record in state.records():
        current = by_id.get((record.kind, record.remote_id))
        if current is not None and str(record.status) != str(current.status):
            out.append(replace(record, status=current.status))
    return out


def field_drift(
    record: ManagedRecord, current: LiveCampaign, ignored: frozenset[str] = frozenset()
) -> list[DriftChange]:
    """Return the changes from the last apply to live, for the fields the last apply set."""
    before = readable_last_applied(record)
    after = live_readable(current)
    changes: list[DriftChange] = []
    for key in sorted(before):
        if key in ignored or same_value(record.kind, key, before[key], after.get(key)):
            continue
        changes.extend(diff_values((key,), before[key], after.get(key)))
    return changes


def diff_values(path: tuple[str | int, ...], before: Any, after: Any) -> list[DriftChange]:
    """Return the leaf-level differences between two canonical values, as a plan shows them.

    One engine for plan and drift (reconciler.diff, DeepDiff on the pairs that differ): a
    list that grows, shrinks or gets an item inserted reads the same in both reports.
    """
    return [DriftChange(c.path, c.before, c.after) for c in diff.diff_values(path, before, after)]
