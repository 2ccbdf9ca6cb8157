"""reconciler.cli.cmd_state: the `state` command group."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    """Add this module's commands to the group (not yet built)."""
