"""reconciler.planner.identity: which live campaign a desired one is (state id, exact name)."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from reconciler.errors import PlanError
from reconciler.live import LiveCampaign
from reconciler.plan import (
    Action,
)

if TYPE_CHECKING:
    from reconciler.loader import LoadedCampaign


class ManagedRecordLike(Protocol):
    """What the planner reads of a `state.ManagedRecord` (the planner never imports state)."""

    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def remote_id(self) -> str: ...
    @property
    def last_applied(self) -> Mapping[str, Any]: ...
    @property
    def touchpoint_ids(self) -> Mapping[str, str]: ...


class StateLike(Protocol):
    """What the planner reads of a `state.State`."""

    @property
    def lineage(self) -> str: ...
    @property
    def serial(self) -> int: ...
    @property
    def campaigns(self) -> Mapping[str, ManagedRecordLike]: ...


@dataclass
class _Context:
    """What one compute_plan run accumulates: actions, warnings and errors."""

    allow_delete_executed: bool
    #: --no-state: write-only values have nothing to be compared with, so they are not
    #: diffed (else every stateless plan would show them changed, forever).
    stateless: bool = False
    actions: list[Action] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    protected: list[str] = field(default_factory=list)

    def raise_errors(self) -> None:
        messages = list(self.errors)
        if self.protected:
            names = ", ".join(self.protected)
            messages.append(
                f"lifecycle.prevent_destroy forbids deleting or replacing {names}; "
                "if this is intended, apply its YAML without prevent_destroy first (restore "
                "the file if it is gone), or stop managing it with `campaignctl state rm`"
            )
        if messages:
            raise PlanError("; ".join(messages))


class _LiveIndex:
    """Live campaigns by (kind, remote_id) and by (kind, name)."""

    def __init__(self, live: Iterable[LiveCampaign]) -> None:
        self.by_id: dict[tuple[str, str], LiveCampaign] = {}
        self.by_name: dict[tuple[str, str], list[LiveCampaign]] = {}
        for obj in live:
            self.by_id[(obj.kind, obj.remote_id)] = obj
            self.by_name.setdefault((obj.kind, obj.name), []).append(obj)


class _TargetFilter:
    """`--target` / `--exclude`: which campaigns a plan is about.

    A pattern is a name or `Kind/Name`, exact or an `fnmatch` glob (`Spring*`,
    `EmailCampaign/*`). A campaign is wanted when no target is given or one matches, and
    no exclude matches (docs/reference/commands.md "plan").
    """

    def __init__(self, targets: tuple[str, ...], excludes: tuple[str, ...] = ()) -> None:
        self.targets = tuple(dict.fromkeys(targets))
        self.excludes = tuple(dict.fromkeys(excludes))

    @property
    def active(self) -> bool:
        return bool(self.targets or self.excludes)

    def __call__(self, kind: str, name: str) -> bool:
        if self.targets and not any(_matches(p, kind, name) for p in self.targets):
            return False
        return not any(_matches(p, kind, name) for p in self.excludes)

    def unmatched(
        self,
        desired: Iterable[LoadedCampaign],
        records: Iterable[ManagedRecordLike],
        live: Iterable[LiveCampaign],
    ) -> list[str]:
        """One warning per pattern that matches nothing, with the closest name if any."""
        if not self.active:
            return []
        seen = {
            *((c.kind, c.name) for c in desired),
            *((r.kind, r.name) for r in records),
            *((o.kind, o.name) for o in live),
        }
        names = sorted({n for _, n in seen} | {f"{k}/{n}" for k, n in seen})
        out = []
        for option, patterns in (("--target", self.targets), ("--exclude", self.excludes)):
            for pattern in patterns:
                if any(_matches(pattern, kind, name) for kind, name in seen):
                    continue
                close = difflib.get_close_matches(pattern, names, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                out.append(f"{option} {pattern!r} matches no campaign{hint}")
        return out


def _matches(pattern: str, kind: str, name: str) -> bool:
    """A name or `Kind/Name`, exactly (a name may hold `*` or `[`) or as an fnmatch glob."""
    full = f"{kind}/{name}"
    if pattern in (name, full):
        return True
    return fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(full, pattern)


def targeting_note(outside: int) -> str:
    """The warning a targeted plan carries: what it does not show (never "No changes")."""
    if outside == 1:
        return "targeting is in effect: 1 change outside the target is not shown"
    return f"targeting is in effect: {outside} changes outside the target are not shown"


def _records_by_key(state: StateLike | None) -> dict[tuple[str, str], ManagedRecordLike]:
    if state is None:
        return {}
    return {(r.kind, r.name): r for r in state.campaigns.values()}


def _match_live(
    campaign: LoadedCampaign,
    record: ManagedRecordLike | None,
    index: _LiveIndex,
    known_ids: set[tuple[str, str]],
    ctx: _Context,
) -> tuple[LiveCampaign, bool] | None:
    """Find the live object of a desired campaign: (object, adopted_by_name) or None.

    The state's remote id wins; otherwise the one live campaign of exactly this name that
    the state does not know (also when the state's object is gone: never a duplicate).
    """
    if record is not None:
        obj = index.by_id.get((record.kind, record.remote_id))
        if obj is not None:
            return obj, False
    candidates = [
        obj
        for obj in index.by_name.get(campaign.key, ())
        if (obj.kind, obj.remote_id) not in known_ids
    ]
    if len(candidates) > 1:
        ids = ", ".join(sorted(obj.remote_id for obj in candidates))
        ctx.errors.append(
            f"{campaign.kind} {campaign.name!r} ({campaign.source}) matches {len(candidates)} "
            f"live campaigns of that name ({ids}); rename or delete one of them"
        )
        return None
    return (candidates[0], True) if candidates else None
