"""reconciler.loader: a directory of YAML files -> validated campaign models with positions.

Speed and exact positions come from one design: each file is composed to YAML nodes by the
C parser (`ruamel.yaml.cyaml.CSafeLoader`, pure-Python composer as fallback), plain values
are built from the nodes here, and the nodes of a document stay in hand while its model is
validated, so an error is mapped back to the line and column of the node it concerns. Only
plain YAML is accepted: no object tags, a size cap per file, a cap on alias expansion.
"""

from __future__ import annotations

import difflib
import gc
import hashlib
import math
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.canonical import DEFAULT_TIME_ZONE, SEND_TIME_FORMAT
from reconciler.errors import ConfigError, ConfigIssue
from reconciler.model import (
    KINDS,
    MAX_ATTACHMENT_BYTES,
    EmailCampaign,
    Lifecycle,
    MessagingCampaign,
    ResolvedFile,
    Source,
    _FieldError,
)

__all__ = [
    "DEFAULT_KIND",
    "MAX_FILES",
    "MAX_FILE_BYTES",
    "MAX_NODES_PER_FILE",
    "LoadError",
    "LoadResult",
    "LoadedCampaign",
    "load_directory",
]

DEFAULT_KIND = "EmailCampaign"
#: A campaign file is a few hundred bytes; anything past this is a mistake or an attack.
MAX_FILE_BYTES = 1024 * 1024
#: Nodes built per file, alias re-use counted each time: stops "billion laughs" in ms.
MAX_NODES_PER_FILE = 100_000
#: Nesting depth of built values; also stops self-referencing aliases.
MAX_DEPTH = 50
#: Files and directories walked per run: bound the walk of a wrong directory (e.g. `/`).
MAX_FILES = 200_000
MAX_DIRECTORIES = 20_000
#: libyaml's composer recurses in C per flow level and crashes near 100,000 levels; files
#: with fewer brackets than this cannot get there and skip the event pre-scan.
_FLOW_SCAN_THRESHOLD = 500
_MAX_FLOW_DEPTH = 200

YAML_SUFFIXES = (".yaml", ".yml")
DEFAULTS_NAMES = ("_defaults.yaml", "_defaults.yml")

_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_TAG + t for t in ("str", "int", "float", "bool", "null"))
_TIMESTAMP, _MAP, _SEQ, _MERGE = (_TAG + t for t in ("timestamp", "map", "seq", "merge"))


def _c_loader() -> Any:
    try:  # the C composer: about 5x faster than the pure-Python one
        from ruamel.yaml.cyaml import CParser, CSafeLoader
    except ImportError:  # pragma: no cover - only where ruamel.yaml.clib is missing
        return None

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
            if kind is ScalarNode and implicit[0]:
                tag = _RESOLVED.get(value)
                if tag is None:
                    tag = str(super().resolve(kind, value, implicit))
                    if len(_RESOLVED) < _RESOLVE_CACHE_SIZE:
                        _RESOLVED[value] = tag
                return tag
            if not self.yaml_path_resolvers:
                return _DEFAULT_TAGS[kind]
            return super().resolve(kind, value, implicit)  # pragma: no cover

    return FastLoader


_RESOLVED: dict[str, str] = {}
_RESOLVE_CACHE_SIZE = 100_000
_DEFAULT_TAGS = {ScalarNode: _STR, SequenceNode: _SEQ, MappingNode: _MAP}
_CLoader: Any = _c_loader()


Path_ = tuple[str | int, ...]


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
    """Load and validate every campaign under config_dir; raise ConfigError with all issues.

    Files are read in sorted order; `_defaults.yaml` applies to its directory and below.
    Warnings (e.g. a send_time in the past) never make a directory invalid.
    """
    loader = _DirectoryLoader(Path(config_dir))
    # Building thousands of small trees triggers the cycle collector over and over for
    # nothing (they are freed by reference counting): about 10% of the run.
    collecting = gc.isenabled()
    gc.disable()
    try:
        loader.run()
    finally:
        if collecting:
            gc.enable()
    errors = [i for i in loader.issues if i.severity == "error"]
    if not errors and not loader.campaigns and not allow_empty:
        errors.append(_issue(str(config_dir), None, (), "no campaigns found (*.yaml, *.yml)"))
    warnings = tuple(_unique([i for i in loader.issues if i.severity != "error"]))
    if errors:
        raise LoadError(_unique(errors), hint=_hint(errors), warnings=warnings)
    return LoadResult(campaigns=tuple(loader.campaigns), warnings=warnings)


