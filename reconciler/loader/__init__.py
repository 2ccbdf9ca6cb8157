"""reconciler.loader: a directory of YAML files -> validated campaign models with positions.

Speed and exact positions come from one design: each file is composed to YAML nodes by the
C parser (pure-Python composer as fallback), plain values are built from the nodes, and the
nodes of a document stay in hand while its model is validated, so an error is mapped back to
the line and column of the node it concerns. Only plain YAML is accepted: no object tags, a
size cap per file, a cap on alias expansion.

Modules, in the order a file goes through them:
- `files`: walking the directory (limits, unreadable entries) and reading a file's text;
- `yaml_values`: YAML text -> node trees -> plain values (C fast path, safe tags only);
- `documents`: a file's text -> its documents, every problem an issue;
- `defaults`: `_defaults.yaml` by kind, checked and deep-merged under campaigns;
- `attachments`: attachment paths -> hashed files inside the config directory;
- `explain`: pydantic errors -> one-line messages with did-you-mean hints;
- `positions`: issues at 1-based lines and columns, model paths -> YAML nodes;
- `past`: the send_time-in-the-past warnings;
- `directory`: one run's walk and defaults chains; `campaigns`: its files -> models;
- `issues`: issues at 1-based positions; `result`: what a run gives;
- `prefetch`: past 1,000 files, a forked worker parses ahead while the loader validates.

Nothing here imports the YAML parser or pydantic until a YAML file is found (`campaigns`),
so `validate` of an empty directory starts fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.collector import collector_paused
from reconciler.errors import ConfigIssue
from reconciler.loader.directory import DEFAULT_KIND, DirectoryLoader
from reconciler.loader.files import MAX_FILE_BYTES, MAX_FILES, MAX_NODES_PER_FILE
from reconciler.loader.issues import issue, unique
from reconciler.loader.result import LoadedCampaign, LoadError, LoadResult

if TYPE_CHECKING:
    from reconciler.loader.yaml_values import compose_documents

__all__ = [
    "DEFAULT_KIND",
    "MAX_FILES",
    "MAX_FILE_BYTES",
    "MAX_NODES_PER_FILE",
    "LoadError",
    "LoadResult",
    "LoadedCampaign",
    "compose_documents",
    "load_directory",
]


def load_directory(config_dir: Path, *, allow_empty: bool = False) -> LoadResult:
    """Load and validate every campaign under config_dir; raise LoadError with all issues.

    Files are read in sorted order; `_defaults.yaml` applies to its directory and below.
    Warnings (e.g. a send_time in the past) never make a directory invalid.
    """
    loader = DirectoryLoader(Path(config_dir))
    # Building thousands of small trees triggers the cycle collector over and over for
    # nothing (they are freed by reference counting): about 10% of the run.
    with collector_paused():
        loader.run()
    errors = [i for i in loader.issues if i.severity == "error"]
    if not errors and not loader.campaigns and not allow_empty:
        errors.append(issue(str(config_dir), None, (), "no campaigns found (*.yaml, *.yml)"))
    warnings = tuple(unique([i for i in loader.issues if i.severity != "error"]))
    if errors:
        raise LoadError(unique(errors), hint=_hint(errors), warnings=warnings)
    return LoadResult(campaigns=tuple(loader.campaigns), warnings=warnings)


def __getattr__(name: str) -> Any:
    """`compose_documents` on first use: it loads the YAML parser."""
    if name == "compose_documents":
        from reconciler.loader import yaml_values

        return yaml_values.compose_documents
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _hint(errors: list[ConfigIssue]) -> str | None:
    if any("unknown field" in i.message for i in errors):
        return "`campaignctl schema` prints every field; docs: README, YAML reference"
    return None
