"""YAML text -> node trees -> plain Python values: safe tags only, aliases and nesting capped.

Each file is composed to YAML nodes by the C parser (`ruamel.yaml.cyaml.CSafeLoader`, the
pure-Python composer as fallback where ruamel.yaml.clib is missing), and plain values are
built from the nodes here; the nodes stay in hand so that an error can be mapped back to the
line and column it concerns (`positions.py`). Only plain YAML is accepted: no object tags,
a cap on alias expansion and on nesting.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.tag import Tag

from reconciler.loader.files import MAX_NODES_PER_FILE
from reconciler.loader.issues import Path_

__all__ = ["MAX_NODES_PER_FILE", "Builder", "Path_", "Problem", "compose_documents"]
#: Nesting depth of built values; also stops self-referencing aliases.
MAX_DEPTH = 50
#: libyaml's composer recurses in C per flow level and crashes near 100,000 levels; files
#: with fewer brackets than this cannot get there and skip the event pre-scan.
_FLOW_SCAN_THRESHOLD = 500
_MAX_FLOW_DEPTH = 200

_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_TAG + t for t in ("str", "int", "float", "bool", "null"))
_TIMESTAMP, _MAP, _SEQ, _MERGE = (_TAG + t for t in ("timestamp", "map", "seq", "merge"))


def _c_loader() -> Any:
    try:  # the C composer: about 5x faster than the pure-Python one
        # CParser comes from _ruamel_yaml or _ruamel_yaml_clibz, whichever cyaml found.
        from ruamel.yaml.cyaml import CParser, CSafeLoader  # type: ignore[attr-defined,unused-ignore]
    except ImportError:  # pragma: no cover - only where ruamel.yaml.clib is missing
        return None

    # The first characters an implicit (untagged) non-string scalar can start with; ruamel
    # looks up its resolvers by the first character, so any other one means a plain string.
    implicit = CSafeLoader.yaml_implicit_resolvers
    first_chars = frozenset() if implicit.get(None) else frozenset(implicit)
    str_tag = _shared_tag(_STR)

    class FastLoader(CSafeLoader):
        """CSafeLoader reduced to composing: memoised tag resolution (keys repeat across
        every file), no path resolvers, and no Python constructor state, whose
        self-references would leave every loader and its nodes to the cycle collector."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)

        def descend_resolver(self, current_node: Any, current_index: Any) -> None:
            return None

        def ascend_resolver(self) -> None:
            return None

        def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
            # A Tag, not its text: the node then keeps it as it is instead of making a new
            # Tag for each of the hundreds of thousands of values (nothing mutates a Tag).
            if kind is ScalarNode and implicit[0]:
                if value and value[0] not in first_chars:
                    return str_tag  # no implicit type starts so: a string (no regex, no cache)
                tag = _RESOLVED.get(value)
                if tag is None:
                    tag = _shared_tag(str(super().resolve(kind, value, implicit)))
                    if len(_RESOLVED) < _RESOLVE_CACHE_SIZE:
                        _RESOLVED[value] = tag
                return tag
            if not self.yaml_path_resolvers:
                return _DEFAULT_TAGS[kind]
            return super().resolve(kind, value, implicit)  # pragma: no cover

    return FastLoader


_TAGS: dict[str, Tag] = {}


def _shared_tag(name: str) -> Tag:
    """One Tag object per tag name, shared by every node the composer makes with it."""
    tag = _TAGS.get(name)
    if tag is None:
        tag = _TAGS[name] = Tag(suffix=name)
    return tag


_RESOLVED: dict[str, Tag] = {}
_RESOLVE_CACHE_SIZE = 100_000
_DEFAULT_TAGS = {
    kind: _shared_tag(name)
    for kind, name in ((ScalarNode, _STR), (SequenceNode, _SEQ), (MappingNode, _MAP))
}
#: The C composer class, or None: tests set it to None to run the pure-Python fallback.
_CLoader: Any = _c_loader()


class Problem(Exception):
    """A document cannot be built; carries the node mark where it went wrong."""

    def __init__(self, message: str, mark: Any, path: Path_ = (), node: Node | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark
        self.path = path
        self.node = node


def compose_documents(text: str) -> Iterator[Node]:
    """Yield the node tree of each document of a YAML text (C composer when available)."""
    if _CLoader is not None:
        loader = _CLoader(text)
        try:
            while loader.check_node():
                yield loader.get_node()
        finally:
            loader.dispose()
        return
    from ruamel.yaml import YAML  # the fallback without ruamel.yaml.clib

    yield from YAML(typ="safe", pure=True).compose_all(text)


def check_flow_depth(text: str) -> None:
    """Refuse flow nesting that would crash the C composer (it recurses per level)."""
    if _CLoader is None or text.count("[") + text.count("{") < _FLOW_SCAN_THRESHOLD:
        return
    from ruamel.yaml.events import CollectionEndEvent, CollectionStartEvent

    loader = _CLoader(text)
    depth = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, CollectionStartEvent):
                depth += 1
                if depth > _MAX_FLOW_DEPTH:
                    raise Problem(f"nesting deeper than {_MAX_FLOW_DEPTH} levels", event.start_mark)
            elif isinstance(event, CollectionEndEvent):
                depth -= 1
    finally:
        loader.dispose()


