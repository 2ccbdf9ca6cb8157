"""reconciler.planner.identity: which live campaign a desired one is (state id, exact name)."""

from __future__ import annotations

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
    """`--target`: a campaign is wanted when no targets are given or its name is one."""

    def __init__(self, targets: tuple[str, ...]) -> None:
        self.targets = frozenset(targets)

    def __call__(self, kind: str, name: str) -> bool:
        return not self.targets or name in self.targets or f"{kind}/{name}" in self.targets

    def unmatched(
        self,
        desired: Iterable[LoadedCampaign],
        records: Iterable[ManagedRecordLike],
        live: Iterable[LiveCampaign],
    ) -> list[str]:
        if not self.targets:
            return []
        seen: set[str] = set()
        for kind, name in (
            *((c.kind, c.name) for c in desired),
            *((r.kind, r.name) for r in records),
            *((o.kind, o.name) for o in live),
        ):
            seen.update((name, f"{kind}/{name}"))
        return [f"--target {t!r} matches no campaign" for t in sorted(self.targets - seen)]


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
