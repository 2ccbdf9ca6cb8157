"""reconciler.cli.cmd_validate: `validate` (load + check offline) and `schema` (JSON Schema)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import click

from reconciler.errors import ConfigError, ConfigIssue
from reconciler.loader import LoadError, LoadResult, load_directory
from reconciler.model import KINDS, json_schema
from reconciler.render import github_data, github_property, text_line_start, text_safe
from reconciler.settings import DEFAULT_CONFIG_DIR

FORMATS = ("text", "json", "github")


def register(group: click.Group) -> None:
    """Add `validate` and `schema` to the group."""
    group.add_command(validate)
    group.add_command(schema)


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
@click.pass_context
def validate(ctx: click.Context, directory: str | None, output_format: str) -> None:
    """Check the campaign YAML in DIR offline, reporting every error with its position.

    DIR defaults to --config-dir, else campaigns.d. Exit 0 when valid, 1 when not; warnings
    (such as a send_time in the past) do not make it fail.
    """
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
    if output_format == "text":
        _text_ok(config_dir, result)
    else:
        _emit(result.warnings, output_format)


def _text_ok(config_dir: Path, result: LoadResult) -> None:
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
    text = f"{issue.field_path}: {issue.message}" if issue.path else issue.message
    return (
        f"::{issue.severity} file={github_property(issue.file)},line={issue.line},"
        f"col={issue.column}::{github_data(text)}"
    )


@click.command()
@click.option(
    "--kind",
    type=click.Choice(sorted(KINDS)),
    help="Schema of one kind only (default: a document of any kind).",
)
def schema(kind: str | None) -> None:
    """Print the JSON Schema of campaign YAML (for yaml-language-server and other editors)."""
    click.echo(json.dumps(json_schema(kind), indent=2, sort_keys=False))