class LoadError(ConfigError):
    """The directory is invalid: `issues` are its errors, `warnings` what else was found."""

    def __init__(
        self, issues: list[ConfigIssue], *, hint: str | None, warnings: tuple[ConfigIssue, ...]
    ) -> None:
        super().__init__(issues, hint=hint)
        self.warnings = warnings


# --------------------------------------------------------------------------- documents


class _Mark:
    """A 0-based position as ruamel's marks carry it (for issues made without a node)."""

    def __init__(self, line: int = 0, column: int = 0) -> None:
        self.line = line
        self.column = column


@dataclass
class _Document:
    """One YAML document: its built value, its node tree (for positions) and its file."""

    value: Any
    node: Node
    file: str
    base_dir: str


@dataclass
class _Defaults:
    """The `_defaults.yaml` documents of one directory, by kind."""

    by_kind: dict[str, list[_Document]] = field(default_factory=dict)


def _issue(file: str, mark: Any, path: Path_, message: str, severity: str = "error") -> ConfigIssue:
    line = mark.line + 1 if mark is not None else 1
    column = mark.column + 1 if mark is not None else 1
    return ConfigIssue(file, line, column, tuple(path), message, severity)


def _unique(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    # A defaults value broken once is reported once, not once per campaign that inherits it.
    return sorted(set(issues))


def _hint(errors: list[ConfigIssue]) -> str | None:
    if any("unknown field" in i.message for i in errors):
        return "`campaignctl schema` prints every field; docs: README, YAML reference"
    return None


class _Problem(Exception):
    """A document cannot be built; carries the node mark where it went wrong."""

    def __init__(self, message: str, mark: Any, path: Path_ = (), node: Node | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark
        self.path = path
        self.node = node

    def located(self, root: Node) -> Path_:
        return self.path or (_path_to(root, self.node) if self.node is not None else ())


# --------------------------------------------------------------------------- YAML -> values


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


def _check_flow_depth(text: str) -> None:
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
                    raise _Problem(
                        f"nesting deeper than {_MAX_FLOW_DEPTH} levels", event.start_mark
                    )
            elif isinstance(event, CollectionEndEvent):
                depth -= 1
    finally:
        loader.dispose()


class _Builder:
    """Builds plain Python values from nodes: safe tags only, aliases counted, keys unique."""

    def __init__(self) -> None:
        self.nodes = 0
        self.problems: list[_Problem] = []

    def build(self, node: Node, depth: int = 0) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES_PER_FILE:
            raise _Problem(
                f"more than {MAX_NODES_PER_FILE} values after alias expansion "
                "(an alias bomb?); refusing to expand further",
                node.start_mark,
            )
        if depth > MAX_DEPTH:
            raise _Problem(
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
        raise _Problem(_tag_message(tag), node.start_mark, node=node)

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
                    raise _Problem(
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
                raise _Problem(
                    "a merge key (<<) takes a mapping or a list of them",
                    node.start_mark,
                    node=node,
                )
            self.nodes += 1
            merged.update(self._mapping(source, depth + 1))
        return merged


def _duplicate(mapping: Node, key_node: Node) -> _Problem:
    first = next(k for k, _ in mapping.value if k.value == key_node.value)
    return _Problem(
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


def _tag(node: Node) -> str:
    """The node's tag as a string, without ruamel's per-access Tag -> str conversion."""
    ctag = node.ctag
    return ctag.suffix if ctag.handle is None else str(ctag)


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
        raise _Problem(f"invalid number {text!r}", node.start_mark, node=node) from None
    raise _Problem(_tag_message(tag), node.start_mark, node=node)


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


# --------------------------------------------------------------------------- node positions


def _locate(node: Node, path: Path_, *, key: bool = False) -> tuple[Node, Path_, bool]:
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
            if _tag(key_node) == _MERGE:
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


# --------------------------------------------------------------------------- pydantic errors


def _model_at(model: type[BaseModel], path: Path_) -> type[BaseModel] | None:
    """The model class that validates the mapping at path (for did-you-mean hints)."""
    current: type[BaseModel] = model
    for part in path:
        if isinstance(part, int):
            continue
        info = current.model_fields.get(part)
        if info is None:
            return None
        found = _find_model(info.annotation)
        if found is None:
            return None
        current = found
    return current


def _find_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _find_model(arg)
        if found is not None:
            return found
    return None


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _explain(error: Mapping[str, Any], model: type[BaseModel]) -> tuple[Path_, str, bool]:
    """Turn one pydantic error into (model path, message, point-at-the-key)."""
    loc: Path_ = tuple(error.get("loc", ()))
    kind = error.get("type", "")
    message = str(error.get("msg", "invalid value"))
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, _FieldError):
        return (*loc, *cause.path), str(cause), False
    if kind == "extra_forbidden" and loc:
        owner = _model_at(model, loc[:-1])
        choices = sorted(owner.model_fields) if owner else []
        name = str(loc[-1])
        return loc, f"unknown field {name!r}{_did_you_mean(name, choices)}", True
    if kind == "missing":
        return loc, "required field is missing", False
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    elif message.startswith("Assertion failed, "):
        message = message[len("Assertion failed, ") :]
    elif "input" in error and not isinstance(error["input"], dict | list):
        message = f"{message}, got {_short(error['input'])}"
    return loc, message, False


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --------------------------------------------------------------------------- attachments


class _Attachments:
    """Resolves attachment paths inside the config directory; caches each file's hash."""

    def __init__(self, root: Path) -> None:
        self.root = os.path.abspath(root)
        self.real_root = os.path.realpath(root)
        self.cache: dict[str, ResolvedFile] = {}

    def resolver(self, base_dir: str) -> Callable[[str], ResolvedFile]:
        return lambda path: self.resolve(base_dir, path)

    def resolve(self, base_dir: str, path: str) -> ResolvedFile:
        if os.path.isabs(path) or path.startswith("~"):
            raise ValueError(
                f"attachment path {path!r} must be relative to the YAML file, not absolute"
            )
        lexical = os.path.normpath(os.path.join(base_dir, path))
        if not _inside(lexical, self.root):
            raise ValueError(f"attachment path {path!r} leaves the config directory")
        real = os.path.realpath(lexical)
        if not _inside(real, self.real_root):
            raise ValueError(
                f"attachment path {path!r} is a symlink to a file outside the config directory"
            )
        if real in self.cache:
            return self.cache[real]
        try:
            info = os.stat(real)
        except OSError:
            raise ValueError(f"attachment file {path!r} not found") from None
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"attachment {path!r} is not a regular file")
        if info.st_size > MAX_ATTACHMENT_BYTES:
            raise ValueError(
                f"attachment {path!r} is {info.st_size} bytes; the API allows at most 10 MB "
                f"({MAX_ATTACHMENT_BYTES}) in total"
            )
        digest = hashlib.sha256()
        try:
            with open(real, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
        except OSError as exc:
            raise ValueError(f"cannot read attachment {path!r}: {exc.strerror}") from None
        resolved = ResolvedFile(path=real, size=info.st_size, sha256=digest.hexdigest())
        self.cache[real] = resolved
        return resolved


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


# --------------------------------------------------------------------------- the walk


def _is_dir(entry: os.DirEntry[str]) -> bool:
    """DirEntry.is_dir, False where it raises (a symlink loop raises ELOOP)."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def _is_file(entry: os.DirEntry[str]) -> bool:
    """DirEntry.is_file, False where it raises (a symlink loop raises ELOOP)."""
    try:
        return entry.is_file()
    except OSError:
        return False


def _not_a_file(entry: os.DirEntry[str]) -> str:
    """Why a *.yaml entry is not read: a dangling symlink, a symlink loop, a FIFO..."""
    try:
        os.stat(entry.path)
    except FileNotFoundError:
        return "not a regular file (a broken symlink?)"
    except OSError as exc:
        return f"not a regular file: {exc.strerror}"
    return "not a regular file"


class _DirectoryLoader:
    """One run over a config directory: collects campaigns, errors and warnings."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.issues: list[ConfigIssue] = []
        self.campaigns: list[LoadedCampaign] = []
        self.seen: dict[tuple[str, str], tuple[str, int]] = {}
        self.attachments = _Attachments(root)
        self.files = 0
        self.directories = 0
        self.now = datetime.now(UTC)
        self.now_text: dict[int, str] = {}

    # walk ------------------------------------------------------------------

    def run(self) -> None:
        try:
            is_dir = stat.S_ISDIR(os.stat(self.root).st_mode)
            what = "is not a directory"
        except FileNotFoundError:
            is_dir, what = False, "does not exist"
        except OSError as exc:  # e.g. a symlink loop (ELOOP)
            is_dir, what = False, f"cannot be read: {exc.strerror}"
        if not is_dir:
            self.issues.append(_issue(str(self.root), None, (), f"config directory {what}"))
            return
        self._walk(str(self.root), [])

    def _walk(self, directory: str, inherited: list[_Defaults]) -> None:
        stack: list[tuple[str, list[_Defaults]]] = [(directory, inherited)]
        while stack:
            current, chain = stack.pop()
            self.directories += 1
            if self.directories > MAX_DIRECTORIES:
                message = f"more than {MAX_DIRECTORIES} directories: is this the config directory?"
                self.issues.append(_issue(str(self.root), None, (), message))
                return
            try:
                entries = sorted(os.scandir(current), key=lambda e: e.name)
            except OSError as exc:
                self.issues.append(
                    _issue(current, None, (), f"cannot read directory: {exc.strerror}")
                )
                continue
            files = [e for e in entries if e.name.endswith(YAML_SUFFIXES) and not _is_dir(e)]
            for entry in files:
                if not _is_file(entry) and not entry.name.startswith("."):
                    self.issues.append(_issue(entry.path, None, (), _not_a_file(entry)))
            files = [e for e in files if _is_file(e)]
            own = _Defaults()
            for entry in files:
                if entry.name in DEFAULTS_NAMES:
                    self._load_defaults(entry, own)
            local_chain = [*chain, own] if own.by_kind else chain
            for entry in files:
                if entry.name.startswith("_") or entry.name.startswith("."):
                    continue
                self.files += 1
                if self.files > MAX_FILES:
                    self.issues.append(
                        _issue(str(self.root), None, (), f"more than {MAX_FILES} YAML files")
                    )
                    return
                self._load_campaign_file(entry, local_chain)
            subdirs = [
                e.path
                for e in entries
                if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")
            ]
            stack.extend((path, local_chain) for path in reversed(subdirs))

    # files -----------------------------------------------------------------

    def _read(self, path: str, entry: os.DirEntry[str] | None = None) -> str | None:
        try:
            if entry is not None and entry.is_symlink():
                real = os.path.realpath(path)
                if not _inside(real, os.path.realpath(self.root)):
                    self.issues.append(
                        _issue(path, None, (), "symlink to a file outside the config directory")
                    )
                    return None
            fd = os.open(path, os.O_RDONLY)
            try:
                size = os.fstat(fd).st_size
                if size > MAX_FILE_BYTES:
                    self.issues.append(
                        _issue(
                            path, None, (), f"file is {size} bytes; the limit is {MAX_FILE_BYTES}"
                        )
                    )
                    return None
                data = os.read(fd, MAX_FILE_BYTES + 1)
            finally:
                os.close(fd)
        except OSError as exc:
            self.issues.append(_issue(path, None, (), f"cannot read file: {exc.strerror}"))
            return None
        if len(data) > MAX_FILE_BYTES:  # grew since fstat, or a special file
            self.issues.append(_issue(path, None, (), f"file exceeds {MAX_FILE_BYTES} bytes"))
            return None
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start)
            column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1)
            self.issues.append(_issue(path, _Mark(line, column), (), "file is not valid UTF-8"))
            return None

    def _documents(self, path: str, text: str) -> Iterator[_Document]:
        """Yield the built documents of a file; problems become issues, never exceptions."""
        base_dir = os.path.dirname(os.path.abspath(path))
        try:
            _check_flow_depth(text)
            builder = _Builder()
            for node in compose_documents(text):
                try:
                    value = builder.build(node)
                except _Problem as problem:
                    where = problem.located(node)
                    self.issues.append(_issue(path, problem.mark, where, problem.message))
                    return
                if builder.problems:
                    for item in builder.problems:
                        where = item.located(node)
                        self.issues.append(_issue(path, item.mark, where, item.message))
                    builder.problems.clear()
                    continue
                yield _Document(value, node, path, base_dir)
        except _Problem as problem:
            self.issues.append(_issue(path, problem.mark, problem.path, problem.message))
        except MarkedYAMLError as exc:
            self.issues.append(_yaml_issue(path, exc))
        except YAMLError as exc:
            self.issues.append(_issue(path, None, (), f"invalid YAML: {exc}"))
        except RecursionError:
            self.issues.append(_issue(path, None, (), "YAML nested too deeply"))

    def _load_defaults(self, entry: os.DirEntry[str], into: _Defaults) -> None:
        path = entry.path
        text = self._read(path, entry)
        if text is None:
            return
        for doc in self._documents(path, text):
            if doc.value is None:
                continue
            if not isinstance(doc.value, dict):
                self.issues.append(
                    _issue(path, doc.node.start_mark, (), "a defaults document must be a mapping")
                )
                continue
            kind = self._kind(doc)
            if kind is None:
                continue
            if self._check_default_keys(doc, kind):
                into.by_kind.setdefault(kind, []).append(doc)

    def _check_default_keys(self, doc: _Document, kind: str) -> bool:
        fields = sorted(set(KINDS[kind].model_fields) - {"kind", "name"})
        ok = True
        for key in doc.value:
            if key == "kind":
                continue
            node, _, _ = _locate(doc.node, (key,), key=True)
            if key == "name":
                message = "name cannot have a default: it is each campaign's identity"
            elif key not in fields:
                message = f"unknown field {key!r} for {kind}{_did_you_mean(key, fields)}"
            else:
                continue
            self.issues.append(_issue(doc.file, node.start_mark, (key,), message))
            ok = False
        return ok

    def _load_campaign_file(self, entry: os.DirEntry[str], chain: list[_Defaults]) -> None:
        text = self._read(entry.path, entry)
        if text is None:
            return
        before = len(self.issues)
        found = 0
        for doc in self._documents(entry.path, text):
            if doc.value is None:
                continue  # an empty document between `---` lines
            found += 1
            self._load_campaign(doc, chain)
        if found == 0 and len(self.issues) == before:
            self.issues.append(_issue(entry.path, None, (), "file holds no campaign document"))

    # campaigns -------------------------------------------------------------

    def _kind(self, doc: _Document) -> str | None:
        kind = doc.value.get("kind", DEFAULT_KIND)
        if isinstance(kind, str) and kind in KINDS:
            return kind
        node, _, _ = _locate(doc.node, ("kind",))
        choices = sorted(KINDS)
        hint = _did_you_mean(kind, choices) if isinstance(kind, str) else ""
        self.issues.append(
            _issue(
                doc.file,
                node.start_mark,
                ("kind",),
                f"unknown kind {_short(kind)}{hint}; expected one of {', '.join(choices)}",
            )
        )
        return None

    def _load_campaign(self, doc: _Document, chain: list[_Defaults]) -> None:
        if not isinstance(doc.value, dict):
            self.issues.append(
                _issue(
                    doc.file,
                    doc.node.start_mark,
                    (),
                    f"a campaign document must be a mapping, found {_short(doc.value)}",
                )
            )
            return
        kind = self._kind(doc)
        if kind is None:
            return
        layers = [d for level in chain for d in level.by_kind.get(kind, ())]
        data: dict[str, Any] = {}
        for layer in layers:  # farthest first, so nearer defaults and the campaign win
            data = _deep_merge(data, layer.value)
        data = _deep_merge(data, doc.value)
        data["kind"] = kind
        origins = [doc, *reversed(layers)]
        owner = next((o for o in origins if "attachments" in o.value), doc)
        model_cls = KINDS[kind]
        try:
            model = model_cls.model_validate(
                data, context={"resolve_attachment": self.attachments.resolver(owner.base_dir)}
            )
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                path, message, at_key = _explain(error, model_cls)
                self.issues.append(self._at(origins, path, message, key=at_key))
            return
        self._register(model, doc)
        if isinstance(model, EmailCampaign):
            self._warn_past(model, origins)

    def _at(
        self,
        origins: list[_Document],
        path: Path_,
        message: str,
        *,
        key: bool = False,
        severity: str = "error",
    ) -> ConfigIssue:
        """Place an issue on the node of the document that gave the value at path."""
        best: tuple[_Document, Node] | None = None
        reached = -1
        for origin in origins:
            node, yaml_path, exact = _locate(origin.node, path, key=key)
            if exact:
                return _issue(origin.file, node.start_mark, yaml_path, message, severity)
            if len(yaml_path) > reached:
                best, reached = (origin, node), len(yaml_path)
        assert best is not None
        # Not in any document (e.g. a missing field): the nearest enclosing node.
        origin, node = best
        return _issue(origin.file, node.start_mark, path, message, severity)

    def _register(self, model: EmailCampaign | MessagingCampaign, doc: _Document) -> None:
        name_node, _, _ = _locate(doc.node, ("name",))
        mark = name_node.start_mark
        key = (model.kind, model.name)
        if key in self.seen:
            other_file, other_line = self.seen[key]
            self.issues.append(
                _issue(
                    doc.file,
                    mark,
                    ("name",),
                    f"duplicate {model.kind} name {model.name!r}: also declared at "
                    f"{other_file}:{other_line}",
                )
            )
            return
        self.seen[key] = (doc.file, mark.line + 1)
        start = doc.node.start_mark
        source = Source(doc.file, start.line + 1, start.column + 1)
        self.campaigns.append(LoadedCampaign(model=model, source=source))

    def _warn_past(self, model: EmailCampaign, origins: list[_Document]) -> None:
        zone = DEFAULT_TIME_ZONE if model.time_zone is None else model.time_zone
        now = self._now_in(zone)
        candidates: list[tuple[Path_, str]] = []
        if model.send_time:
            candidates.append((("send_time",), model.send_time))
        if model.ab_test and model.ab_test.send_times:
            candidates.extend(
                (("ab_test", "send_times", i), t) for i, t in enumerate(model.ab_test.send_times)
            )
        for path, text in candidates:
            if text < now:  # both "YYYY-MM-DD HH:MM:SS" in one zone: text order is time order
                self.issues.append(
                    self._at(
                        origins,
                        path,
                        f"{text} is in the past: a new campaign would be sent at once",
                        severity="warning",
                    )
                )

    def _now_in(self, hours: int) -> str:
        if hours not in self.now_text:
            local = self.now.astimezone(timezone(timedelta(hours=hours)))
            self.now_text[hours] = local.strftime(SEND_TIME_FORMAT)
        return self.now_text[hours]


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Merge over onto base: mappings recursively, anything else (lists too) replaced."""
    if not base:
        return dict(over)
    out = dict(base)
    for key, value in over.items():
        below = out.get(key)
        if isinstance(value, dict) and isinstance(below, dict):
            out[key] = _deep_merge(below, value)
        else:
            out[key] = value
    return out


def _yaml_issue(path: str, exc: MarkedYAMLError) -> ConfigIssue:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or "invalid YAML"
    message = f"invalid YAML: {problem}"
    if exc.context and exc.context_mark is not None and exc.context_mark is not mark:
        message += f" ({exc.context} at line {exc.context_mark.line + 1})"
    elif exc.context:
        message += f" ({exc.context})"
    return _issue(path, mark, (), message)
