"""`_defaults.yaml`: a directory's default values by kind, checked, and merged under the
campaigns of that directory and below (nearer defaults win, the campaign wins over all).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.errors import ConfigIssue
from reconciler.loader.documents import Document
from reconciler.loader.explain import did_you_mean
from reconciler.loader.positions import issue, locate
from reconciler.model import KINDS


@dataclass
class Defaults:
    """The `_defaults.yaml` documents of one directory, by kind."""

    by_kind: dict[str, list[Document]] = field(default_factory=dict)


def collect(
    docs: Iterable[Document],
    kind_of: Callable[[Document], str | None],
    issues: list[ConfigIssue],
    into: Defaults,
) -> None:
    """Add the valid documents of one defaults file to into; the others become issues."""
    for doc in docs:
        if doc.value is None:
            continue
        if not isinstance(doc.value, dict):
            message = "a defaults document must be a mapping"
            issues.append(issue(doc.file, doc.node.start_mark, (), message))
            continue
        kind = kind_of(doc)
        if kind is None:
            continue
        if _check_keys(doc, kind, issues):
            into.by_kind.setdefault(kind, []).append(doc)


def _check_keys(doc: Document, kind: str, issues: list[ConfigIssue]) -> bool:
    fields = sorted(set(KINDS[kind].model_fields) - {"kind", "name"})
    ok = True
    for key in doc.value:
        if key == "kind":
            continue
        node, _, _ = locate(doc.node, (key,), key=True)
        if key == "name":
            message = "name cannot have a default: it is each campaign's identity"
        elif key not in fields:
            message = f"unknown field {key!r} for {kind}{did_you_mean(key, fields)}"
        else:
            continue
        issues.append(issue(doc.file, node.start_mark, (key,), message))
        ok = False
    return ok


def layers(chain: list[Defaults], kind: str) -> list[Document]:
    """The defaults documents that apply to a campaign of kind, farthest first."""
    return [d for level in chain for d in level.by_kind.get(kind, ())]


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Merge over onto base: mappings recursively, anything else (lists too) replaced."""
    if not base:
        return dict(over)
    out = dict(base)
    for key, value in over.items():
        below = out.get(key)
        if isinstance(value, dict) and isinstance(below, dict):
            out[key] = deep_merge(below, value)
        else:
            out[key] = value
    return out
