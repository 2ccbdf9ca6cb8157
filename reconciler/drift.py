"""reconciler.drift: what changed out of band since the last apply, and its renderings.

Pure: state records + live campaigns (+ optionally the desired config, for
`lifecycle.ignore_changes`) -> a `Drift` report. No I/O, clock or environment. Four kinds of
drift (docs/reference/commands.md "drift"): readable live fields that differ from the record's
`last_applied`, managed campaigns gone from the API, live campaigns that no state record
manages, and campaigns whose status moved since the last apply.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from reconciler.canonical import is_empty
from reconciler.live import MESSAGING_KIND, LiveCampaign
from reconciler.providers.vendors import same_value, vendor_for
from reconciler.render import MARKDOWN_LIMIT, md_code, md_html, md_text, text_safe, utf16_length

if TYPE_CHECKING:
    from reconciler.loader import LoadedCampaign
    from reconciler.state import ManagedRecord, State

__all__ = [
    "DRIFT_FORMAT_VERSION",
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

#: GitHub refuses comments over 65,536 characters; leave room for a wrapper's own text.

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


def _deleted(record: ManagedRecord) -> DriftItem:
    return DriftItem(
        DriftKind.deleted_remotely,
        record.kind,
        record.name,
        record.remote_id,
        f"managed campaign {record.remote_id} no longer exists in the API",
    )


def _unmanaged(current: LiveCampaign) -> DriftItem:
    return DriftItem(
        DriftKind.unmanaged,
        current.kind,
        current.name,
        current.remote_id,
        "live campaign not managed by this state (import it, or delete it with plan --prune)",
    )


def _record_drift(
    record: ManagedRecord, current: LiveCampaign, ignored: Iterable[str]
) -> list[DriftItem]:
    out: list[DriftItem] = []
    changes = field_drift(record, current, frozenset(ignored))
    if changes:
        fields = sorted({str(c.path[0]) for c in changes})
        out.append(
            DriftItem(
                DriftKind.fields_changed,
                record.kind,
                record.name,
                record.remote_id,
                f"changed outside campaignctl: {', '.join(fields)}",
                tuple(changes),
            )
        )
    if record.status is not None and str(record.status) != str(current.status):
        out.append(
            DriftItem(
                DriftKind.status_changed,
                record.kind,
                record.name,
                record.remote_id,
                f"status changed from {vendor_for(record.kind).status_word(record.status)} "
                f"to {vendor_for(record.kind).status_word(current.status)}",
                (DriftChange(("status",), record.status, current.status),),
            )
        )
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
    """Return the leaf-level differences between two canonical values.

    Mappings recurse per key and lists of equal length per index; anything else that
    differs is one change. Empty values are one "unset" (semantics.md "Unset values").
    """
    if is_empty(before) and is_empty(after):
        return []
    if before == after:
        return []
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        out: list[DriftChange] = []
        for key in sorted(set(before) | set(after), key=str):
            out.extend(diff_values((*path, key), before.get(key), after.get(key)))
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        out = []
        for index, (b, a) in enumerate(zip(before, after, strict=True)):
            out.extend(diff_values((*path, index), b, a))
        return out
    return [
        DriftChange(path, None if is_empty(before) else before, None if is_empty(after) else after)
    ]


# --------------------------------------------------------------------------- render


def render_drift(drift: Drift, fmt: str) -> str:
    """Return the report in `text`, `json` or `markdown`."""
    if fmt == "json":
        return render_drift_json(drift)
    if fmt == "markdown":
        return render_drift_markdown(drift)
    return render_drift_text(drift)


def render_drift_json(drift: Drift) -> str:
    """Return the report as stable JSON (`format_version`, `summary`, `drift[]`)."""
    return json.dumps(drift.to_json(), indent=2, sort_keys=True, default=str) + "\n"


def _summary_line(drift: Drift) -> str:
    if not drift.has_drift:
        return f"No drift: {drift.managed} managed campaigns match the last apply."
    counts = drift.summary()
    parts = [
        f"{counts[DriftKind.fields_changed]} changed",
        f"{counts[DriftKind.deleted_remotely]} deleted remotely",
        f"{counts[DriftKind.status_changed]} status changed",
        f"{counts[DriftKind.unmanaged]} unmanaged",
    ]
    return "Drift: " + ", ".join(parts) + "."


def _value(value: Any) -> str:
    if value is None:
        return "(unset)"
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def render_drift_text(drift: Drift) -> str:
    """Return a terminal report: one line per item, its changes indented under it."""
    # Every line is made safe whole (render.text_safe): its fixed words hold no control
    # character, so this escapes exactly the data (names, ids, messages, paths, values),
    # and no live value can move the cursor, recolour the terminal or start a new line.
    lines: list[str] = []
    for item in drift.items:
        label = f"{item.kind}/{item.name}"
        head = f"{_TEXT_MARK[item.drift]} {label} [{item.remote_id}]: {item.message}"
        lines.append(text_safe(head))
        for change in item.changes:
            line = f"    {change.dotted}: {_value(change.before)} -> {_value(change.after)}"
            lines.append(text_safe(line))
    if lines:
        lines.append("")
    lines.append(_summary_line(drift))
    return "\n".join(lines) + "\n"


_TEXT_MARK = {
    DriftKind.fields_changed: "~",
    DriftKind.deleted_remotely: "-",
    DriftKind.status_changed: "!",
    DriftKind.unmanaged: "?",
}


def render_drift_markdown(drift: Drift, *, limit: int = MARKDOWN_LIMIT) -> str:
    """Return a Markdown report (summary, table, details) of at most `limit` characters.

    Rows that do not fit are left out, and a closing note says how many and how to see all
    of them, so the report always fits one GitHub comment or issue.
    """
    head = ["### campaignctl drift", "", f"**{_summary_line(drift)}**", ""]
    if not drift.has_drift:
        return "\n".join(head)
    head += ["| drift | kind | name | remote id | what |", "|---|---|---|---|---|"]
    rows = [
        f"| {item.drift} | {item.kind} | {md_text(item.name)} | "
        f"{md_code(item.remote_id, table=True)} | {md_text(item.message)} |"
        for item in drift.items
    ]
    details = [_md_details(item) for item in drift.items if item.changes]
    return _fit(head, rows, details, limit)


def _md_details(item: DriftItem) -> str:
    # Inside the fence nothing is markup; controls are made visible so that no value starts
    # a line of its own, and the fence is longer than any backtick run (as render.py does).
    body: list[str] = []
    for change in item.changes:
        body.append(text_safe(f"- {change.dotted}: {_value(change.before)}"))
        body.append(text_safe(f"+ {change.dotted}: {_value(change.after)}"))
    fence = "`" * max(3, max((_backtick_run(line) for line in body), default=0) + 1)
    # HTML-escaped; `@` split by a word joiner, as md_text does: no mention from a name.
    summary = f"{md_html(item.kind)}/{md_html(item.name)}".replace("@", "@\u2060")
    lines = [f"<details><summary>{summary}</summary>", "", f"{fence}diff", *body, fence]
    lines += ["", "</details>"]
    return "\n".join(lines)


def _backtick_run(line: str) -> int:
    """The longest run of backticks in a line."""
    return max((len(run) for run in re.findall(r"`+", line)), default=0)


def _fit(head: list[str], rows: list[str], details: list[str], limit: int) -> str:
    """Join head, rows and details, dropping trailing rows/details so the whole fits."""
    reserve = 200  # the truncation note
    # GitHub counts UTF-16 code units: an emoji in a name counts twice.
    budget = limit - reserve - sum(utf16_length(line) + 1 for line in head)
    kept_rows: list[str] = []
    for row in rows:
        if budget - (utf16_length(row) + 1) < 0:
            break
        kept_rows.append(row)
        budget -= utf16_length(row) + 1
    kept_details: list[str] = []
    if len(kept_rows) == len(rows):
        for block in details:
            if budget - (utf16_length(block) + 2) < 0:
                break
            kept_details.append(block)
            budget -= utf16_length(block) + 2
    out = "\n".join(head + kept_rows)
    if kept_details:
        out += "\n\n" + "\n\n".join(kept_details)
    dropped_rows = len(rows) - len(kept_rows)
    dropped_details = len(details) - len(kept_details)
    if dropped_rows or dropped_details:
        out += (
            f"\n\n_Truncated to fit one comment: {dropped_rows} rows and {dropped_details} "
            "diffs left out. Run `campaignctl drift --format json` for the full report._"
        )
    return out + "\n"
