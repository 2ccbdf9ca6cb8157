"""reconciler.render.plan_markdown: a Plan as a PR comment that fits in one GitHub comment.

Decides nothing: every word comes from the Plan. Names and messages are escaped with
render.escape; it is sized with render.budget, as GitHub counts a comment.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from reconciler.plan import Action, ActionKind, FieldChange, Plan, TouchpointAction, format_path
from reconciler.render import values
from reconciler.render.budget import MARKDOWN_LIMIT, Budget
from reconciler.render.escape import fence, md_code, md_html, md_text, text_safe
from reconciler.render.remedies import md_remedies, remedies_for
from reconciler.render.violations import md_policy

__all__ = ["render_markdown"]


def render_markdown(plan: Plan, *, limit: int = MARKDOWN_LIMIT) -> str:
    """A PR comment: summary line, a table, one `<details>` diff per changed campaign.

    The whole text stays under `limit` (UTF-16 code units, GitHub's measure); what does
    not fit is left out, table rows last, and a note says how much and where to see it all.
    """
    changed = [a for a in plan.actions if a.is_change]
    unmanaged = [a for a in plan.actions if a.is_unmanaged]
    head = ["### campaignctl plan", ""]
    head += [f"> **Warning:** {md_text(w)}" for w in plan.warnings]
    head += [f"> **Warning** (`{w.code}`): {md_text(w.message)}" for w in plan.coded_warnings]
    if plan.warnings or plan.coded_warnings:
        head.append("")
    head += md_policy(plan.policy)
    if not changed:
        head += [values.NO_CHANGES, ""]
    else:
        head += [f"**{plan.summary_line()}**", ""]
    budget = Budget(limit)
    budget.add("\n".join(head) + "\n")
    rows_shown = 0
    if changed:
        budget.add("| action | kind | name | reason |\n|---|---|---|---|\n")
        for action in changed:
            row = (
                f"| {_md_symbol(action)} {action.action} | {action.kind} | "
                f"{md_code(action.name, table=True)} | `{action.reason}` |\n"
            )
            if not budget.add(row):
                break
            rows_shown += 1
    blocked = [a for a in changed if a.action == ActionKind.BLOCKED]
    if blocked and rows_shown == len(changed):
        # A blocked campaign stays blocked on every run: its way forward comes first.
        budget.add(_md_blocked(blocked, stateful=plan.state_lineage is not None))
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
        "Not in the config or the state; `campaignctl apply --prune` deletes them, "
        "`campaignctl import` manages them.",
        "",
    ]
    shown = unmanaged[: values.UNMANAGED_SHOWN]
    lines += [f"- {a.kind} {md_code(a.name)} ({md_code(a.remote_id or '')})" for a in shown]
    lines += values.more_unmanaged(len(unmanaged), "- ")
    return "\n".join(lines) + "\n"


def _md_details(action: Action) -> str:
    body = [f"# {action.message}"]
    body += _md_diff_lines(action.changes, indent="")
    for tp in action.touchpoints:
        if tp.action == ActionKind.NO_OP:
            continue
        body.append(
            f"{_md_diff_prefix(tp)} touchpoint {values.quote(tp.name)}"
            f"{values.id_suffix(tp.remote_id)} ({tp.action}: {tp.reason})"
        )
        body += _md_diff_lines(tp.changes, indent="    ")
    # Inside the fence nothing is markup; controls are made visible so that no value starts
    # a line of its own, and the fence is longer than any backtick run in the block.
    body = [text_safe(line) for line in body]
    ticks = fence(body)
    summary = (
        f"{_md_symbol(action)} {action.action} {md_html(action.kind)} "
        f"<code>{md_html(action.name)}</code> ({action.reason})"
    )
    return (
        "\n".join(
            [
                "",
                f"<details><summary>{summary}</summary>",
                "",
                f"{ticks}diff",
                *body,
                ticks,
                "",
                "</details>",
            ]
        )
        + "\n"
    )


def _md_blocked(blocked: Sequence[Action], *, stateful: bool) -> str:
    lines = ["", "#### Blocked: these campaigns already ran", ""]
    for action in blocked:
        lines += [
            f"{md_code(action.name)} ({action.kind}, `{action.reason}`): to go on, do one of "
            "these:",
            "",
            *md_remedies(remedies_for(action, stateful=stateful)),
            "",
        ]
    return "\n".join(lines)


def _md_diff_prefix(tp: TouchpointAction) -> str:
    """Diff colouring keys on the first character: + green, - red, ! orange."""
    return {ActionKind.CREATE: "+", ActionKind.DELETE: "-", ActionKind.MOVE: "!"}.get(
        tp.action, "!"
    )


def _md_diff_lines(changes: Iterable[FieldChange], *, indent: str) -> list[str]:
    out: list[str] = []
    for change in values.expanded(changes):
        path = format_path(change.path) or "(value)"
        if change.before is not None:
            out.append(f"-{indent} {path}: {values.value_text(change.before)}")
        if change.after is not None:
            out.append(f"+{indent} {path}: {values.value_text(change.after)}")
    return out


def _md_symbol(action: Action) -> str:
    return {
        ActionKind.CREATE: "🟢",
        ActionKind.UPDATE: "🟡",
        ActionKind.REPLACE: "🟣",
        ActionKind.DELETE: "🔴",
        ActionKind.BLOCKED: "⛔",
    }.get(action.action, "")
