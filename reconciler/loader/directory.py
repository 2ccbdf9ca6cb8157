"""One run over a config directory: the walk, the file cap and the `_defaults.yaml` chain of
each directory; the files themselves go to `campaigns.CampaignReader`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.errors import ConfigIssue
from reconciler.loader.files import MAX_FILES, check_root, walk
from reconciler.loader.issues import issue

if TYPE_CHECKING:
    from reconciler.loader.campaigns import CampaignReader
    from reconciler.loader.defaults import Defaults
    from reconciler.loader.result import LoadedCampaign

DEFAULT_KIND = "EmailCampaign"


class DirectoryLoader:
    """Collects the campaigns, errors and warnings of one config directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.issues: list[ConfigIssue] = []
        self.files = 0
        self._reader: CampaignReader | None = None

    @property
    def campaigns(self) -> list[LoadedCampaign]:
        return self._reader.campaigns if self._reader is not None else []

    def reader(self) -> CampaignReader:
        """The reader of YAML files, made (and its modules imported) on the first file."""
        if self._reader is None:
            from reconciler.loader.campaigns import CampaignReader

            self._reader = CampaignReader(self.root, self.issues)
        return self._reader

    def run(self) -> None:
        """Load every campaign file under the root, defaults first in each directory."""
        try:
            self._walk()
        finally:
            if self._reader is not None:
                self._reader.close()

    def _walk(self) -> None:
        if not check_root(self.root, self.issues):
            return
        chains: dict[str, list[Defaults]] = {}
        for listing in walk(self.root, self.issues):
            chain = chains.get(listing.parent, []) if listing.parent is not None else []
            local_chain = chain
            if listing.defaults:
                own = self.reader().read_defaults(listing.defaults)
                local_chain = [*chain, own] if own.by_kind else chain
            chains[listing.path] = local_chain
            for entry in listing.campaigns:
                self.files += 1
                if self.files > MAX_FILES:
                    message = f"more than {MAX_FILES} YAML files"
                    self.issues.append(issue(str(self.root), None, (), message))
                    return
                self.reader().load_file(entry, local_chain)
