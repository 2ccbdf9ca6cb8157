"""reconciler.cli.cmd_schema: `schema`, the JSON Schema of campaign YAML for editors."""

from __future__ import annotations

import json

import click

from reconciler.model import KINDS, json_schema


@click.command()
@click.option(
    "--kind",
    type=click.Choice(sorted(KINDS)),
    help="Schema of one kind only (default: a document of any kind).",
)
def schema(kind: str | None) -> None:
    """Print the JSON Schema of campaign YAML (for yaml-language-server and other editors)."""
    click.echo(json.dumps(json_schema(kind), indent=2, sort_keys=False))
