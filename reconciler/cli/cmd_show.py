"""reconciler.cli.cmd_show: the `show PLANFILE` command: a saved plan rendered, offline.

For a pipeline's review step: the plan a later `apply PLANFILE` runs, in text, JSON or
Markdown, without the API or credentials (nothing is read but the file; see
docs/reference/commands.md).
"""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli import EXIT_OK

__all__: list[str] = []

FORMATS = ("text", "json", "markdown")


@click.command("show")
@click.argument("planfile", type=click.Path(path_type=Path), metavar="PLANFILE")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
def show_command(planfile: Path, fmt: str) -> int:
    """Render a saved plan (plan --out FILE) without calling the API."""
    from reconciler.cli.cmd_apply import load_saved_plan
    from reconciler.cli.cmd_plan import render_plan

    plan = load_saved_plan(planfile)
    click.echo(render_plan(plan, fmt).rstrip("\n"))
    return EXIT_OK
