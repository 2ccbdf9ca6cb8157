"""reconciler.render.violations: policy violations as lines for people, text or Markdown.

Shared by `validate` and `plan` (docs/reference/commands.md "Policies").
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.plan import PolicyViolation
from reconciler.render.escape import md_code, md_text, text_safe
from reconciler.render.values import quote

__all__ = ["md_policy", "policy_line", "text_policy"]


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
    what = f"{violation.kind} {quote(violation.name)}: " if violation.name else ""
    line = (
        f"{label}: rule {quote(violation.rule)} ({violation.level}): {what}"
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
