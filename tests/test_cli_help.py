"""Help that answers (issue 15 item 9): whole summaries, env vars, exit codes, target forms,
a hint for Terraform's single-dash options, and `--version`."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import click
import pytest
from conftest import run_cli

from reconciler.cli import cli
from reconciler.cli.help import first_sentence


def flat(text: str) -> str:
    """Help text with its wrapping undone: one space between words."""
    return " ".join(text.split())


def help_of(capsys: pytest.CaptureFixture[str], *command: str) -> str:
    code, out, err = run_cli(capsys, *command, "--help")
    assert (code, err) == (0, "")
    return out


def commands_of(group: click.Group) -> dict[str, click.Command]:
    """A group's commands through click's API (the CLI imports each command on first use)."""
    ctx = click.Context(group)
    found = {name: group.get_command(ctx, name) for name in group.list_commands(ctx)}
    return {name: command for name, command in found.items() if command is not None}


def all_groups() -> list[tuple[tuple[str, ...], click.Group]]:
    groups: list[tuple[tuple[str, ...], click.Group]] = [((), cli)]
    for name, sub in commands_of(cli).items():
        if isinstance(sub, click.Group):
            groups.append(((name,), sub))
    return groups


@pytest.mark.parametrize(
    ("path", "group"), all_groups(), ids=[" ".join(p) or "campaignctl" for p, _ in all_groups()]
)
def test_command_summaries_are_whole_first_sentences(
    path: tuple[str, ...], group: click.Group, capsys: pytest.CaptureFixture[str]
) -> None:
    listing = flat(help_of(capsys, *path).split("Commands:", 1)[1])
    assert "..." not in listing
    for name, command in commands_of(group).items():
        sentence = first_sentence(command.help or "")
        assert f"{name} {sentence}" in listing, name


def test_every_global_option_shows_its_environment_variable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = flat(help_of(capsys))
    for param in cli.params:
        if not isinstance(param, click.Option) or param.name in ("help", "version"):
            continue
        # NO_COLOR is read by the renderers, not click (any value counts, per no-color.org).
        envvar = "NO_COLOR" if param.name == "no_color" else param.envvar
        assert isinstance(envvar, str), param.opts
        assert f"env var: {envvar}" in text, param.opts


def test_config_dir_from_its_environment_variable(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "bad.yaml").write_text("name: X\ncampaign_type: nope\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CAMPAIGNCTL_CONFIG_DIR", "elsewhere")
    code, _, err = run_cli(capsys, "validate")
    assert code == 1
    assert "bad.yaml:2" in err


@pytest.mark.parametrize(
    ("command", "codes"),
    [
        ("plan", ("0", "1", "2", "130")),
        ("apply", ("0", "1", "3", "130")),
        ("drift", ("0", "1", "2", "130")),
    ],
)
def test_plan_apply_and_drift_help_list_their_exit_codes(
    command: str, codes: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    text = help_of(capsys, command)
    section = text.split("Exit codes:", 1)[1].splitlines()
    listed = [line.split()[0] for line in section if line.strip()[:1].isdigit()]
    assert tuple(listed) == codes


@pytest.mark.parametrize("command", ["plan", "apply", "calendar"])
def test_target_help_names_the_forms_it_takes(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = flat(help_of(capsys, command))
    target = text.split("--target", 1)[1]
    assert "NAME, KIND/NAME or a glob" in target


def test_terraform_single_dash_option_gets_did_you_mean(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run_cli(capsys, "plan", "-detailed-exitcode")
    assert code == 1 and out == ""
    assert "hint: did you mean `--detailed-exitcode`?" in err


def test_single_dash_hint_also_for_a_value_option(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "apply", "-auto-approve")
    assert code == 1
    assert "did you mean `--auto-approve`?" in err


def test_unknown_single_dash_word_gets_no_invented_hint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run_cli(capsys, "plan", "-no-such-thing")
    assert code == 1
    assert "did you mean `--" not in err


def test_version_from_a_real_process() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == f"campaignctl, version {version('campaignctl')}\n"


def test_first_sentence_keeps_the_whole_sentence_or_the_paragraph() -> None:
    assert first_sentence("\b\nOne line, no full stop\n\nMore.") == "One line, no full stop"
    assert first_sentence("A sentence, e.g. this one. Another.") == "A sentence, e.g."


def test_polish_writes_the_forms_into_exclude_too() -> None:
    from reconciler.cli.help import EXCLUDE_HELP, polish

    @click.command()
    @click.option("--exclude", multiple=True)
    def probe(exclude: tuple[str, ...]) -> None:
        """Probe."""

    polish(probe)
    (option,) = probe.params
    assert option.help == EXCLUDE_HELP and "KIND/NAME or a glob" in EXCLUDE_HELP


def test_no_hint_for_an_argument_after_double_dash() -> None:
    from reconciler.cli.help import single_dash_hint

    assert single_dash_hint(cli, ["plan", "--", "-detailed-exitcode"]) is None
    assert single_dash_hint(cli, ["plan", "-prune"]) is not None
