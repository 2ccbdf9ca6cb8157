"""Where an issue is: 1-based `ConfigIssue`s from 0-based YAML marks, and model paths followed
through node trees to the line a reader looks at.
"""

from __future__ import annotations

from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.errors import ConfigIssue
from reconciler.loader.issues import Mark, issue, unique
from reconciler.loader.yaml_values import Path_, Problem, is_merge_key

__all__ = ["Mark", "issue", "locate", "problem_issue", "unique", "yaml_issue"]


def problem_issue(file: str, problem: Problem, root: Node | None = None) -> ConfigIssue:
    """The issue for a document that could not be built, its path found inside root."""
    path = problem.path
    if not path and root is not None and problem.node is not None:
        path = _path_to(root, problem.node)
    return issue(file, problem.mark, path, problem.message)


def yaml_issue(path: str, exc: MarkedYAMLError, text: str = "") -> ConfigIssue:
    """The issue for a YAML syntax error, at its problem mark; a tab in indentation is named
    as one (the parser only says it "cannot start any token")."""
    mark = exc.problem_mark or exc.context_mark
    if mark is not None and _tab_indented(text, mark.line):
        message = f"a tab in indentation at line {mark.line + 1}: YAML indents with spaces"
        return issue(path, mark, (), message)
    problem = exc.problem or "invalid YAML"
    message = f"invalid YAML: {problem}"
    if exc.context and exc.context_mark is not None and exc.context_mark is not mark:
        message += f" ({exc.context} at line {exc.context_mark.line + 1})"
    elif exc.context:
        message += f" ({exc.context})"
    return issue(path, mark, (), message)


def _tab_indented(text: str, line: int) -> bool:
    """True when the 0-based line of text starts with white space that holds a tab."""
    lines = text.splitlines()
    if not 0 <= line < len(lines):
        return False
    body = lines[line]
    indent = body[: len(body) - len(body.lstrip(" \t"))]
    return "\t" in indent


def _path_to(root: Node, target: Node) -> Path_:
    """The path of target inside root (found by identity; used only to report a problem)."""
    stack: list[tuple[Node, Path_]] = [(root, ())]
    seen: set[int] = set()
    while stack:
        node, path = stack.pop()
        if node is target:
            return path
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, SequenceNode):
            stack.extend((item, (*path, i)) for i, item in enumerate(node.value))
        elif isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                if not isinstance(key_node, ScalarNode):
                    if key_node is target:
                        return path
                    continue
                if key_node is target:
                    return (*path, str(key_node.value))
                stack.append((value_node, (*path, str(key_node.value))))
    return ()


def locate(node: Node, path: Path_, *, key: bool = False) -> tuple[Node, Path_, bool]:
    """Follow a model path through a node tree.

    Returns the node to report (a scalar value, or the key of a mapping or list value: the
    line a reader looks at), the YAML path to it (a one-element `to` list shows as `to[0]`),
    and whether the whole path was found. With key=True the last step always returns the
    mapping key's node (where an unknown key is reported).
    """
    current = node
    anchor = node
    yaml_path: list[str | int] = []
    for step, part in enumerate(path):
        last = step == len(path) - 1
        if isinstance(current, SequenceNode) and isinstance(part, str) and len(current.value) == 1:
            current = current.value[0]  # the API's one-element list form (to: [{...}])
            yaml_path.append(0)
        if isinstance(part, int) and isinstance(current, SequenceNode):
            if not 0 <= part < len(current.value):
                return anchor, tuple(yaml_path), False
            current = anchor = current.value[part]
        elif isinstance(part, str) and isinstance(current, MappingNode):
            found = _find_key(current, part)
            if found is None:
                return anchor, tuple(yaml_path), False
            key_node, current = found
            scalar = isinstance(current, ScalarNode) and not (key and last)
            anchor = current if scalar else key_node
        else:
            return anchor, tuple(yaml_path), False
        yaml_path.append(part)
    return anchor, tuple(yaml_path), True


def _find_key(node: MappingNode, name: str, depth: int = 0) -> tuple[Node, Node] | None:
    merges: list[Node] = []
    for key_node, value_node in node.value:
        if isinstance(key_node, ScalarNode):
            if is_merge_key(key_node):
                merges.append(value_node)
            elif key_node.value == name:
                return key_node, value_node
    if depth > 5:
        return None
    for merge in merges:
        for source in merge.value if isinstance(merge, SequenceNode) else [merge]:
            if isinstance(source, MappingNode) and (hit := _find_key(source, name, depth + 1)):
                return hit
    return None
