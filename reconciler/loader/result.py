"""What loading a directory gives: `LoadedCampaign`s and warnings, or a `LoadError`."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reconciler.errors import ConfigError, ConfigIssue

if TYPE_CHECKING:
    from reconciler.model import EmailCampaign, Lifecycle, MessagingCampaign, Source


@dataclass(frozen=True, slots=True)
class LoadedCampaign:
    """A validated campaign and where it was declared."""

    model: EmailCampaign | MessagingCampaign
    source: Source

    @property
    def kind(self) -> str:
        return self.model.kind

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def key(self) -> tuple[str, str]:
        return (self.model.kind, self.model.name)

    @property
    def lifecycle(self) -> Lifecycle:
        return self.model.lifecycle or _no_lifecycle()

    def canonical(self) -> dict[str, Any]:
        return self.model.canonical()


@functools.cache
def _no_lifecycle() -> Lifecycle:
    """The settings of a campaign without a `lifecycle` block: one shared, frozen instance
    (a plan asked for a new one three times per campaign, 10% of its CPU)."""
    from reconciler.model import Lifecycle  # the model loads only once there is one

    return Lifecycle()


@dataclass(frozen=True)
class LoadResult:
    """Every campaign of a directory, and the warnings (not errors) found on the way."""

    campaigns: tuple[LoadedCampaign, ...]
    warnings: tuple[ConfigIssue, ...] = ()


class LoadError(ConfigError):
    """The directory is invalid: `issues` are its errors, `warnings` what else was found."""

    def __init__(
        self, issues: list[ConfigIssue], *, hint: str | None, warnings: tuple[ConfigIssue, ...]
    ) -> None:
        super().__init__(issues, hint=hint)
        self.warnings = warnings
