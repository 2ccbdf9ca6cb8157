"""reconciler.render: a Plan as text (a terminal), JSON (machines) or Markdown (a PR comment).

Decides nothing: every word comes from the Plan. Pure functions returning strings.
"""

from __future__ import annotations

import html
import json
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.plan import (
    Action,
    ActionKind,
    FieldChange,
    Plan,
    PolicyViolation,
    Reason,
    TouchpointAction,
    format_path,
)

__all__ = [
    "MARKDOWN_LIMIT",
    "Remedy",
    "github_data",
    "github_property",
    "md_code",
    "md_html",
    "md_text",
    "remedies_for",
    "render_json",
    "render_markdown",
    "render_text",
    "text_safe",
    "utf16_length",
]

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
    """The documented JSON form (docs/plan-format.md), keys sorted, two-space indent.

    Each blocked action also carries `remedies` (see Remedy): derived from the action, so
    not part of a saved plan.
    """
    data = plan.to_json()
    stateful = plan.state_lineage is not None
    for action, out in zip(plan.actions, data["actions"], strict=True):
        if action.action == ActionKind.BLOCKED:
            out["remedies"] = [r.to_json() for r in remedies_for(action, stateful=stateful)]
    return _json_safe(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))


# --------------------------------------------------------------------------- text


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
        lines.append(NO_CHANGES)
    unmanaged = [a for a in plan.actions if a.is_unmanaged]
    if unmanaged:
        lines += [
            "",
            "Unmanaged live campaigns (not in the config or state; --prune deletes them):",
        ]
        shown = unmanaged[:UNMANAGED_SHOWN]
        lines += [text_safe(f"  {a.kind} {_quote(a.name)} [{a.remote_id}]") for a in shown]
        lines += _more_unmanaged(len(unmanaged), "  ")
    if changed:
        lines += ["", paint(ActionKind.NO_OP, plan.summary_line())]
    return "\n".join(lines) + "\n"


def text_policy(violations: Sequence[PolicyViolation]) -> list[str]:
    """One line per policy violation: level, rule, where, message (and an override's reason)."""
    return [text_safe(policy_line(v)) for v in violations]


def policy_line(violation: PolicyViolation) -> str:
    """`policy error: rule 'x' (soft): message (campaigns.d/a.yaml:3)`, words for people."""
    if violation.overridden:
        label = "policy overridden"
    elif violation.blocking:
        label = "policy error"
    else:
        label = "policy warning"
    where = f"{violation.file}:{violation.line}" if violation.file else "the plan"
    what = f"{violation.kind} {_quote(violation.name)}: " if violation.name else ""
    line = (
        f"{label}: rule {_quote(violation.rule)} ({violation.level}): {what}"
        f"{violation.message} ({where})"
    )
    if violation.overridden:
        line += f"; override reason: {violation.reason}"
    return line


def md_policy(violations: Sequence[PolicyViolation]) -> list[str]:
    """The PR comment's policy section: violations, then overrides with their reasons."""
    if not violations:
        return []
    lines = ["#### Policy", "", "| | rule | level | campaign | message |", "|---|---|---|---|---|"]
    for v in violations:
        mark = "✅ overridden" if v.overridden else ("⛔" if v.blocking else "⚠️")
        where = f"{v.file}:{v.line}" if v.file else "plan"
        lines.append(
            f"| {mark} | {md_code(v.rule, table=True)} | {v.level} | "
            f"{md_code(v.name or '', table=True)} ({md_code(where, table=True)}) | "
            f"{md_text(v.message)} |"
        )
    overrides = [v for v in violations if v.overridden]
    if overrides:
        lines += ["", "**Overrides:**", ""]
        lines += [
            f"- {md_code(v.rule)} on {md_code(v.name or 'the plan')}: {md_text(v.reason or '')}"
            for v in overrides
        ]
    return [*lines, ""]


def _text_action(action: Action, paint: _Paint, *, stateful: bool) -> list[str]:
    # Every line is made safe whole: its fixed words hold no control character, so this
    # escapes exactly the data in it (names, ids, paths, values, messages).
    head = (
        f"{_SYMBOL[action.action]} {action.kind} {_quote(action.name)}"
        f"{_id(action.remote_id)} will be {_verb(action)}"
    )
    out = [paint(action.action, text_safe(head)), text_safe(f"    # {action.message}")]
    out += [text_safe(f"    {_change_line(change)}") for change in _expanded(action.changes)]
    for tp in action.touchpoints:
        if tp.action == ActionKind.NO_OP:
            continue
        tp_head = (
            f"    {_SYMBOL[tp.action]} touchpoint {_quote(tp.name)}{_id(tp.remote_id)} "
            f"({tp.action}: {tp.reason})"
        )
        out.append(paint(tp.action, text_safe(tp_head)))
        out += [text_safe(f"        {_change_line(change)}") for change in _expanded(tp.changes)]
    if action.action == ActionKind.BLOCKED:
        out += text_remedies(remedies_for(action, stateful=stateful), indent="    ")
    return out


