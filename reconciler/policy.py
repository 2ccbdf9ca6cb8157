"""reconciler.policy: a team's rules as CEL expressions, checked on `validate` and `plan`.

A policy file (docs/reference/commands.md "Policies") lists rules; a rule holds when its `expr`
is true. Scope `campaign` binds `campaign` (one campaign's canonical form) and `sends` (its
timed sends: `at` a UTC timestamp, `local_hour`, `weekday` (0 = Sunday) and `local` in its
own time zone, `time_zone`, `audience {type, values}`, `effect`, and `nearest_overlap`:
the closest send of another campaign whose audience may overlap, `{kind, name, at, gap}`
with `gap` a duration, or null). Scope `plan` binds `plan`: `actions` (kind, name, action, reason,
changes [{path, before, after}], sent: the live campaign is sending or sent) and `summary`.

CEL library: `common-expression-language` (Rust `cel` crate bindings): `has()`, maps,
lists, macros, timestamps and durations, clear errors, and about a microsecond per
evaluation, which 20 rules over 10,000 campaigns need. CEL has no loops or recursion, but
nested macros over long lists can still run for minutes, and a Rust call cannot be
interrupted from Python: rules run in a forked worker process, each rule with a time limit;
a rule over its limit is stopped (the worker killed) and reported as an error, and the
remaining rules go on in a new worker.
"""

from __future__ import annotations

import multiprocessing
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from reconciler.calendar import Calendar, Send, config_calendar, nearest_overlaps
from reconciler.errors import CampaignctlError
from reconciler.loader import LoadedCampaign
from reconciler.model import KINDS
from reconciler.plan import Plan, PolicyViolation

__all__ = [
    "LEVELS",
    "Override",
    "Policy",
    "PolicyError",
    "Rule",
    "apply_overrides",
    "check_campaigns",
    "default_policy_path",
    "load_policy",
]

LEVELS = ("advisory", "soft", "hard")
SCOPES = ("campaign", "plan")
#: Longer expressions are refused: a policy is read by people, and size bounds parse cost.
MAX_EXPR_CHARS = 4000
#: Seconds one rule may run over all campaigns (env CAMPAIGNCTL_POLICY_TIME_LIMIT).
DEFAULT_TIME_LIMIT = 5.0
_RULE_KEYS = {"name", "level", "kind", "scope", "expr", "message"}

#: Fields an expression may name after `campaign.` / `plan.`: a typo is an error at load
#: time, not a rule that silently never matches. Nested maps list their keys too.
_CAMPAIGN_FIELDS = {
    "kind", "name", "campaign_type", "to", "reply_to", "sender_id", "template_invoke_name",
    "subject", "send_time", "time_zone", "attachments", "google_track", "warm_up", "ab_test",
    "channel_type", "touchpoints",
}  # fmt: skip
_NESTED_FIELDS = {
    "to": {"type", "value"},
    "google_track": {
        "campaign_source", "campaign_medium", "campaign_name", "campaign_term",
        "campaign_content",
    },
    "ab_test": {
        "percent", "win_condition", "template_invoke_names", "sender_ids", "send_times",
        "subjects",
    },
}  # fmt: skip
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


# --------------------------------------------------------------------------- loading


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


# --------------------------------------------------------------------------- binding


def campaign_bindings(
    campaigns: Sequence[LoadedCampaign], calendar: Calendar | None, plan: Plan | None = None
) -> list[dict[str, Any]]:
    """What a campaign rule sees, per campaign: `campaign` and `sends`.

    The canonical forms come from the plan's actions when there is one (computed already).
    """
    desired = {(a.kind, a.name): a.desired for a in plan.actions} if plan is not None else {}
    by_campaign: dict[tuple[str, str], list[Send]] = {}
    nearest: dict[int, tuple[Send, timedelta]] = {}
    if calendar is not None:
        timed = [s for s in calendar.sends if s.at is not None and s.goes_out]
        for send in timed:
            by_campaign.setdefault((send.kind, send.name), []).append(send)
        nearest = nearest_overlaps(timed)
    out = []
    for campaign in campaigns:
        # Canonical forms are plain JSON-like data already (model.canonical()).
        canonical = desired.get(campaign.key) or campaign.canonical()
        sends = [_send_binding(s, nearest.get(id(s))) for s in by_campaign.get(campaign.key, [])]
        out.append({"campaign": canonical, "sends": sends})
    return out


def _send_binding(send: Send, nearest: tuple[Send, timedelta] | None) -> dict[str, Any]:
    local = send.local()
    assert local is not None
    return {
        "at": send.at,
        "local": local.strftime("%Y-%m-%d %H:%M:%S"),
        "local_hour": local.hour,
        "weekday": (local.weekday() + 1) % 7,  # 0 = Sunday, as CEL's getDayOfWeek()
        "time_zone": send.time_zone,
        "effect": str(send.effect),
        "audience": (
            {"type": send.audience.type, "values": list(send.audience.values)}
            if send.audience
            else None
        ),
        "nearest_overlap": (
            None
            if nearest is None
            else {
                "kind": nearest[0].kind,
                "name": nearest[0].name,
                "at": nearest[0].at,
                "gap": nearest[1],
            }
        ),
    }


