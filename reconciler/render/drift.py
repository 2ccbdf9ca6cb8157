"""reconciler.render.drift: a drift report as text (a terminal), JSON or Markdown (an issue).

Beside the plan's renderings and escaped with the same helpers (render.escape). Reads the
report's public shape only (reconciler.drift imports this module to keep its old names),
so drift kinds are matched by their string values.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from reconciler.render.budget import MARKDOWN_LIMIT, utf16_length
from reconciler.render.escape import fence, md_code, md_html, md_text, text_safe

if TYPE_CHECKING:
    from reconciler.drift import Drift, DriftItem

__all__ = ["render_drift", "render_drift_json", "render_drift_markdown", "render_drift_text"]


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
        f"{counts['fields_changed']} changed",
        f"{counts['deleted_remotely']} deleted remotely",
        f"{counts['status_changed']} status changed",
        f"{counts['unmanaged']} unmanaged",
    ]
    return "Drift: " + ", ".join(parts) + "."


def _value(value: Any) -> str:
    if value is None:
        return "(unset)"
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def render_drift_text(drift: Drift) -> str:
    """Return a terminal report: one line per item, its changes indented under it."""
    # Every line is made safe whole (render.escape): its fixed words hold no control
    # character, so this escapes exactly the data (names, ids, messages, paths, values),
    # and no live value can move the cursor, recolour the terminal or start a new line.
    lines: list[str] = []
    for item in drift.items:
        label = f"{item.kind}/{item.name}"
        head = f"{_TEXT_MARK[str(item.drift)]} {label} [{item.remote_id}]: {item.message}"
        lines.append(text_safe(head))
        for change in item.changes:
            line = f"    {change.dotted}: {_value(change.before)} -> {_value(change.after)}"
            lines.append(text_safe(line))
    if lines:
        lines.append("")
    lines.append(_summary_line(drift))
    return "\n".join(lines) + "\n"


#: Keyed by the drift kinds' string values (reconciler.drift.DriftKind).
_TEXT_MARK = {
    "fields_changed": "~",
    "deleted_remotely": "-",
    "status_changed": "!",
    "unmanaged": "?",
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
    # a line of its own, and the fence is longer than any backtick run (as the plan's is).
    body: list[str] = []
    for change in item.changes:
        body.append(text_safe(f"- {change.dotted}: {_value(change.before)}"))
        body.append(text_safe(f"+ {change.dotted}: {_value(change.after)}"))
    ticks = fence(body)
    # HTML-escaped; `@` split by a word joiner, as md_text does: no mention from a name.
    summary = f"{md_html(item.kind)}/{md_html(item.name)}".replace("@", "@\u2060")
    lines = [f"<details><summary>{summary}</summary>", "", f"{ticks}diff", *body, ticks]
    lines += ["", "</details>"]
    return "\n".join(lines)


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
