"""A YAML file's text -> its built documents with their node trees; every problem an issue."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import Node

from reconciler.errors import ConfigIssue
from reconciler.loader.positions import issue, problem_issue, yaml_issue
from reconciler.loader.yaml_values import Builder, Problem, check_flow_depth, compose_documents


@dataclass
class Document:
    """One YAML document: its built value, its node tree (for positions) and its file."""

    value: Any
    node: Node
    file: str
    base_dir: str


def documents(path: str, text: str, issues: list[ConfigIssue]) -> Iterator[Document]:
    """Yield the built documents of a file; problems become issues, never exceptions.

    A document with a build problem ends the file (what follows may depend on it); one with
    only duplicate keys is skipped and the next document is still read.
    """
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
