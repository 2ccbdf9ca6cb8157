"""reconciler.cli.help: help that answers: whole command summaries, exit codes, target forms.

Applied to each command as the group imports it (`polish`), so the texts
several commands share live in one place (docs/reference/commands.md "Exit codes"). Also
the hint for a Terraform-style single-dash long option (`-detailed-exitcode`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import click

from reconciler.cli.lazy import LazyGroup

__all__ = [
    "EXCLUDE_HELP",
    "EXIT_CODES",
    "TARGET_HELP",
    "first_sentence",
    "polish",
    "single_dash_hint",
]

#: The forms `--target` takes; the same forms for `--exclude`.
TARGET_HELP = (
    "Only this campaign: NAME, KIND/NAME or a glob (`Spring*`, `EmailCampaign/*`); repeat "
    "for more. Every unknown target is warned about."
)
EXCLUDE_HELP = "Leave out this campaign: NAME, KIND/NAME or a glob (`Test *`); repeat for more."

#: Each command's exit codes as its --help epilog (`\b`: click keeps the lines as written).
#: The table in README "Exit codes" says the same; 2 is "changes" or "drift", nothing else.
EXIT_CODES: dict[str, str] = {
    "plan": "\b\nExit codes:\n"
    "  0    success (with --detailed-exitcode: no changes)\n"
    "  1    error, usage error, or a plan refused without --force\n"
    "  2    changes to apply (only with --detailed-exitcode)\n"
    "  130  interrupted (Ctrl-C or SIGTERM)",
    "apply": "\b\nExit codes:\n"
    "  0    everything applied\n"
    "  1    error, usage error, or a step failed\n"
    "  3    nothing failed, but some steps were blocked (the campaign already ran)\n"
    "  130  interrupted (Ctrl-C or SIGTERM), after the steps in flight finished\n"
    "apply never exits 2: that is plan's and drift's \"changes\".",
    "drift": "\b\nExit codes:\n"
    "  0    no drift\n"
    "  1    error or usage error\n"
    "  2    drift found\n"
    "  130  interrupted (Ctrl-C or SIGTERM)",
}

_SINGLE_DASH_LONG = re.compile(r"-([A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)+|[A-Za-z]{3,})(=.*)?")


def first_sentence(text: str) -> str:
    """The first sentence of a help text's first paragraph, whole (click cuts it at 45)."""
    words = text.split("\n\n", 1)[0].split()
    if words and words[0] == "\b":
        words = words[1:]
    for index, word in enumerate(words):
        if word.endswith("."):
            return " ".join(words[: index + 1])
    return " ".join(words)


def polish(command: click.Command) -> None:
    """Set the shared help texts on `command` and every command below it."""
    if command.short_help is None and command.help:
        command.short_help = first_sentence(command.help)
    if command.name in EXIT_CODES:
        command.epilog = EXIT_CODES[command.name]
    for param in command.params:
        if isinstance(param, click.Option):
            if "--target" in param.opts:
                param.help = TARGET_HELP
            elif "--exclude" in param.opts:
                param.help = EXCLUDE_HELP
    # A LazyGroup polishes each command as it imports it (lazy.LazyGroup.prepare).
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            polish(sub)


def _long_options(command: click.Command) -> Iterable[str]:
    for param in command.params:
        yield from (opt for opt in getattr(param, "opts", ()) if opt.startswith("--"))
    if isinstance(command, LazyGroup):
        for sub in command.all_commands().values():
            yield from _long_options(sub)
    elif isinstance(command, click.Group):
        for sub in command.commands.values():
            yield from _long_options(sub)


def single_dash_hint(root: click.Command, argv: Sequence[str]) -> str | None:
    """`did you mean --detailed-exitcode?` for a Terraform habit (`-detailed-exitcode`),
    which click reads as the short options `-d -e ...`; None when no argument is one."""
    known = set(_long_options(root))
    for arg in argv:
        if arg == "--":
            break
        match = _SINGLE_DASH_LONG.fullmatch(arg)
        if match and f"-{arg.split('=', 1)[0]}" in known:
            meant = f"-{arg}"
            return (
                f"did you mean `{meant}`? campaignctl's long options take two dashes "
                "(Terraform's take one)"
            )
    return None
