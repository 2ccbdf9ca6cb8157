"""reconciler.policy.rules: a policy file read and checked into rules, nothing evaluated.

Structure, levels, scopes, unique names, CEL syntax and the fields an expression names are
checked at load time (docs/reference/commands.md "Policies"): a typo is an error naming the
file, line and rule, not a rule that silently never matches.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.errors import CampaignctlError
from reconciler.model import (
    EMAIL_DIFFABLE_FIELDS,
    KINDS,
    MESSAGING_DIFFABLE_FIELDS,
    AbTest,
    GoogleTrack,
    Recipient,
)

__all__ = [
    "LEVELS",
    "MAX_EXPR_CHARS",
    "SCOPES",
    "Override",
    "Policy",
    "PolicyError",
    "Rule",
    "default_policy_path",
    "load_policy",
]


LEVELS = ("advisory", "soft", "hard")
SCOPES = ("campaign", "plan")
#: Longer expressions are refused: a policy is read by people, and size bounds parse cost.
MAX_EXPR_CHARS = 4000
_RULE_KEYS = {"name", "level", "kind", "scope", "expr", "message"}


#: Fields an expression may name after `campaign.` / `plan.`: a typo is an error at load
#: time, not a rule that silently never matches. Nested maps list their keys too.
_CAMPAIGN_FIELDS = {"kind", "name", *EMAIL_DIFFABLE_FIELDS, *MESSAGING_DIFFABLE_FIELDS}
_NESTED_FIELDS = {
    "to": set(Recipient.model_fields),
    "google_track": set(GoogleTrack.model_fields),
    "ab_test": set(AbTest.model_fields),
}
_PLAN_FIELDS = {"actions", "summary"}


class PolicyError(CampaignctlError):
    """A policy file that cannot be used, or rules that do not hold at error level."""

    code = "policy_error"


@dataclass(frozen=True)
class Rule:
    """One rule as written, with where it was written (file and 1-based line)."""

    name: str
    level: str
    scope: str
    expr: str
    message: str
    file: str
    line: int
    kind: str | None = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...]
    file: str

    def get(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)


@dataclass(frozen=True)
class Override:
    rule: str
    reason: str


def default_policy_path(config_dir: Path) -> Path | None:
    """`policy.yaml` beside the config directory, when it exists."""
    path = Path(config_dir).resolve().parent / "policy.yaml"
    return path if path.is_file() else None


def load_policy(path: Path) -> Policy:
    """Read and check a policy file: structure, levels, unique names, CEL syntax, fields.

    Every problem is a PolicyError naming the file, line and rule; nothing is evaluated.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"cannot read the policy file: {exc}", file) from None
    try:
        document = YAML(typ="rt").load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PolicyError(f"policy file is not valid YAML: {problem}", f"{file}{at}") from None
    if not isinstance(document, Mapping) or not isinstance(document.get("rules"), list):
        raise PolicyError("a policy file is a mapping with a `rules` list", f"{file}:1")
    unknown = set(document) - {"rules"}
    if unknown:
        raise PolicyError(f"unknown key {sorted(unknown)[0]!r} (only `rules`)", f"{file}:1")
    rules: list[Rule] = []
    for index, item in enumerate(document["rules"]):
        line = _line_of(document["rules"], index)
        rule = _rule(item, file, line)
        if any(r.name == rule.name for r in rules):
            raise PolicyError(f"rule {rule.name!r} is defined twice", f"{file}:{line}")
        rules.append(rule)
    return Policy(tuple(rules), file)


def _line_of(container: Any, index: int) -> int:
    try:
        return int(container.lc.item(index)[0]) + 1
    except (AttributeError, KeyError, IndexError, TypeError):
        return 1


def _rule(item: Any, file: str, line: int) -> Rule:
    where = f"{file}:{line}"
    if not isinstance(item, Mapping):
        raise PolicyError("a rule is a mapping with name, level, expr and message", where)
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise PolicyError("a rule needs a `name`", where)

    def fail(message: str) -> PolicyError:
        return PolicyError(f"rule {name!r}: {message}", where)

    unknown = set(item) - _RULE_KEYS
    if unknown:
        raise fail(f"unknown key {sorted(unknown)[0]!r} (allowed: {', '.join(sorted(_RULE_KEYS))})")
    level = item.get("level")
    if level not in LEVELS:
        raise fail(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    scope = item.get("scope", "campaign")
    if scope not in SCOPES:
        raise fail(f"scope must be campaign or plan, not {scope!r}")
    kind = item.get("kind")
    if kind is not None and kind not in KINDS:
        raise fail(f"kind must be one of {', '.join(sorted(KINDS))}, not {kind!r}")
    expr, message = item.get("expr"), item.get("message")
    if not isinstance(expr, str) or not expr.strip():
        raise fail("`expr` must be a CEL expression")
    if not isinstance(message, str) or not message.strip():
        raise fail("`message` must say what the rule wants")
    if len(expr) > MAX_EXPR_CHARS:
        raise fail(f"`expr` is {len(expr)} characters long; the limit is {MAX_EXPR_CHARS}")
    _compile(expr, fail)
    _check_fields(expr, str(scope), fail)
    return Rule(str(name), str(level), str(scope), expr, message.strip(), file, line, kind)


def _compile(expr: str, fail: Any) -> Any:
    import cel

    try:
        return cel.compile(expr)
    except (ValueError, RuntimeError) as exc:
        # The library's message is several lines (a caret under the column): keep the first.
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise fail(f"CEL syntax error: {first}") from None


_MEMBER = re.compile(r"\b(campaign|plan)\.([A-Za-z_]\w*)(?:\.([A-Za-z_]\w*))?")
_STRING = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


def _check_fields(expr: str, scope: str, fail: Any) -> None:
    """Unknown fields after `campaign.` or `plan.` (and in to/google_track/ab_test)."""
    bare = _STRING.sub("''", expr)  # names inside string literals are not fields
    if scope == "plan" and re.search(r"\bcampaign\b", bare):
        raise fail("a plan rule sees `plan`, not `campaign`")
    if scope == "campaign" and re.search(r"\bplan\b", bare):
        raise fail("a campaign rule sees `campaign` and `sends`, not `plan`")
    for root, first, second in _MEMBER.findall(bare):
        known = _CAMPAIGN_FIELDS if root == "campaign" else _PLAN_FIELDS
        if first not in known:
            raise fail(f"unknown field {root}.{first} (known: {', '.join(sorted(known))})")
        nested = _NESTED_FIELDS.get(first) if root == "campaign" else None
        if second and nested is not None and second not in nested:
            raise fail(
                f"unknown field {root}.{first}.{second} (known: {', '.join(sorted(nested))})"
            )
