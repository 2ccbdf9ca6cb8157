"""A YAML file's text -> its built documents with their node trees; every problem an issue."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import Node

from reconciler.errors import ConfigIssue
from reconciler.loader.issues import Mark
from reconciler.loader.positions import issue, locate, problem_issue, yaml_issue
from reconciler.loader.yaml_values import Builder, Problem, check_flow_depth, compose_documents


class Document:
    """One YAML document: its built value, its node tree (for positions) and its file.

    A document parsed by the prefetch worker arrives without its nodes, with the two marks
    every campaign needs (its start and its name's); the nodes are composed again from its
    text only when an issue must be placed in it (`node`).
    """

    __slots__ = ("_marks", "_node", "_text", "base_dir", "file", "value")

    def __init__(
        self,
        value: Any,
        node: Node | None,
        file: str,
        base_dir: str,
        *,
        text: str = "",
        marks: tuple[Mark, Mark] | None = None,
    ) -> None:
        self.value = value
        self._node = node
        self.file = file
        self.base_dir = base_dir
        self._text = text
        self._marks = marks

    @property
    def node(self) -> Node:
        """The document's node tree (composed again for a prefetched document)."""
        if self._node is None:
            self._node = next(iter(compose_documents(self._text)))
        return self._node

    def start_and_name_marks(self) -> tuple[Any, Any]:
        """Where the document starts, and the node `name` is reported at (its value)."""
        if self._marks is not None:
            return self._marks
        name_node, _, _ = locate(self.node, ("name",))
        return self.node.start_mark, name_node.start_mark


def documents(
    path: str, text: str, issues: list[ConfigIssue], *, base_dir: str | None = None
) -> Iterator[Document]:
    """Yield the built documents of a file; problems become issues, never exceptions.

    A document with a build problem ends the file (what follows may depend on it); one with
    only duplicate keys is skipped and the next document is still read. `base_dir` is the
    file's absolute directory, found from path when not given.
    """
    if base_dir is None:
        base_dir = os.path.dirname(os.path.abspath(path))
    try:
        check_flow_depth(text)
        builder = Builder()
        for node in compose_documents(text):
            try:
                value = builder.build(node)
            except Problem as problem:
                issues.append(problem_issue(path, problem, node))
                return
            if builder.problems:
                issues.extend(problem_issue(path, item, node) for item in builder.problems)
                builder.problems.clear()
                continue
            yield Document(value, node, path, base_dir)
    except Problem as problem:
        issues.append(problem_issue(path, problem))
    except MarkedYAMLError as exc:
        issues.append(yaml_issue(path, exc, text))
    except YAMLError as exc:
        issues.append(issue(path, None, (), f"invalid YAML: {exc}"))
    except RecursionError:
        issues.append(issue(path, None, (), "YAML nested too deeply"))
