"""reconciler.plan: the Plan and its parts, as immutable values with a stable JSON form.

A Plan is what `plan` prints, what `--out` saves and what `apply` executes: one Action per
campaign the planner looked at, sorted by (kind, name), each with field-level changes and a
reason code from ``Reason``. No I/O here; ``to_json`` is the one machine form every output
and saved plan uses, and ``from_json`` reads it back unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from reconciler.errors import PlanError

__all__ = [
    "FORMAT_VERSION",
    "Action",
    "ActionKind",
    "ChangePath",
    "FieldChange",
    "Plan",
    "PlanWarning",
    "PolicyViolation",
    "Reason",
    "TouchpointAction",
    "format_path",
]

#: Version of the JSON form (`--format json` and saved plans); bumped on incompatible change.
FORMAT_VERSION = 1


class ActionKind(StrEnum):
    """What apply does to one campaign (or, for `move`, to one touchpoint)."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    NO_OP = "no-op"
    BLOCKED = "blocked"
    MOVE = "move"
    #: Nothing is sent: only the state's record changes (brought up to date with a live
    #: campaign that already matches the config, or forgotten when the campaign is gone).
    STATE_ONLY = "state-only"


class Reason(StrEnum):
    """The only spelling of reason codes: stable, machine-readable, documented."""

    NOT_IN_LIVE = "not_in_live"
    DELETED_REMOTELY = "deleted_remotely"
    FIELDS_DIFFER = "fields_differ"
    TOUCHPOINTS_DIFFER = "touchpoints_differ"
    ADOPTED_BY_NAME = "adopted_by_name"
    REPLACE_BECAUSE_CANNOT_UPDATE = "replace_because_cannot_update"
    DELETE_BECAUSE_NO_CONFIG = "delete_because_no_config"
    PRUNE_UNMANAGED = "prune_unmanaged"
    UP_TO_DATE = "up_to_date"
    UNMANAGED = "unmanaged"
    EXECUTED_CANNOT_UPDATE = "executed_cannot_update"
    EXECUTED_CANNOT_DELETE = "executed_cannot_delete"
    CAMPAIGN_COMPLETED = "campaign_completed"
    TOUCHPOINT_NEW = "touchpoint_new"
    TOUCHPOINT_FIELDS_DIFFER = "touchpoint_fields_differ"
    TOUCHPOINT_REMOVED = "touchpoint_removed"
    REORDER_RECREATES = "reorder_recreates"
    #: state-only: live already matches the config, the record is older (a change copied
    #: from the vendor's UI into the YAML, or a run killed between a call and its record).
    RECORD_OUTDATED = "record_outdated"
    #: state-only: in the state, gone live and absent from the config (a delete whose run
    #: was killed before it recorded it, or a campaign deleted in the UI and in the YAML).
    FORGET_DELETED = "forget_deleted"


ChangePath = tuple[str | int, ...]


def format_path(path: Sequence[str | int]) -> str:
    """Return a change path as `ab_test.subjects[1]` (empty path: the whole value)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One changed value at `path`; None on either side means unset (created or cleared)."""

    path: ChangePath
    before: Any
    after: Any

    def to_json(self) -> dict[str, Any]:
        return {"path": list(self.path), "before": self.before, "after": self.after}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FieldChange:
        return cls(tuple(data["path"]), data.get("before"), data.get("after"))


@dataclass(frozen=True, slots=True)
class TouchpointAction:
    """What apply does to one touchpoint of a MessagingCampaign.

    `remote_id` is the live touchpoint (None for a create); `desired` is the touchpoint's
    canonical form, message included, for create, update and move (None for delete).
    A `move` deletes `remote_id` and creates `desired` at the end, in plan order.
    """

    action: ActionKind
    name: str
    remote_id: str | None
    reason: Reason
    changes: tuple[FieldChange, ...] = ()
    desired: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "action": str(self.action),
            "name": self.name,
            "remote_id": self.remote_id,
            "reason": str(self.reason),
            "changes": [change.to_json() for change in self.changes],
            "desired": self.desired,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TouchpointAction:
        return cls(
            action=ActionKind(data["action"]),
            name=data["name"],
            remote_id=data.get("remote_id"),
            reason=Reason(data["reason"]),
            changes=tuple(FieldChange.from_json(c) for c in data.get("changes") or ()),
            desired=data.get("desired"),
        )


