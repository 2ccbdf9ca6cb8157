"""reconciler.cli.policy_options: `--policy`, `--override RULE --reason TEXT` for validate
and plan, and the one function both call to check a policy and decide what blocks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from reconciler.calendar import Calendar
    from reconciler.loader import LoadedCampaign
    from reconciler.plan import Plan, PolicyViolation

__all__ = ["check_policy", "policy_options", "raise_if_blocking"]

F = TypeVar("F", bound=Callable[..., Any])


def _repeated(flag: str, dest: str, metavar: str, help: str) -> Callable[[F], F]:
    """An option given once per value (`--override A --override B`), collected in order."""
    return click.option(flag, dest, multiple=True, metavar=metavar, help=help)


def policy_options(command: F) -> F:
    """Add --policy, --override and --reason to a command."""
    command = _repeated(
        "--reason",
        "reasons",
        "TEXT",
        "Why the --override before it is fine (recorded in the plan and PR comment).",
    )(command)
    command = _repeated(
        "--override",
        "overrides",
        "RULE",
        "Accept the violations of a soft policy rule; each needs a --reason.",
    )(command)
    command = click.option(
        "--policy",
        "policy_file",
        type=click.Path(path_type=Path),
        metavar="FILE",
        help="Policy rules (default: policy.yaml beside the config directory, if any).",
    )(command)
    return command


def check_policy(
    policy_file: Path | None,
    config_dir: Path,
    campaigns: Sequence[LoadedCampaign],
    overrides: Sequence[str],
    reasons: Sequence[str],
    *,
    calendar: Calendar | None = None,
    plan: Plan | None = None,
) -> list[PolicyViolation]:
    """Load the policy (given, or the default one when present) and return its violations,
    overrides applied; [] when there is no policy. PolicyError on a bad file or rule."""
    from reconciler.policy import (
        Override,
        apply_overrides,
        check_campaigns,
        default_policy_path,
        load_policy,
    )

    if len(overrides) != len(reasons):
        raise click.UsageError("give each --override RULE its own --reason TEXT")
    path = policy_file or default_policy_path(config_dir)
    if path is None:
        if overrides:
            raise click.UsageError("--override needs a policy (--policy FILE or policy.yaml)")
        return []
    if policy_file is not None and not policy_file.is_file():
        raise click.BadParameter(f"no policy file at {policy_file}", param_hint="--policy")
    policy = load_policy(path)
    violations = check_campaigns(policy, campaigns, calendar, plan=plan)
    pairs = [Override(rule, reason) for rule, reason in zip(overrides, reasons, strict=True)]
    return apply_overrides(policy, violations, pairs)


def raise_if_blocking(violations: Sequence[PolicyViolation]) -> None:
    """Exit 1 (a PolicyError) when a hard, or a soft and not overridden, rule failed."""
    from reconciler.policy import PolicyError, blocking_summary

    summary = blocking_summary(violations)
    if summary is not None:
        raise PolicyError(
            summary,
            hint="fix the campaigns, or accept a soft rule with --override RULE --reason TEXT",
        )
