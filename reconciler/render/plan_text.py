"""reconciler.render.plan_text: a Plan as Terraform-like lines for a terminal.

Decides nothing: every word comes from the Plan. Every line is made safe whole
(escape.text_safe), so no name or value can start a line of its own or repaint the terminal.
"""

from __future__ import annotations

from reconciler.plan import Action, ActionKind, FieldChange, Plan, format_path
from reconciler.render.escape import text_safe
from reconciler.render.remedies import remedies_for, text_remedies
from reconciler.render.values import (
    UNMANAGED_SHOWN,
    WRITE_ONLY,
    expanded,
    id_suffix,
    lifecycle_text,
    more_unmanaged,
    no_changes_line,
    quote,
    value_text,
)
from reconciler.render.violations import text_policy

__all__ = ["render_text"]


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


def render_text(plan: Plan, *, color: bool = False) -> str:
    """Terraform-like lines: `+ create`, `~ update`, `-/+ replace`, `- delete`, `! blocked`."""
    paint = _Paint(color)
    stateful = plan.state_lineage is not None
    lines: list[str] = [f"warning: {text_safe(w)}" for w in plan.warnings]
    lines += [f"warning: {text_safe(w.message)}" for w in plan.coded_warnings]
    lines += text_policy(plan.policy)
    changed = [a for a in plan.actions if a.is_change]
    if changed:
        if lines:
            lines.append("")
        lines.append("campaignctl will perform the following actions:")
        for action in changed:
            lines.append("")
            lines.extend(_text_action(action, paint, stateful=stateful))
    else:
        lines.append(no_changes_line(plan.outside_target))
    unmanaged = [a for a in plan.actions if a.is_unmanaged]
    if unmanaged:
        lines += [
            "",
            "Unmanaged live campaigns (not in the config or state; `apply --prune` deletes them):",
        ]
        shown = unmanaged[:UNMANAGED_SHOWN]
        lines += [text_safe(f"  {a.kind} {quote(a.name)} [{a.remote_id}]") for a in shown]
        lines += more_unmanaged(len(unmanaged), "  ")
    if changed:
        lines += ["", paint(ActionKind.NO_OP, plan.summary_line())]
    return "\n".join(lines) + "\n"


def _text_action(action: Action, paint: _Paint, *, stateful: bool) -> list[str]:
    # Every line is made safe whole: its fixed words hold no control character, so this
    # escapes exactly the data in it (names, ids, paths, values, messages).
    head = (
        f"{_SYMBOL[action.action]} {action.kind} {quote(action.name)}"
        f"{id_suffix(action.remote_id)} will be {_verb(action)}"
    )
    out = [paint(action.action, text_safe(head)), text_safe(f"    # {action.message}")]
    settings = lifecycle_text(action.desired)
    if settings:
        out.append(text_safe(f"    # {settings}"))
    out += [text_safe(f"    {_change_line(change)}") for change in expanded(action.changes)]
    for tp in action.touchpoints:
        if tp.action == ActionKind.NO_OP:
            continue
        tp_head = (
            f"    {_SYMBOL[tp.action]} touchpoint {quote(tp.name)}{id_suffix(tp.remote_id)} "
            f"({tp.action}: {tp.reason})"
        )
        out.append(paint(tp.action, text_safe(tp_head)))
        out += [text_safe(f"        {_change_line(change)}") for change in expanded(tp.changes)]
    if action.action == ActionKind.BLOCKED:
        out += text_remedies(remedies_for(action, stateful=stateful), indent="    ")
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
        return f"+ {path}: {value_text(change.after)}"
    if change.after is None:
        return f"- {path}: {value_text(change.before)} (cleared)"
    if change.before is WRITE_ONLY:
        if change.after is WRITE_ONLY:
            return f"~ {path}: (write-only) changed"
        return f"~ {path}: (write-only) changed -> {value_text(change.after)}"
    return f"~ {path}: {value_text(change.before)} -> {value_text(change.after)}"


class _Paint:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, kind: ActionKind, text: str) -> str:
        if not self.color:
            return text
        return f"\x1b[{_COLOR[kind]}m{text}\x1b[0m"
