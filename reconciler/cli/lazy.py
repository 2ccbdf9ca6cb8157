"""reconciler.cli.lazy: the command table, each command imported only when it is run.

Importing every command module costs about 0.2 s (pydantic, the providers, the state
backends...) that `--help` or `validate` never use. So the group knows each command by name,
`module:attribute` and its one-line summary (click's LazyGroup pattern): the summary is what
`campaignctl --help` lists, so listing the commands imports none of them.
tests/test_cli_startup.py checks that each summary here is its command's own first sentence.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import click

__all__ = ["COMMANDS", "LazyCommand", "LazyGroup"]


@dataclass(frozen=True)
class LazyCommand:
    """Where a command lives (`module:attribute`) and the summary `--help` lists for it."""

    target: str
    summary: str


_CLI = "reconciler.cli."

#: Every top-level command. The summary is its help's first sentence (help.first_sentence).
COMMANDS: dict[str, LazyCommand] = {
    "apply": LazyCommand(
        _CLI + "cmd_apply:apply_command",
        "Apply the changes a plan shows: YAML (DIR) or a saved plan (PLANFILE).",
    ),
    "calendar": LazyCommand(
        _CLI + "cmd_calendar:calendar_command",
        "Every scheduled send (YAML and live) with what the plan does to it, and clashes.",
    ),
    "drift": LazyCommand(
        _CLI + "cmd_gitops:drift_command",
        "Show what changed outside campaignctl since the last apply.",
    ),
    "import": LazyCommand(
        _CLI + "cmd_gitops:import_command",
        "Write YAML for live campaigns and record them in state, so `plan` is then empty.",
    ),
    "plan": LazyCommand(
        _CLI + "cmd_plan:plan_command",
        "Show what apply would change: desired YAML vs state file vs live API.",
    ),
    "sandbox": LazyCommand(
        _CLI + "cmd_sandbox:sandbox_command",
        "Run the local emulator of both campaign APIs in the foreground.",
    ),
    "schema": LazyCommand(
        _CLI + "cmd_schema:schema",
        "Print the JSON Schema of campaign YAML (for yaml-language-server and other editors).",
    ),
    "show": LazyCommand(
        _CLI + "cmd_show:show_command",
        "Render a saved plan (plan --out FILE) without calling the API.",
    ),
    "state": LazyCommand(
        _CLI + "cmd_state:state",
        "Inspect and edit the state file (edits take the state lock).",
    ),
    "validate": LazyCommand(
        _CLI + "cmd_validate:validate",
        "Check the campaign YAML in DIR offline, reporting every error with its position.",
    ),
}


class LazyGroup(click.Group):
    """A click group whose commands (COMMANDS) are imported on first use.

    `prepare` is applied once to each command as it is imported (help.polish: the shared
    help texts), as it was applied to the whole tree when every command was imported.
    """

    def __init__(
        self,
        *args: object,
        lazy: dict[str, LazyCommand] | None = None,
        prepare: Callable[[click.Command], None] | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy = dict(lazy or {})
        self.prepare = prepare

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            self.add_command(self._import(cmd_name), cmd_name)
        return self.commands.get(cmd_name)

    def all_commands(self) -> dict[str, click.Command]:
        """Every command, imported (for what needs the whole tree: the single-dash hint)."""
        ctx = click.Context(self)
        found = {name: self.get_command(ctx, name) for name in self.list_commands(ctx)}
        return {name: command for name, command in found.items() if command is not None}

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's listing, with the summaries of commands not imported yet read from the
        table instead of importing them."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max((len(name) for name in names), default=0)
        rows: list[tuple[str, str]] = []
        for name in names:
            command = self.commands.get(name)
            if command is None:
                rows.append((name, self.lazy[name].summary))
            elif not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def _import(self, cmd_name: str) -> click.Command:
        module_name, attribute = self.lazy[cmd_name].target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):  # pragma: no cover - a wrong table entry
            raise TypeError(f"{self.lazy[cmd_name].target} is not a click command")
        if self.prepare is not None:
            self.prepare(command)
        return command