def plan_binding(plan: Plan) -> dict[str, Any]:
    """What a plan rule sees: `plan` with its actions and summary."""
    actions = [
        {
            "kind": a.kind,
            "name": a.name,
            "action": str(a.action),
            "reason": str(a.reason),
            "remote_id": a.remote_id,
            "live_status": a.live_status,
            "sent": a.live_status not in (None, 0, "draft"),
            "changes": [
                {"path": [str(p) for p in c.path], "before": c.before, "after": c.after}
                for c in a.changes
            ],
        }
        for a in plan.actions
        if not a.is_unmanaged
    ]
    return {"plan": _plain({"actions": actions, "summary": plan.summary()})}


def _plain(value: Any) -> Any:
    """JSON-like data only (the CEL bindings convert dicts, lists, str, int, float, bool)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# --------------------------------------------------------------------------- evaluation


@dataclass
class _Outcome:
    """A rule's result: the indexes of the bindings it failed on, or an error."""

    failed: list[int] = field(default_factory=list)
    error: str | None = None
    error_index: int | None = None


class _Contexts:
    """CEL contexts of the bindings, each converted once and shared by every rule (the
    conversion of nested data costs more than evaluating a rule)."""

    def __init__(self, bindings: Sequence[Mapping[str, Any]]) -> None:
        self.bindings = bindings
        self.cache: dict[int, Any] = {}

    def get(self, index: int) -> Any:
        import cel

        context = self.cache.get(index)
        if context is None:
            context = self.cache[index] = cel.Context(dict(self.bindings[index]))
        return context


def _run_rule(expr: str, indexes: Sequence[int], contexts: _Contexts) -> _Outcome:
    """Evaluate one rule on the bindings at `indexes`; outcomes hold binding indexes."""
    import cel

    program = cel.compile(expr)
    outcome = _Outcome()
    for index in indexes:
        try:
            result = program.execute(contexts.get(index))
        except Exception as exc:  # the library raises KeyError, TypeError, RuntimeError...
            detail = str(exc).splitlines()[0] if str(exc) else ""
            if isinstance(exc, KeyError):
                detail = f"no such key {detail} (test it with has() first)"
            outcome.error = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
            outcome.error_index = index
            return outcome
        if result is not True and result is not False:
            outcome.error = f"the expression gave {type(result).__name__} {result!r}, not a bool"
            outcome.error_index = index
            return outcome
        if result is False:
            outcome.failed.append(index)
    return outcome


_Job = tuple[str, Sequence[int]]


def _worker(jobs: Sequence[_Job], contexts: _Contexts, conn: Connection) -> None:
    for number, (expr, indexes) in enumerate(jobs):
        conn.send((number, _run_rule(expr, indexes, contexts)))
    conn.close()


#: Below this many bindings one worker does it all (a fork costs more than it saves).
SHARD_MIN_BINDINGS = 2000


def _evaluate(
    jobs: Sequence[_Job], bindings: Sequence[Mapping[str, Any]], time_limit: float
) -> list[_Outcome]:
    """Run the jobs over the bindings split between up to one worker per core.

    Each shard gets every rule and a share of the bindings (converting them to CEL is half
    the cost), under the same time limit per rule; outcomes are merged back in order.
    """
    shards = min(os.cpu_count() or 1, 4) if len(bindings) >= SHARD_MIN_BINDINGS else 1
    if shards == 1:
        return _evaluate_shard(jobs, bindings, time_limit)
    from concurrent.futures import ThreadPoolExecutor

    parts = [
        [(expr, [i for i in indexes if i % shards == shard]) for expr, indexes in jobs]
        for shard in range(shards)
    ]
    with ThreadPoolExecutor(max_workers=shards) as pool:
        results = list(pool.map(lambda part: _evaluate_shard(part, bindings, time_limit), parts))
    merged: list[_Outcome] = []
    for number in range(len(jobs)):
        outcomes = [result[number] for result in results]
        errors = [o for o in outcomes if o.error is not None]
        if errors:
            merged.append(min(errors, key=lambda o: -1 if o.error_index is None else o.error_index))
        else:
            merged.append(_Outcome(sorted(i for o in outcomes for i in o.failed)))
    return merged


def _evaluate_shard(
    jobs: Sequence[_Job], bindings: Sequence[Mapping[str, Any]], time_limit: float
) -> list[_Outcome]:
    """Run each (expr, binding indexes) job; a job over `time_limit` seconds is stopped.

    A forked worker (it inherits the bindings: nothing is pickled) runs the jobs in order
    and sends each outcome back; when one is late the worker is killed (a CEL call in Rust
    cannot be interrupted otherwise) and a new one goes on with the next job. Without fork
    (not Linux/macOS), jobs run here, unbounded.
    """
    contexts = _Contexts(bindings)
    if "fork" not in multiprocessing.get_all_start_methods():
        return [_run_rule(expr, indexes, contexts) for expr, indexes in jobs]
    context = multiprocessing.get_context("fork")
    outcomes: list[_Outcome] = []
    while len(outcomes) < len(jobs):
        remaining = jobs[len(outcomes) :]
        receiver, sender = context.Pipe(duplex=False)
        worker = context.Process(target=_worker, args=(remaining, contexts, sender), daemon=True)
        worker.start()
        sender.close()
        try:
            while len(outcomes) < len(jobs):
                if not receiver.poll(time_limit):
                    outcomes.append(
                        _Outcome(error=f"stopped after {time_limit:g} s (the time limit per rule)")
                    )
                    break
                _, outcome = receiver.recv()
                outcomes.append(outcome)
        except EOFError:
            outcomes.append(_Outcome(error="the rule's evaluation crashed"))
        finally:
            if worker.is_alive():
                worker.kill()
            worker.join()
            receiver.close()
    return outcomes


