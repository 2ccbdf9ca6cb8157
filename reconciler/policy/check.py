"""reconciler.policy.check: a policy's rules run on campaigns and a plan, into violations.

Violations come back in rule order; `--override` marks soft ones with a reason, and the
blocking ones make `validate` and `plan` fail (docs/reference/commands.md "Policies").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from reconciler.calendar import Calendar, config_calendar
from reconciler.loader import LoadedCampaign
from reconciler.plan import Plan, PolicyViolation
from reconciler.policy.bindings import campaign_bindings, plan_binding
from reconciler.policy.rules import Override, Policy, PolicyError, Rule
from reconciler.policy.workers import Job, evaluate, time_limit_from_env

__all__ = ["apply_overrides", "blocking_summary", "check_campaigns"]


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
    jobs: list[Job] = []
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
    for rule, outcome in zip(rules, evaluate(jobs, bindings, limit), strict=True):
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