def text_remedies(remedies: Sequence[Remedy], *, indent: str) -> list[str]:
    """A blocked action's way forward, one line per remedy, for a terminal."""
    if not remedies:
        return []
    lines = [f"{indent}To go on, do one of these:"]
    return lines + [f"{indent}- {text_safe(r.sentence())}" for r in remedies]


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
    head += [f"> **Warning:** {md_text(w)}" for w in plan.warnings]
    head += [f"> **Warning** (`{w.code}`): {md_text(w.message)}" for w in plan.coded_warnings]
    if plan.warnings or plan.coded_warnings:
        head.append("")
    head += md_policy(plan.policy)
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
    lines += [f"- {a.kind} {md_code(a.name)} ({md_code(a.remote_id or '')})" for a in shown]
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
    # Inside the fence nothing is markup; controls are made visible so that no value starts
    # a line of its own, and the fence is longer than any backtick run in the block.
    body = [text_safe(line) for line in body]
    fence = _fence(body)
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
                f"{fence}diff",
                *body,
                fence,
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


def md_remedies(remedies: Sequence[Remedy]) -> list[str]:
    """A blocked action's way forward as a Markdown list."""
    lines = []
    for remedy in remedies:
        extra = remedy.command or remedy.yaml
        lines.append(f"- {md_text(remedy.text)}" + (f": {md_code(extra)}" if extra else ""))
    return lines


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


# --------------------------------------------------------------------------- escaping
#
# One function per output form; every name, key, value, path and API message goes through
# the one of the form it is printed in. Data never decides where a line starts: a newline,
# CR or escape sequence in a campaign name would otherwise start a forged line (a fake
# `::set-output` workflow command in CI, a fake "Plan: 0 to create" line) or repaint the
# terminal.

