"""One config directory's YAML documents -> defaults collected, campaigns merged and
validated, every error and warning placed at its file, line and column.

Imported by `directory` on the first YAML file it finds: the YAML parser and the model
(pydantic) are not loaded for a directory without any.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml.nodes import Node

from reconciler.errors import ConfigIssue
from reconciler.loader import defaults
from reconciler.loader.attachments import Attachments
from reconciler.loader.defaults import Defaults
from reconciler.loader.directory import DEFAULT_KIND
from reconciler.loader.documents import Document, documents
from reconciler.loader.explain import did_you_mean, explain_all, short
from reconciler.loader.files import read_text
from reconciler.loader.past import PastSendTimes
from reconciler.loader.positions import issue, locate
from reconciler.loader.prefetch import PREFETCH_AFTER, Prefetcher, claim_early
from reconciler.loader.result import LoadedCampaign
from reconciler.loader.yaml_values import Path_
from reconciler.model import KINDS, EmailCampaign, MessagingCampaign, Source, raw_rule_errors


class CampaignReader:
    """Reads the defaults and campaign files of one run; adds to the run's issue list."""

    def __init__(self, root: Path, issues: list[ConfigIssue]) -> None:
        self.root = root
        self.issues = issues
        self.campaigns: list[LoadedCampaign] = []
        self.seen: dict[tuple[str, str], tuple[str, int]] = {}
        self.attachments = Attachments(root)
        self.past = PastSendTimes()
        self.files = 0
        self.prefetch: Prefetcher | None = None

    def close(self) -> None:
        """Stop the prefetch worker, if one was started."""
        if self.prefetch is not None:
            self.prefetch.close()

    def read_defaults(self, entries: list[os.DirEntry[str]]) -> Defaults:
        """The checked defaults of one directory's `_defaults.yaml` files."""
        own = Defaults()
        for entry in entries:
            text = read_text(entry.path, self.root, self.issues, entry)
            if text is not None:
                docs = documents(entry.path, text, self.issues)
                defaults.collect(docs, self._kind, self.issues, own)
        return own

    def load_file(self, entry: os.DirEntry[str], chain: list[Defaults]) -> None:
        """Every campaign of one file, the defaults of chain merged under each."""
        self.files += 1
        if self.files == PREFETCH_AFTER + 1:  # a large directory: parse ahead in a worker
            early = claim_early(self.root)
            self.prefetch = early or Prefetcher.start(self.root, skip=PREFETCH_AFTER)
        if self.prefetch is not None and (doc := self.prefetch.take(entry.path)) is not None:
            self._load_campaign(doc, chain)
            return
        text = read_text(entry.path, self.root, self.issues, entry)
        if text is None:
            return
        before = len(self.issues)
        found = 0
        for doc in documents(entry.path, text, self.issues):
            if doc.value is None:
                continue  # an empty document between `---` lines
            found += 1
            self._load_campaign(doc, chain)
        if found == 0 and len(self.issues) == before:
            self.issues.append(issue(entry.path, None, (), "file holds no campaign document"))

    def _kind(self, doc: Document) -> str | None:
        kind = doc.value.get("kind", DEFAULT_KIND)
        if isinstance(kind, str) and kind in KINDS:
            return kind
        node, _, _ = locate(doc.node, ("kind",))
        choices = sorted(KINDS)
        hint = did_you_mean(kind, choices) if isinstance(kind, str) else ""
        message = f"unknown kind {short(kind)}{hint}; expected one of {', '.join(choices)}"
        self.issues.append(issue(doc.file, node.start_mark, ("kind",), message))
        return None

    def _load_campaign(self, doc: Document, chain: list[Defaults]) -> None:
        if not isinstance(doc.value, dict):
            message = f"a campaign document must be a mapping, found {short(doc.value)}"
            self.issues.append(issue(doc.file, doc.node.start_mark, (), message))
            return
        kind = self._kind(doc)
        if kind is None:
            return
        layers = defaults.layers(chain, kind)
        data: dict[str, Any] = {}
        for layer in layers:  # farthest first, so nearer defaults and the campaign win
            data = defaults.deep_merge(data, layer.value)
        data = defaults.deep_merge(data, doc.value)
        data["kind"] = kind
        origins = [doc, *reversed(layers)]
        owner = next((o for o in origins if "attachments" in o.value), doc)
        model_cls = KINDS[kind]
        try:
            model = model_cls.model_validate(
                data, context={"resolve_attachment": self.attachments.resolver(owner.base_dir)}
            )
        except ValidationError as exc:
            self._report(exc, model_cls, kind, data, origins)
            return
        self._register(model, doc)
        if isinstance(model, EmailCampaign):
            for path, message in self.past.warnings(model):
                self.issues.append(self._at(origins, path, message, severity="warning"))

    def _report(
        self,
        exc: ValidationError,
        model_cls: type[EmailCampaign] | type[MessagingCampaign],
        kind: str,
        data: dict[str, Any],
        origins: list[Document],
    ) -> None:
        """Every error of one document: the fields', and the cross-field rules' too.

        pydantic skips a model's rules once a field fails, so they are judged again on the
        raw data (model.raw_rule_errors); a field that has its own error is not reported
        twice.
        """
        errors = exc.errors(include_url=False)
        failed: set[Any] = set()
        for error in errors:
            for path, message, at_key in explain_all(error, model_cls):
                failed.add(path[0] if path else None)
                self.issues.append(self._at(origins, path, message, key=at_key))
        if all(not error.get("loc") for error in errors):
            return  # the rules ran: their errors are above
        for rule in raw_rule_errors(kind, data):
            if rule.field not in failed:
                self.issues.append(self._at(origins, rule.path, str(rule)))

    def _at(
        self,
        origins: list[Document],
        path: Path_,
        message: str,
        *,
        key: bool = False,
        severity: str = "error",
    ) -> ConfigIssue:
        """Place an issue on the node of the document that gave the value at path."""
        best: tuple[Document, Node] | None = None
        reached = -1
        for origin in origins:
            node, yaml_path, exact = locate(origin.node, path, key=key)
            if exact:
                return issue(origin.file, node.start_mark, yaml_path, message, severity)
            if len(yaml_path) > reached:
                best, reached = (origin, node), len(yaml_path)
        assert best is not None
        # Not in any document (e.g. a missing field): the nearest enclosing node.
        origin, node = best
        return issue(origin.file, node.start_mark, path, message, severity)

    def _register(self, model: EmailCampaign | MessagingCampaign, doc: Document) -> None:
        start, mark = doc.start_and_name_marks()
        key = (model.kind, model.name)
        if key in self.seen:
            other_file, other_line = self.seen[key]
            self.issues.append(
                issue(
                    doc.file,
                    mark,
                    ("name",),
                    f"duplicate {model.kind} name {model.name!r}: also declared at "
                    f"{other_file}:{other_line}",
                )
            )
            return
        self.seen[key] = (doc.file, mark.line + 1)
        source = Source(doc.file, start.line + 1, start.column + 1)
        self.campaigns.append(LoadedCampaign(model=model, source=source))
