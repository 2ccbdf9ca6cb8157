"""reconciler.loader: a directory of YAML files -> validated campaign models with positions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.errors import ConfigIssue
from reconciler.model import EmailCampaign, Lifecycle, MessagingCampaign, Source

__all__ = ["LoadResult", "LoadedCampaign", "load_directory"]


@dataclass(frozen=True)
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
        return self.model.lifecycle or Lifecycle()

    def canonical(self) -> dict[str, Any]:
        return self.model.canonical()


@dataclass(frozen=True)
class LoadResult:
    """Every campaign of a directory, and the warnings (not errors) found on the way."""

    campaigns: tuple[LoadedCampaign, ...]
    warnings: tuple[ConfigIssue, ...] = ()


def load_directory(config_dir: Path, *, allow_empty: bool = False) -> LoadResult:
    """Load and validate every campaign under config_dir; raise ConfigError with all issues."""
    raise NotImplementedError("loader: issue 2")