#: C0 and C1 controls (ESC, CR, LF, TAB, DEL, CSI ...), the Unicode line and paragraph
#: separators, and the bidirectional overrides and isolates ("Trojan Source" reordering).
_CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
_NAMED_CONTROL = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED_CONTROL:
        return _NAMED_CONTROL[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def text_safe(text: str) -> str:
    """Text for a terminal or log: every control character made visible, repr-style (`\\x1b`).

    The result never holds a raw ESC, CR or LF, so it stays inside the one line it is on.
    """
    return _CONTROL.sub(_visible, text)


def text_line_start(text: str) -> str:
    """Like text_safe, for data that begins a line: never a line that starts with `::`.

    GitHub Actions reads any stdout line whose first non-blank characters are `::` as a
    workflow command; `./` keeps a path meaning the same path.
    """
    safe = text_safe(text)
    return f"./{safe}" if safe.lstrip().startswith("::") else safe


def github_data(text: str) -> str:
    """The message of a workflow command (`::error ...::MESSAGE`): GitHub's own escapes for
    `%`, CR and LF (a multi-line annotation stays one command), other controls made visible."""
    escaped = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text_safe(escaped)


def github_property(text: str) -> str:
    """A property of a workflow command (`file=VALUE`): data escapes plus `:` and `,`."""
    return github_data(text).replace(":", "%3A").replace(",", "%2C")


#: Characters that Markdown gives a meaning to inside a line: escapes, code, emphasis,
#: links and images (`[`), table cells, strikethrough. Each is backslash-escaped in prose
#: (prose never starts a line here, so list and heading markers mean nothing).
_MD_PUNCTUATION = re.compile(r"([\\`*_\[\]|~])")


def md_text(text: str) -> str:
    """Prose in Markdown (a warning, a message): shows as written, never as markup.

    HTML is escaped, Markdown punctuation backslash-escaped, controls made visible (so no
    newline ends a table row or a blockquote), and `@` is followed by a word joiner: GitHub
    notifies an `@user` even when the `@` is escaped, but not once it is split.
    """
    escaped = html.escape(text_safe(text), quote=False)
    escaped = _MD_PUNCTUATION.sub(r"\\\1", escaped)
    return escaped.replace("@", "@\u2060")


def md_html(text: str) -> str:
    """Text inside an HTML element of a Markdown comment (`<summary>`, `<code>`)."""
    return html.escape(text_safe(text), quote=True)


def md_code(text: str, *, table: bool = False) -> str:
    """A Markdown code span holding `text` verbatim, which nothing in it can end.

    The delimiter is one backtick longer than the longest run inside; `|` is escaped in a
    table cell (GFM splits cells before it reads code spans). Code is never a mention, a
    link or HTML.
    """
    safe = text_safe(text)
    if table:
        safe = safe.replace("|", "\\|")
    fence = "`" * (_longest_backticks(safe) + 1)
    pad = " " if safe.startswith(("`", " ")) or safe.endswith(("`", " ")) or not safe else ""
    return f"{fence}{pad}{safe}{pad}{fence}"


#: The controls json.dumps leaves raw with ensure_ascii=False (it escapes C0 itself).
_JSON_RAW = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _json_safe(text: str) -> str:
    """JSON text with DEL, C1 controls, U+2028... as `\\u` escapes: same JSON, safe to cat."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# --------------------------------------------------------------------------- remedies


@dataclass(frozen=True)
class Remedy:
    """One way past a blocked action, in words and in machine form.

    `code` is stable: `revert_yaml`, `ignore_changes`, `stop_managing`, `restore_yaml` or
    `allow_delete_executed`. `fields` are the top-level fields concerned, `command` a shell
    command to run, `yaml` what to add to the campaign's YAML document.
    """

    code: str
    text: str
    fields: tuple[str, ...] = ()
    command: str | None = None
    yaml: str | None = None

    def sentence(self) -> str:
        """The remedy as one line for people, its command or YAML included."""
        extra = self.command or self.yaml
        return f"{self.text}: {extra}" if extra else self.text

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "text": self.sentence(),
            "fields": list(self.fields),
            "command": self.command,
            "yaml": self.yaml,
        }


def remedies_for(action: Action, *, stateful: bool = True) -> list[Remedy]:
    """What the user can do about a blocked `action` (a campaign that already ran).

    A blocked plan stays blocked on every run until the YAML or the state changes, so each
    blocked action says how: revert the change, stop diffing the fields, stop managing the
    campaign, or (deletes and replaces) allow deleting it. Also used for an action that
    apply found blocked though the plan did not (the campaign started sending meanwhile).
    `stateful` is False under --no-state, where there is no record to remove.
    """
    name, kind = action.name, action.kind
    stop = _stop_managing(name, stateful)
    if _blocked_reason(action) == Reason.EXECUTED_CANNOT_DELETE and action.desired is None:
        return [
            Remedy(
                "restore_yaml",
                f"keep managing {_quote(name)}: put its {kind} YAML back, as the live campaign is",
            ),
            Remedy(
                "stop_managing",
                f"leave {_quote(name)} live and stop managing it (a campaign that was "
                "never managed only needs no --prune)",
                command=_state_rm(name) if stateful else None,
            ),
            _allow_delete("delete it anyway (it already ran)"),
        ]
    fields = tuple(action.fields_to_send()) or _touchpoint_fields(action)
    listed = ", ".join(fields) or "the changed fields"
    out = [
        Remedy(
            "revert_yaml",
            f"revert the YAML change to {listed} of {_quote(name)} (back to what ran)",
            fields,
        )
    ]
    ignorable = _IGNORABLE.get(kind, frozenset())
    if fields and all(f in ignorable for f in fields):
        out.append(
            Remedy(
                "ignore_changes",
                f"keep the change but stop diffing {listed}: add to the YAML of {_quote(name)}",
                fields,
                yaml=f"lifecycle: {{ignore_changes: [{', '.join(fields)}]}}",
            )
        )
    if _blocked_reason(action) == Reason.EXECUTED_CANNOT_DELETE:
        out.append(_allow_delete("replace it anyway (deletes the campaign that ran)"))
    out.append(stop)
    return out


#: Fields lifecycle.ignore_changes may name, by kind (model.py: all diffable fields but
#: campaign_type; a MessagingCampaign's name is its identity).
_IGNORABLE: dict[str, frozenset[str]] = {
    "EmailCampaign": frozenset(
        {
            "to",
            "reply_to",
            "sender_id",
            "template_invoke_name",
            "subject",
            "send_time",
            "time_zone",
            "attachments",
            "google_track",
            "warm_up",
            "ab_test",
        }
    ),
    "MessagingCampaign": frozenset({"channel_type", "touchpoints"}),
}


def _blocked_reason(action: Action) -> Reason:
    """The block's reason; for an action blocked only at apply time, the one it amounts to."""
    if action.action == ActionKind.BLOCKED:
        return action.reason
    if action.action in (ActionKind.DELETE, ActionKind.REPLACE):
        return Reason.EXECUTED_CANNOT_DELETE
    if action.kind == "MessagingCampaign":
        return Reason.CAMPAIGN_COMPLETED
    return Reason.EXECUTED_CANNOT_UPDATE


def _touchpoint_fields(action: Action) -> tuple[str, ...]:
    pending = [tp for tp in action.touchpoints if tp.action != ActionKind.NO_OP]
    return ("touchpoints",) if pending else ()


def _stop_managing(name: str, stateful: bool) -> Remedy:
    if not stateful:
        return Remedy(
            "stop_managing",
            f"stop managing {_quote(name)}, leaving it live as it is: remove its YAML",
        )
    return Remedy(
        "stop_managing",
        f"stop managing {_quote(name)}, leaving it live as it is: remove its YAML, then run",
        command=_state_rm(name),
    )


def _allow_delete(text: str) -> Remedy:
    return Remedy(
        "allow_delete_executed",
        text,
        command="campaignctl apply --allow-delete-executed",
    )


def _state_rm(name: str) -> str:
    return f"campaignctl state rm {shlex.quote(name)}"