def time_limit_from_env() -> float:
    try:
        value = float(os.environ.get("CAMPAIGNCTL_POLICY_TIME_LIMIT", DEFAULT_TIME_LIMIT))
    except ValueError:
        return DEFAULT_TIME_LIMIT
    return value if value > 0 else DEFAULT_TIME_LIMIT


def check_campaigns(
    policy: Policy,
    campaigns: Sequence[LoadedCampaign],
    calendar: Calendar | None = None,
    *,
    plan: Plan | None = None,
    time_limit: float | None = None,
) -> list[PolicyViolation]:
    """Evaluate the policy's campaign rules (and, given a plan, its plan rules).

    Returns the violations in rule order; a rule that cannot be evaluated raises
    PolicyError naming the rule, its line and the campaign it failed on.
    """
    limit = time_limit or time_limit_from_env()
    if calendar is None:
        calendar = config_calendar(campaigns)
    bindings = campaign_bindings(campaigns, calendar, plan)
    if plan is not None and any(rule.scope == "plan" for rule in policy.rules):
        bindings.append(plan_binding(plan))  # 10,000 actions cost: only when a rule asks
    jobs: list[_Job] = []
    rules: list[Rule] = []
    for rule in policy.rules:
        if rule.scope == "plan":
            if plan is None:
                continue  # validate has no plan: plan rules wait for `plan`
            jobs.append((rule.expr, [len(bindings) - 1]))
        else:
            jobs.append(
                (rule.expr, [i for i, c in enumerate(campaigns) if rule.kind in (None, c.kind)])
            )
        rules.append(rule)

    def target(index: int) -> LoadedCampaign | None:
        return campaigns[index] if index < len(campaigns) else None  # else: the plan

    violations: list[PolicyViolation] = []
    for rule, outcome in zip(rules, _evaluate(jobs, bindings, limit), strict=True):
        if outcome.error is not None:
            on = ""
            failed_on = None if outcome.error_index is None else target(outcome.error_index)
            if failed_on is not None:
                on = f" on {failed_on.kind} {failed_on.name!r} ({failed_on.source.file}:"
                on += f"{failed_on.source.line})"
            raise PolicyError(
                f"rule {rule.name!r} could not be evaluated{on}: {outcome.error}", rule.where
            )
        violations += [_violation(rule, target(index)) for index in outcome.failed]
    return violations


def _violation(rule: Rule, campaign: LoadedCampaign | None) -> PolicyViolation:
    if campaign is None:
        return PolicyViolation(
            rule.name, rule.level, None, None, rule.file, rule.line, rule.message
        )
    return PolicyViolation(
        rule=rule.name,
        level=rule.level,
        kind=campaign.kind,
        name=campaign.name,
        file=campaign.source.file,
        line=campaign.source.line,
        message=rule.message,
    )


def apply_overrides(
    policy: Policy, violations: Iterable[PolicyViolation], overrides: Sequence[Override]
) -> list[PolicyViolation]:
    """Mark soft violations of overridden rules with the override's reason.

    An override must name a rule of the policy, a soft one, with a reason: anything else is
    a PolicyError (a typo must not silently override nothing, and hard means hard).
    """
    from dataclasses import replace

    reasons: dict[str, str] = {}
    for override in overrides:
        rule = policy.get(override.rule)
        if rule is None:
            raise PolicyError(f"--override {override.rule!r}: no such rule in {policy.file}")
        if rule.level != "soft":
            raise PolicyError(
                f"--override {override.rule!r}: only soft rules can be overridden; this one is "
                f"{rule.level}",
                rule.where,
            )
        if not override.reason.strip():
            raise PolicyError(f"--override {override.rule!r} needs a non-empty --reason")
        reasons[override.rule] = override.reason
    return [
        replace(v, overridden=True, reason=reasons[v.rule])
        if v.level == "soft" and v.rule in reasons
        else v
        for v in violations
    ]


def blocking_summary(violations: Sequence[PolicyViolation]) -> str | None:
    """The error line for violations that block, or None when none does."""
    blocking = [v for v in violations if v.blocking]
    if not blocking:
        return None
    rules = sorted({v.rule for v in blocking})
    n = len(blocking)
    return (
        f"{n} policy violation{'s' if n != 1 else ''} at error level "
        f"(rule{'s' if len(rules) != 1 else ''} {', '.join(repr(r) for r in rules)})"
    )
