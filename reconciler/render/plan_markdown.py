"""reconciler.render.plan_markdown: a Plan as a PR comment that fits in one GitHub comment.

Decides nothing: every word comes from the Plan. Names and messages are escaped with
render.escape; it is sized with render.budget, as GitHub counts a comment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from reconciler.canonical import ordered_unique
from reconciler.plan import Action, ActionKind, FieldChange, Plan, TouchpointAction, format_path
from reconciler.render import values
from reconciler.render.budget import MARKDOWN_LIMIT, Budget
from reconciler.render.escape import fence, md_code, md_html, md_text, text_safe
from reconciler.render.remedies import md_remedies, remedies_for
from reconciler.render.violations import md_policy

__all__ = ["github_run_url", "render_markdown"]

#: How many names an attention line lists before it counts the rest.
_NAMES_SHOWN = 5
_SERVER = re.compile(r"https?://[A-Za-z0-9.:-]+")
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


def github_run_url(env: Mapping[str, str]) -> str | None:
    """The GitHub Actions run this is, from its environment; None outside one.

    Each part is checked against its form, so no variable can put markup in the comment.
    """
    server = env.get("GITHUB_SERVER_URL", "")
    repository = env.get("GITHUB_REPOSITORY", "")
    run_id = env.get("GITHUB_RUN_ID", "")
    if not (_SERVER.fullmatch(server) and _REPOSITORY.fullmatch(repository) and run_id.isdigit()):
        return None
    url = f"{server}/{repository}/actions/runs/{run_id}"
    attempt = env.get("GITHUB_RUN_ATTEMPT", "")
    return f"{url}/attempts/{attempt}" if attempt.isdigit() else url


def render_markdown(plan: Plan, *, limit: int = MARKDOWN_LIMIT, run_url: str | None = None) -> str:
    """A PR comment: the summary first, then a table and one `<details>` diff per campaign.

    The summary is the counts, then what needs a reviewer's attention (blocked campaigns,
    live campaigns destroyed, policy errors), then a link to `run_url` (see github_run_url).
    The whole text stays under `limit` (UTF-16 code units, GitHub's measure); what does
    not fit is left out, table rows last, and a note says how much and where to see it all.
    """
    changed = [a for a in plan.actions if a.is_change]
    unmanaged = [a for a in plan.actions if a.is_unmanaged]
    head = ["### campaignctl plan", ""]
    if not changed:
        head += [values.no_changes_line(plan.outside_target), ""]
    else:
        head += [f"**{plan.summary_line()}**", ""]
    head += _md_attention(plan, changed)
    if run_url:
        head += [f"[The workflow run]({run_url}) made this plan.", ""]
    head += [f"> **Warning:** {md_text(w)}" for w in plan.warnings]
    head += [f"> **Warning** (`{w.code}`): {md_text(w.message)}" for w in plan.coded_warnings]
    if plan.warnings or plan.coded_warnings:
        head.append("")
    head += md_policy(plan.policy)
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


def _md_attention(plan: Plan, changed: Sequence[Action]) -> list[str]:
    """What a reviewer must not miss, one line each, under the counts."""
    blocked = [a.name for a in changed if a.action == ActionKind.BLOCKED]
    destroyed = [a.name for a in changed if a.action in (ActionKind.DELETE, ActionKind.REPLACE)]
    refused = [v for v in plan.policy if v.blocking and not v.overridden]
    lines: list[str] = []
    if blocked:
        lines.append(
            f"- ⛔ **{len(blocked)} blocked** (already ran; the ways on are below): "
            + _names(blocked)
        )
    if destroyed:
        lines.append(
            f"- 🔴 **{len(destroyed)} live campaign(s) deleted or replaced**: " + _names(destroyed)
        )
    if refused:
        rules = ordered_unique(v.rule for v in refused)
        lines.append(f"- ⛔ **{len(refused)} policy error(s)** stop apply: " + _names(rules))
    return [*lines, ""] if lines else []


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(md_code(n) for n in names[:_NAMES_SHOWN])
    more = len(names) - _NAMES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


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
    settings = values.lifecycle_text(action.desired)
    if settings:
        body.append(f"# {settings}")
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
            # "changed": the hash says it differs, not what it was.
            hidden = change.before is values.WRITE_ONLY and change.after is not None
            changed = " changed" if hidden else ""
            out.append(f"-{indent} {path}: {values.value_text(change.before)}{changed}")
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