@dataclass(frozen=True, slots=True)
class Action:
    """What apply does to one campaign, why, and what it was based on.

    `desired` is the campaign's canonical form (subject text and attachment paths included:
    the applier sends it); `live_fingerprint` and `live_status` describe the live object the
    action was computed against (None when there was none). For an update, the first element
    of each change path names a top-level field to send; `after=None` means "send it empty".
    """

    action: ActionKind
    kind: str
    name: str
    remote_id: str | None
    reason: Reason
    message: str
    changes: tuple[FieldChange, ...] = ()
    touchpoints: tuple[TouchpointAction, ...] = ()
    desired: dict[str, Any] | None = None
    live_fingerprint: str | None = None
    live_status: int | str | None = None

    @property
    def sort_key(self) -> tuple[str, str, str]:
        return (self.kind, self.name, self.remote_id or "")

    @property
    def is_unmanaged(self) -> bool:
        return self.action == ActionKind.NO_OP and self.reason == Reason.UNMANAGED

    @property
    def is_change(self) -> bool:
        """True for anything but a no-op: something to do, or something blocked."""
        return self.action != ActionKind.NO_OP

    def fields_to_send(self) -> list[str]:
        """The top-level fields an update sends, in first-change order."""
        seen: dict[str, None] = {}
        for change in self.changes:
            if change.path:
                seen.setdefault(str(change.path[0]), None)
        return list(seen)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "action": str(self.action),
            "kind": self.kind,
            "name": self.name,
            "remote_id": self.remote_id,
            "reason": str(self.reason),
            "message": self.message,
            "changes": [change.to_json() for change in self.changes],
            "desired": self.desired,
            "live_fingerprint": self.live_fingerprint,
            "live_status": self.live_status,
        }
        if self.kind == "MessagingCampaign":
            out["touchpoints"] = [tp.to_json() for tp in self.touchpoints]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Action:
        return cls(
            action=ActionKind(data["action"]),
            kind=data["kind"],
            name=data["name"],
            remote_id=data.get("remote_id"),
            reason=Reason(data["reason"]),
            message=data.get("message", ""),
            changes=tuple(FieldChange.from_json(c) for c in data.get("changes") or ()),
            touchpoints=tuple(TouchpointAction.from_json(t) for t in data.get("touchpoints") or ()),
            desired=data.get("desired"),
            live_fingerprint=data.get("live_fingerprint"),
            live_status=data.get("live_status"),
        )


