"""reconciler.render: a Plan as text (a terminal), JSON (machines) or Markdown (a PR comment).

Decides nothing: every word comes from the Plan. Pure functions returning strings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from reconciler.plan import Action, ActionKind, FieldChange, Plan, TouchpointAction, format_path

__all__ = ["MARKDOWN_LIMIT", "render_json", "render_markdown", "render_text", "utf16_length"]

#: GitHub refuses comments above 65,536 characters; stay under with room to spare.
MARKDOWN_LIMIT = 65_000
#: A value longer than this is cut in text and Markdown output (JSON keeps everything).
VALUE_WIDTH = 120

_SYMBOL = {
    ActionKind.CREATE: "+",
    ActionKind.UPDATE: "~",
    ActionKind.REPLACE: "-/+",
    ActionKind.DELETE: "-",
    ActionKind.BLOCKED: "!",
    ActionKind.MOVE: "-/+",
    ActionKind.STATE_ONLY: "=",
    ActionKind.NO_OP: " ",
}
_COLOR = {
    ActionKind.CREATE: "32",
    ActionKind.UPDATE: "33",
    ActionKind.REPLACE: "35",
    ActionKind.DELETE: "31",
    ActionKind.BLOCKED: "1;31",
    ActionKind.MOVE: "35",
    ActionKind.STATE_ONLY: "36",
    ActionKind.NO_OP: "1",  # the summary line: bold
}
_HASH = re.compile(r"(sha256:)?[0-9a-f]{64}")
#: The unmanaged section stays short: the first this many, then a count.
UNMANAGED_SHOWN = 20
NO_CHANGES = "No changes. The live campaigns match the configuration."


def render_json(plan: Plan) -> str:
    """The documented JSON form (docs/plan-format.md), keys sorted, two-space indent."""
    return json.dumps(plan.to_json(), indent=2, sort_keys=True, ensure_ascii=False)


# --------------------------------------------------------------------------- text


def render_text(plan: Plan, *, color: bool = False) -> str:
    """Terraform-like lines: `+ create`, `~ update`, `-/+ replace`, `- delete`, `! blocked`."""
    paint = _Paint(color)
    lines: list[str] = [f"warning: {w}" for w in plan.warnings]
    changed = [a for a in plan.actions if a.is_change]
    if changed:
        if lines:
            lines.append("")
        lines.append("campaignctl will perform the following actions:")
        for action in changed:
            lines.append("")
            lines.extend(_text_action(action, paint))
    else:
        lines.append(NO_CHANGES)
    unmanaged = [a for a in plan.actions if a.is_unmanaged]
    if unmanaged:
        lines += [
            "",
            "Unmanaged live campaigns (not in the config or state; --prune deletes them):",
        ]
        shown = unmanaged[:UNMANAGED_SHOWN]
        lines += [f"  {a.kind} {_quote(a.name)} [{a.remote_id}]" for a in shown]
        lines += _more_unmanaged(len(unmanaged), "  ")
    if changed:
        lines += ["", paint(ActionKind.NO_OP, plan.summary_line())]
    return "\n".join(lines) + "\n"


def _text_action(action: Action, paint: _Paint) -> list[str]:
    head = (
        f"{_SYMBOL[action.action]} {action.kind} {_quote(action.name)}"
        f"{_id(action.remote_id)} will be {_verb(action)}"
    )
    out = [paint(action.action, head), f"    # {action.message}"]
    out += [f"    {_change_line(change)}" for change in _expanded(action.changes)]
    for tp in action.touchpoints:
        if tp.action == ActionKind.NO_OP:
            continue
        tp_head = (
            f"    {_SYMBOL[tp.action]} touchpoint {_quote(tp.name)}{_id(tp.remote_id)} "
            f"({tp.action}: {tp.reason})"
        )
        out.append(paint(tp.action, tp_head))
        out += [f"        {_change_line(change)}" for change in _expanded(tp.changes)]
    return out


def _verb(action: Action) -> str:
    if action.action == ActionKind.BLOCKED:
        return f"blocked ({action.reason})"
    verbs = {
        ActionKind.CREATE: "created",
        ActionKind.UPDATE: "updated in place",
        ActionKind.REPLACE: "replaced",
        ActionKind.DELETE: "deleted",
        ActionKind.STATE_ONLY: "changed in the state only (nothing is sent)",
    }
    return f"{verbs.get(action.action, str(action.action))} ({action.reason})"


def _change_line(change: FieldChange) -> str:
    path = format_path(change.path) or "(value)"
    if change.before is None:
        return f"+ {path}: {_value(change.after)}"
    if change.after is None:
        return f"- {path}: {_value(change.before)} (cleared)"
    return f"~ {path}: {_value(change.before)} -> {_value(change.after)}"


class _Paint:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, kind: ActionKind, text: str) -> str:
        if not self.color:
            return text
        return f"\x1b[{_COLOR[kind]}m{text}\x1b[0m"


# --------------------------------------------------------------------------- markdown


def render_markdown(plan: Plan, *, limit: int = MARKDOWN_LIMIT) -> str:
    """A PR comment: summary line, a table, one `<details>` diff per changed campaign.

    The whole text stays under `limit` (UTF-16 code units, GitHub's measure); what does
    not fit is left out, table rows last, and a note says how much and where to see it all.
    """
    changed = [a for a in plan.actions if a.is_change]
    unmanaged = [a for a in plan.actions if a.is_unmanaged]
    head = ["### campaignctl plan", ""]
    head += [f"> **Warning:** {_md_text(w)}" for w in plan.warnings]
    if plan.warnings:
        head.append("")
    if not changed:
        head += [NO_CHANGES, ""]
    else:
        head += [f"**{plan.summary_line()}**", ""]
    budget = _Budget(limit)
    budget.add("\n".join(head) + "\n")
    rows_shown = 0
    if changed:
        budget.add("| action | kind | name | reason |\n|---|---|---|---|\n")
        for action in changed:
            row = (
                f"| {_md_symbol(action)} {action.action} | {action.kind} | "
                f"{_md_cell(action.name)} | `{action.reason}` |\n"
            )
            if not budget.add(row):
                break
            rows_shown += 1
    if unmanaged and rows_shown == len(changed):
        budget.add(_md_unmanaged(unmanaged))
    details_shown = 0
    if rows_shown == len(changed):
        for action in changed:
            if not budget.add(_md_details(action)):
                break
            details_shown += 1
    hidden_rows, hidden_details = len(changed) - rows_shown, len(changed) - details_shown
    if hidden_rows or hidden_details:
        budget.finish(_md_truncation(len(changed), rows_shown, details_shown, unmanaged))
    return budget.text()


class _Budget:
    """Text that grows block by block and never passes its limit (room kept for a note).

    Sizes are UTF-16 code units, as GitHub counts a comment: an emoji counts twice.
    """

    NOTE_ROOM = 400

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0

    def add(self, block: str) -> bool:
        size = utf16_length(block)
        if self.size + size + self.NOTE_ROOM >= self.limit:
            return False
        self.parts.append(block)
        self.size += size
        return True

    def finish(self, note: str) -> None:
        # The note is ASCII: one code unit per character.
        self.parts.append(note[: max(0, self.limit - self.size - 1)])

    def text(self) -> str:
        return "".join(self.parts)


def utf16_length(text: str) -> int:
    """The length of text in UTF-16 code units (characters beyond U+FFFF count twice)."""
    return len(text.encode("utf-16-le")) // 2


def _md_truncation(total: int, rows: int, details: int, unmanaged: Sequence[Action]) -> str:
    left_out = [f"{total - details} of {total} campaign diffs"]
    if rows < total:
        left_out.insert(0, f"{total - rows} of {total} table rows")
        if unmanaged:
            left_out.append(f"{len(unmanaged)} unmanaged campaigns")
    return (
        f"\n> **Truncated:** {' and '.join(left_out)} are not shown, to keep this comment "
        "under GitHub's size limit. Run `campaignctl plan` (or `--format json`) to see the "
        "whole plan.\n"
    )


def _md_unmanaged(unmanaged: Sequence[Action]) -> str:
    lines = [
        "",
        "#### Unmanaged live campaigns",
        "",
        "Not in the config or the state; `--prune` deletes them, `campaignctl import` manages "
        "them.",
        "",
    ]
    shown = unmanaged[:UNMANAGED_SHOWN]
    lines += [f"- {a.kind} {_md_cell(a.name)} (`{a.remote_id}`)" for a in shown]
    lines += _more_unmanaged(len(unmanaged), "- ")
    return "\n".join(lines) + "\n"


def _more_unmanaged(count: int, prefix: str) -> list[str]:
    if count <= UNMANAGED_SHOWN:
        return []
    return [f"{prefix}… and {count - UNMANAGED_SHOWN} more (`--format json` lists them all)"]


def _md_details(action: Action) -> str:
    body = [f"# {action.message}"]
    body += _md_diff_lines(action.changes, indent="")
    for tp in action.touchpoints:
        if tp.action == ActionKind.NO_OP:
            continue
        body.append(
            f"{_md_diff_prefix(tp)} touchpoint {_quote(tp.name)}{_id(tp.remote_id)} "
            f"({tp.action}: {tp.reason})"
        )
        body += _md_diff_lines(tp.changes, indent="    ")
    fence = _fence(body)
    summary = (
        f"{_md_symbol(action)} {action.action} {action.kind} "
        f"<code>{_html(action.name)}</code> ({action.reason})"
    )
    return (
        "\n".join(
            [
                "",
                f"<details><summary>{summary}</summary>",
                "",
                f"{fence}diff",
                *body,
                fence,
                "",
                "</details>",
            ]
        )
        + "\n"
    )


def _md_diff_prefix(tp: TouchpointAction) -> str:
    """Diff colouring keys on the first character: + green, - red, ! orange."""
    return {ActionKind.CREATE: "+", ActionKind.DELETE: "-", ActionKind.MOVE: "!"}.get(
        tp.action, "!"
    )


def _md_diff_lines(changes: Iterable[FieldChange], *, indent: str) -> list[str]:
    out: list[str] = []
    for change in _expanded(changes):
        path = format_path(change.path) or "(value)"
        if change.before is not None:
            out.append(f"-{indent} {path}: {_value(change.before)}")
        if change.after is not None:
            out.append(f"+{indent} {path}: {_value(change.after)}")
    return out


def _md_symbol(action: Action) -> str:
    return {
        ActionKind.CREATE: "🟢",
        ActionKind.UPDATE: "🟡",
        ActionKind.REPLACE: "🟣",
        ActionKind.DELETE: "🔴",
        ActionKind.BLOCKED: "⛔",
    }.get(action.action, "")


def _fence(lines: Sequence[str]) -> str:
    """A code fence longer than any backtick run inside the block."""
    longest = max((_longest_backticks(line) for line in lines), default=0)
    return "`" * max(3, longest + 1)


def _longest_backticks(line: str) -> int:
    best = run = 0
    for char in line:
        run = run + 1 if char == "`" else 0
        best = max(best, run)
    return best


def _md_cell(text: str) -> str:
    return _html(text).replace("|", "\\|").replace("`", "\\`").replace("\n", " ")


def _md_text(text: str) -> str:
    return _html(text).replace("\n", " ")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --------------------------------------------------------------------------- values


def _expanded(changes: Iterable[FieldChange]) -> list[FieldChange]:
    """Whole objects set or cleared, one line per key or item: nested values stay readable."""
    out: list[FieldChange] = []
    for change in changes:
        out.extend(_expand(change))
    return out


def _expand(change: FieldChange) -> list[FieldChange]:
    before, after = change.before, change.after
    value = after if before is None else before if after is None else None
    if isinstance(value, dict):
        parts: list[tuple[str | int, Any]] = list(value.items())
    elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        parts = list(enumerate(value))
    else:
        return [change]
    out: list[FieldChange] = []
    for key, part in parts:
        sub = (*change.path, key)
        out.extend(
            _expand(
                FieldChange(sub, None, part) if before is None else FieldChange(sub, part, None)
            )
        )
    return out


def _value(value: Any) -> str:
    text = json.dumps(_short_hashes(value), ensure_ascii=False, sort_keys=True, default=str)
    if len(text) > VALUE_WIDTH:
        return text[: VALUE_WIDTH - 1] + "…"
    return text


def _quote(name: str) -> str:
    return json.dumps(name, ensure_ascii=False)


def _id(remote_id: str | None) -> str:
    return f" [{remote_id}]" if remote_id else ""


def _short_hashes(value: Any) -> Any:
    """Content hashes cut to 12 hex digits: enough to tell two apart on screen."""
    if isinstance(value, str) and _HASH.fullmatch(value):
        return value[: len(value) - 52] + "…"
    if isinstance(value, dict):
        return {k: _short_hashes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_short_hashes(v) for v in value]
    return value