class Builder:
    """Builds plain Python values from nodes: safe tags only, aliases counted, keys unique."""

    def __init__(self) -> None:
        self.nodes = 0
        self.problems: list[Problem] = []

    def build(self, node: Node, depth: int = 0) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES_PER_FILE:
            raise Problem(
                f"more than {MAX_NODES_PER_FILE} values after alias expansion "
                "(an alias bomb?); refusing to expand further",
                node.start_mark,
            )
        if depth > MAX_DEPTH:
            raise Problem(
                f"nesting deeper than {MAX_DEPTH} levels (a self-referencing alias?)",
                node.start_mark,
                node=node,
            )
        ctag = node.ctag
        tag = ctag.suffix if ctag.handle is None else str(ctag)
        if isinstance(node, ScalarNode):
            return _scalar(tag, node)
        if tag == _MAP:
            return self._mapping(node, depth)
        if tag == _SEQ:
            return [self.build(item, depth + 1) for item in node.value]
        raise Problem(_tag_message(tag), node.start_mark, node=node)

    def _mapping(self, node: Node, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        merged: dict[str, Any] | None = None
        build = self.build
        for key_node, value_node in node.value:
            ctag = key_node.ctag
            tag = ctag.suffix if ctag.handle is None else str(ctag)
            if tag != _STR or not isinstance(key_node, ScalarNode):
                if tag == _MERGE:
                    merged = {**(merged or {}), **self._merge_sources(value_node, depth)}
                    continue
                if tag != _TIMESTAMP or not isinstance(key_node, ScalarNode):
                    raise Problem(
                        f"keys must be plain strings, found {_describe(key_node)}",
                        key_node.start_mark,
                        node=key_node,
                    )
            key = key_node.value
            if key in out:
                self.problems.append(_duplicate(node, key_node))
                continue
            vtag = value_node.ctag
            if vtag.suffix == _STR and vtag.handle is None and type(value_node) is ScalarNode:
                self.nodes += 1  # the common case, without a call
                out[key] = value_node.value
            else:
                out[key] = build(value_node, depth + 1)
        if merged:
            # `<<: *base`: explicit keys win over merged ones, as YAML's merge key says.
            return {**merged, **out}
        return out

    def _merge_sources(self, node: Node, depth: int) -> dict[str, Any]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        merged: dict[str, Any] = {}
        for source in reversed(sources):  # earlier sources win
            if not isinstance(source, MappingNode):
                raise Problem(
                    "a merge key (<<) takes a mapping or a list of them",
                    node.start_mark,
                    node=node,
                )
            self.nodes += 1
            merged.update(self._mapping(source, depth + 1))
        return merged


def _duplicate(mapping: Node, key_node: Node) -> Problem:
    first = next(k for k, _ in mapping.value if k.value == key_node.value)
    return Problem(
        f"duplicate key {key_node.value!r} (first at line {first.start_mark.line + 1})",
        key_node.start_mark,
        node=key_node,
    )


def _describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return repr(node.value)


def tag_of(node: Node) -> str:
    """The node's tag as a string, without ruamel's per-access Tag -> str conversion."""
    ctag = node.ctag
    return ctag.suffix if ctag.handle is None else str(ctag)


def is_merge_key(node: Node) -> bool:
    """Whether a mapping key node is YAML's merge key (`<<`)."""
    return tag_of(node) == _MERGE


def _tag_message(tag: str) -> str:
    shown = "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag
    return f"tag {shown} is not allowed: only plain YAML values are read (safe loading)"


def _scalar(tag: str, node: ScalarNode) -> Any:
    text: str = node.value
    try:
        if tag == _STR:
            return text
        if tag == _INT:
            return _yaml_int(text)
        if tag == _BOOL:
            return text.lower() in ("true", "yes", "on", "y")
        if tag == _NULL:
            return None
        if tag == _FLOAT:
            return _yaml_float(text)
        if tag == _TIMESTAMP:
            # Kept as text: the model parses send_time itself, and names stay names.
            return text
    except ValueError:
        raise Problem(f"invalid number {text!r}", node.start_mark, node=node) from None
    raise Problem(_tag_message(tag), node.start_mark, node=node)


def _yaml_int(text: str) -> int:
    clean = text.replace("_", "")
    sign = -1 if clean.startswith("-") else 1
    digits = clean.lstrip("+-")
    for prefix, base in (("0x", 16), ("0o", 8), ("0b", 2)):
        if digits.lower().startswith(prefix):
            return sign * int(digits[2:], base)
    return sign * int(digits, 10)


def _yaml_float(text: str) -> float:
    clean = text.replace("_", "").lower()
    if clean.lstrip("+-") == ".inf":
        return -math.inf if clean.startswith("-") else math.inf
    if clean == ".nan":
        return math.nan
    return float(clean)