@dataclass(frozen=True)
class PlanWarning:
    """A warning with a stable machine code (`send_clash`, `quiet_hours`, `policy`...).

    `campaigns` are the `{kind, name, file, line}` it is about. Its message is also in the
    plan's plain `warnings` strings, so a reader of the older, string-only form misses
    nothing.
    """

    code: str
    message: str
    campaigns: tuple[Mapping[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "campaigns": [dict(c) for c in self.campaigns],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PlanWarning:
        return cls(
            str(data["code"]),
            str(data["message"]),
            tuple(dict(c) for c in data.get("campaigns") or ()),
        )


@dataclass(frozen=True)
class PolicyViolation:
    """A policy rule that did not hold, for one campaign (scope campaign) or the plan.

    `level` is advisory | soft | hard; an overridden soft violation carries the reason the
    `--override` gave. `file`/`line` locate the campaign (or the rule, for a plan rule).
    """

    rule: str
    level: str
    kind: str | None
    name: str | None
    file: str | None
    line: int | None
    message: str
    overridden: bool = False
    reason: str | None = None

    @property
    def blocking(self) -> bool:
        """True when this violation is an error: hard, or soft and not overridden."""
        return self.level == "hard" or (self.level == "soft" and not self.overridden)

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "level": self.level,
            "kind": self.kind,
            "name": self.name,
            "file": self.file,
            "line": self.line,
            "message": self.message,
            "overridden": self.overridden,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PolicyViolation:
        return cls(
            rule=str(data["rule"]),
            level=str(data["level"]),
            kind=data.get("kind"),
            name=data.get("name"),
            file=data.get("file"),
            line=data.get("line"),
            message=str(data.get("message", "")),
            overridden=bool(data.get("overridden")),
            reason=data.get("reason"),
        )


_CHANGING = frozenset(
    {
        ActionKind.CREATE,
        ActionKind.UPDATE,
        ActionKind.REPLACE,
        ActionKind.DELETE,
        ActionKind.BLOCKED,
        ActionKind.STATE_ONLY,
    }
)


@dataclass(frozen=True)
class Plan:
    """Every action of one plan, sorted by (kind, name), and what it was computed against.

    `state_lineage` / `state_serial` identify the state file version (None without state);
    `managed` counts the state's campaigns that were still live when planned (the safety
    rule's denominator, independent of `--target`).
    """

    actions: tuple[Action, ...] = ()
    state_lineage: str | None = None
    state_serial: int | None = None
    config_dir: str = ""
    warnings: tuple[str, ...] = ()
    managed: int | None = None
    #: Warnings with a stable code (schedule clashes, advisory policy rules...); their
    #: messages follow `warnings` in the JSON `warnings` strings.
    coded_warnings: tuple[PlanWarning, ...] = ()
    #: Policy rules that did not hold (advisory, soft overridden or not, hard).
    policy: tuple[PolicyViolation, ...] = ()
    #: With --target/--exclude: how many changes the plan leaves out (None: no targeting).
    outside_target: int | None = None

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.actions, key=lambda a: a.sort_key))
        object.__setattr__(self, "actions", ordered)

    def summary(self) -> dict[str, int]:
        """Counts of campaigns; a replace counts once as create and once as delete.

        `state_only` is there only when the plan has such steps (older readers and golden
        outputs of plans without them are unchanged).
        """
        counts = {"create": 0, "update": 0, "delete": 0, "blocked": 0, "no_op": 0, "unmanaged": 0}
        state_only = sum(1 for a in self.actions if a.action == ActionKind.STATE_ONLY)
        if state_only:
            counts["state_only"] = state_only
        for action in self.actions:
            if action.action == ActionKind.REPLACE:
                counts["create"] += 1
                counts["delete"] += 1
            elif action.is_unmanaged:
                counts["unmanaged"] += 1
            elif action.action == ActionKind.NO_OP:
                counts["no_op"] += 1
            elif action.action in (ActionKind.CREATE, ActionKind.UPDATE, ActionKind.DELETE):
                counts[str(action.action)] += 1
            elif action.action == ActionKind.BLOCKED:
                counts["blocked"] += 1
        return counts

    @property
    def has_changes(self) -> bool:
        """True when any action creates, updates, replaces, deletes, is blocked or state-only.

        A state-only step sends nothing but apply has work to do: `--detailed-exitcode`
        says 2, so that a pipeline that applies on 2 brings the state up to date.
        """
        return any(action.action in _CHANGING for action in self.actions)

    def summary_line(self) -> str:
        """`Plan: 3 to create, 1 to update, 0 to delete, 1 blocked.`"""
        counts = self.summary()
        state_only = counts.get("state_only", 0)
        return (
            f"Plan: {counts['create']} to create, {counts['update']} to update, "
            f"{counts['delete']} to delete, {counts['blocked']} blocked"
            + (f", {state_only} to change in the state only." if state_only else ".")
        )

    def changes_only(self) -> Plan:
        """The same plan without its no-op actions (unmanaged included)."""
        return replace(self, actions=tuple(a for a in self.actions if a.is_change))

    def get(self, kind: str, name: str) -> Action | None:
        """The first action for (kind, name), or None."""
        return next((a for a in self.actions if a.kind == kind and a.name == name), None)

    def to_json(self, *, with_actions: bool = True) -> dict[str, Any]:
        """The documented machine form (docs/plan-format.md); without its `actions` key
        when not `with_actions` (a streamed rendering encodes them one batch at a time)."""
        out: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "summary": {**self.summary(), "has_changes": self.has_changes},
            "state": {"lineage": self.state_lineage, "serial": self.state_serial},
            "config_dir": self.config_dir,
            "managed": self.managed,
            # Strings, as ever: every warning's message, the coded ones last; the same
            # coded ones with their code in `warning_details` (docs/plan-format.md).
            "warnings": [*self.warnings, *(w.message for w in self.coded_warnings)],
            "warning_details": [w.to_json() for w in self.coded_warnings],
            "policy": [v.to_json() for v in self.policy],
        }
        if with_actions:
            out["actions"] = [action.to_json() for action in self.actions]
        if self.outside_target is not None:
            out["outside_target"] = self.outside_target
        return out

    @property
    def all_warnings(self) -> tuple[str, ...]:
        """Every warning's message: the plain ones, then the coded ones."""
        return (*self.warnings, *(w.message for w in self.coded_warnings))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        """Read a saved plan; PlanError on another format version or a malformed document."""
        if not isinstance(data, Mapping):
            raise PlanError("a saved plan must be a JSON object")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise PlanError(
                f"saved plan has format_version {version!r}; this campaignctl reads "
                f"{FORMAT_VERSION}",
                hint="make the plan again with this version of campaignctl",
            )
        try:
            state = data.get("state") or {}
            coded = tuple(PlanWarning.from_json(w) for w in data.get("warning_details") or ())
            plain = list(data.get("warnings") or ())
            if coded:
                plain = plain[: len(plain) - len(coded)]
            return cls(
                actions=tuple(Action.from_json(a) for a in data.get("actions") or ()),
                state_lineage=state.get("lineage"),
                state_serial=state.get("serial"),
                config_dir=data.get("config_dir") or "",
                warnings=tuple(plain),
                managed=data.get("managed"),
                coded_warnings=coded,
                policy=tuple(PolicyViolation.from_json(v) for v in data.get("policy") or ()),
                outside_target=_count_or_none(data.get("outside_target")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PlanError(f"saved plan is malformed: {exc}") from None


def _count_or_none(value: Any) -> int | None:
    """A saved plan's `outside_target`: absent (no targeting) or a count."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"outside_target must be a count, not {value!r}")
    return value
