"""Start-up loads only what the command runs (issue 17): `--help` and `validate` of an empty
directory import none of the heavy libraries, and every command is still listed and runs.

Counted, not clocked: a fresh process reports its sys.modules after the command.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from conftest import run_cli

from reconciler.cli import cli
from reconciler.cli.help import first_sentence
from reconciler.cli.lazy import COMMANDS

#: Top-level libraries that cost start-up time and that neither command uses.
HEAVY = ("pydantic", "pydantic_core", "ruamel", "deepdiff", "requests", "urllib3", "boto3")
HEAVY_HELP = (*HEAVY, "psycopg", "yaml", "reconciler.model", "reconciler.loader")
HEAVY_VALIDATE_EMPTY = (*HEAVY, "psycopg", "yaml", "reconciler.model", "reconciler.providers")

#: The commands `campaignctl --help` listed before the commands became lazy.
LISTED = {
    "apply",
    "calendar",
    "drift",
    "import",
    "plan",
    "sandbox",
    "schema",
    "show",
    "state",
    "validate",
}

_SCRIPT = """
import json, sys
from reconciler.cli import run
code = run(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    json.dump({"code": code, "modules": sorted(sys.modules)}, out)
"""


def modules_after(tmp_path: Path, *args: str, cwd: Path | None = None) -> tuple[int, set[str]]:
    """Run campaignctl in a fresh interpreter; its exit code and every module it imported."""
    report = tmp_path / "modules.json"
    subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(report), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )
    result = json.loads(report.read_text())
    return int(result["code"]), set(result["modules"])


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def test_help_imports_no_heavy_library_and_no_command_module(tmp_path: Path) -> None:
    code, modules = modules_after(tmp_path, "--help")
    assert code == 0
    assert loaded(modules, HEAVY_HELP) == []
    assert [m for m in modules if m.startswith("reconciler.cli.cmd_")] == []


def test_validate_of_an_empty_directory_imports_no_heavy_library(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, modules = modules_after(tmp_path, "validate", str(empty))
    assert code == 1  # "no campaigns found", as before
    assert loaded(modules, HEAVY_VALIDATE_EMPTY) == []


def test_validate_of_a_missing_default_directory_imports_no_heavy_library(
    tmp_path: Path,
) -> None:
    code, modules = modules_after(tmp_path, "validate", cwd=tmp_path)
    assert code == 1  # campaigns.d does not exist
    assert loaded(modules, HEAVY_VALIDATE_EMPTY) == []


def test_validate_of_a_campaign_still_loads_the_model(tmp_path: Path) -> None:
    config = tmp_path / "campaigns.d"
    config.mkdir()
    (config / "a.yaml").write_text(
        "name: A\ncampaign_type: normal\nto: {type: tag, value: [x]}\n"
        "template_invoke_name: t\nsender_id: 1\nsend_time: '2099-01-01 10:00:00'\n"
    )
    code, modules = modules_after(tmp_path, "validate", str(config))
    assert code == 0
    assert "reconciler.model" in modules and "pydantic" in modules


def test_help_lists_every_command_as_before(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0
    listing = out.split("Commands:", 1)[1]
    names = {line.split()[0] for line in listing.splitlines() if line[2:3].strip()}
    assert names == LISTED == set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_listed_summary_is_the_commands_own_first_sentence(name: str) -> None:
    command = cli.get_command(click.Context(cli), name)
    assert command is not None and command.help
    assert COMMANDS[name].summary == first_sentence(command.help)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_help_works(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, name, "--help")
    assert (code, err) == (0, "")
    assert out.startswith(f"Usage: campaignctl {name} ")


def test_help_is_the_same_before_and_after_the_commands_are_imported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh = subprocess.run(
        [sys.executable, "-m", "reconciler", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={"COLUMNS": "100", "PATH": "/usr/bin:/bin"},
    ).stdout
    for name in COMMANDS:  # import every command in this process
        assert cli.get_command(click.Context(cli), name) is not None
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0
    assert " ".join(out.split()) == " ".join(fresh.split())
