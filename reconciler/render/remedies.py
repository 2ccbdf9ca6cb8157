"""reconciler.render.remedies: the ways past a blocked action, in words and machine form.

A blocked plan stays blocked on every run until the YAML or the state changes
(docs/reference/semantics.md "Blocked campaigns"), so each blocked action carries its
remedies: in the plan's JSON, and as lines in text and Markdown.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.plan import Action, ActionKind, Reason
from reconciler.render.escape import md_code, md_text, text_safe
from reconciler.render.values import quote

__all__ = ["Remedy", "md_remedies", "remedies_for", "text_remedies"]


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
                f"keep managing {quote(name)}: put its {kind} YAML back, as the live campaign is",
            ),
            Remedy(
                "stop_managing",
                f"leave {quote(name)} live and stop managing it (a campaign that was "
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
            f"revert the YAML change to {listed} of {quote(name)} (back to what ran)",
            fields,
        )
    ]
    ignorable = _ignorable(kind)
    if fields and all(f in ignorable for f in fields):
        out.append(
            Remedy(
                "ignore_changes",
                f"keep the change but stop diffing {listed}: add to the YAML of {quote(name)}",
                fields,
                yaml=f"lifecycle: {{ignore_changes: [{', '.join(fields)}]}}",
            )
        )
    if _blocked_reason(action) == Reason.EXECUTED_CANNOT_DELETE:
        out.append(_allow_delete("replace it anyway (deletes the campaign that ran)"))
    out.append(stop)
    return out


def _ignorable(kind: str) -> tuple[str, ...]:
    """The fields `lifecycle.ignore_changes` may name for `kind`, as its vendor declares."""
    # Imported here: render stays free of pydantic until a blocked action needs a remedy.
    from reconciler.providers.vendors import VENDORS

    vendor = VENDORS.get(kind)
    return vendor.ignorable if vendor is not None else ()


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
            f"stop managing {quote(name)}, leaving it live as it is: remove its YAML",
        )
    return Remedy(
        "stop_managing",
        f"stop managing {quote(name)}, leaving it live as it is: remove its YAML, then run",
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


def text_remedies(remedies: Sequence[Remedy], *, indent: str) -> list[str]:
    """A blocked action's way forward, one line per remedy, for a terminal."""
    if not remedies:
        return []
    lines = [f"{indent}To go on, do one of these:"]
    return lines + [f"{indent}- {text_safe(r.sentence())}" for r in remedies]


def md_remedies(remedies: Sequence[Remedy]) -> list[str]:
    """A blocked action's way forward as a Markdown list."""
    lines = []
    for remedy in remedies:
        extra = remedy.command or remedy.yaml
        lines.append(f"- {md_text(remedy.text)}" + (f": {md_code(extra)}" if extra else ""))
    return lines
