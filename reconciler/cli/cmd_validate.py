"""reconciler.cli.cmd_validate: `validate` (load + check offline).

Imports only what an empty or missing directory needs; the loader imports the model
(pydantic) when it finds a campaign file, and the renderers are imported when there is
something to print.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.cli.policy_options import check_policy, policy_options, raise_if_blocking
from reconciler.errors import ConfigError, ConfigIssue
from reconciler.loader import LoadError, load_directory
from reconciler.settings import DEFAULT_CONFIG_DIR

if TYPE_CHECKING:
    from reconciler.loader import LoadResult
    from reconciler.plan import PolicyViolation

FORMATS = ("text", "json", "github")


@click.command()
@click.argument("directory", required=False, metavar="[DIR]")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text for people, json for tools, github for workflow annotations.",
)
@policy_options
@click.pass_context
def validate(
    ctx: click.Context,
    directory: str | None,
    output_format: str,
    policy_file: Path | None,
    overrides: tuple[str, ...],
    reasons: tuple[str, ...],
) -> None:
    """Check the campaign YAML in DIR offline, reporting every error with its position.

    DIR defaults to --config-dir, else campaigns.d. Exit 0 when valid, 1 when not; warnings
    (such as a send_time in the past) do not make it fail. With a policy (--policy FILE, or
    policy.yaml beside DIR), its campaign rules are checked too: advisory ones warn, soft
    ones fail unless --override RULE --reason TEXT, hard ones fail.
    """
    from reconciler.render import text_policy, text_safe

    config_dir = Path(directory or getattr(ctx.obj, "config_dir", None) or DEFAULT_CONFIG_DIR)
    try:
        result = load_directory(config_dir)
    except ConfigError as error:
        warnings = error.warnings if isinstance(error, LoadError) else ()
        if output_format == "text":
            for issue in warnings:
                click.echo(text_safe(f"warning: {issue}"), err=True)
            raise
        _emit(sorted([*error.issues, *warnings]), output_format)
        ctx.exit(1)
    violations = check_policy(policy_file, config_dir, result.campaigns, overrides, reasons)
    if output_format == "text":
        _text_ok(config_dir, result)
        for line in text_policy(violations):
            click.echo(line, err=True)
    else:
        _emit([*result.warnings, *(_policy_issue(v) for v in violations)], output_format)
    if output_format == "text":
        raise_if_blocking(violations)
    elif any(v.blocking for v in violations):
        ctx.exit(1)


def _policy_issue(violation: PolicyViolation) -> ConfigIssue:
    """A violation as an issue of the campaign's file, for JSON and GitHub annotations."""
    from reconciler.render import policy_line

    severity = "error" if violation.blocking else "warning"
    message = policy_line(violation)
    return ConfigIssue(violation.file or "", violation.line or 1, 1, (), message, severity)


def _text_ok(config_dir: Path, result: LoadResult) -> None:
    from reconciler.render import text_line_start, text_safe

    for issue in result.warnings:
        click.echo(text_safe(f"warning: {issue}"), err=True)
    counts: dict[str, int] = {}
    for campaign in result.campaigns:
        counts[campaign.kind] = counts.get(campaign.kind, 0) + 1
    detail = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
    total = len(result.campaigns)
    plural = "s" if total != 1 else ""
    click.echo(f"{text_line_start(str(config_dir))}: {total} campaign{plural} valid ({detail})")


def _emit(issues: Sequence[ConfigIssue], output_format: str) -> None:
    if output_format == "json":
        click.echo(json.dumps([issue.to_dict() for issue in issues], indent=2))
        return
    for issue in issues:
        click.echo(github_annotation(issue))


def github_annotation(issue: ConfigIssue) -> str:
    """Format an issue as a GitHub Actions workflow command (`::error file=…::message`)."""
    from reconciler.render import github_data, github_property

    text = f"{issue.field_path}: {issue.message}" if issue.path else issue.message
    where = f"file={github_property(issue.file)}"
    if issue.line:
        where += f",line={issue.line},col={issue.column}"
    return f"::{issue.severity} {where}::{github_data(text)}"
