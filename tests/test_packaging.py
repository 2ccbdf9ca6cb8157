"""Packaging (issue 15, item 13): `python -m build` makes a wheel and an sdist that pass
`twine check` and install into a fresh venv whose `campaignctl --version` runs.

Offline: the build uses this environment's backend (--no-isolation) and the fresh venv
reaches the dependencies through tests/dist_support.py, so pip installs with --no-index.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dist_support import REPO, build, fresh_venv, run, source_copy

VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    root = tmp_path_factory.mktemp("dist")
    yield build(source_copy(root / "src"), root / "out")


@pytest.mark.slow
def test_the_wheel_and_the_sdist_pass_twine_check(dists: tuple[Path, Path]) -> None:
    out = run(sys.executable, "-m", "twine", "check", "--strict", *dists)
    assert out.count("PASSED") == 2


@pytest.mark.slow
@pytest.mark.parametrize("which", ["wheel", "sdist"])
def test_it_installs_into_a_fresh_venv_and_runs(
    dists: tuple[Path, Path], which: str, tmp_path: Path
) -> None:
    dist = dists[0] if which == "wheel" else dists[1]
    bin_dir = fresh_venv(tmp_path / "venv")
    run(bin_dir / "python", "-m", "pip", "install", "--quiet", "--no-index",
        "--no-build-isolation", dist)  # fmt: skip
    assert run(bin_dir / "campaignctl", "--version") == f"campaignctl, version {VERSION}\n"
    where = run(
        bin_dir / "python", "-c", "import reconciler; print(reconciler.__file__)", cwd=tmp_path
    )
    assert where.startswith(str(tmp_path / "venv")), where  # the installed copy, not ours
    # The whole package is there: every subpackage imports, the sandbox answers --help.
    assert "Usage: campaignctl sandbox" in run(bin_dir / "campaignctl", "sandbox", "--help")


def test_the_wheel_holds_every_module_of_the_package(dists: tuple[Path, Path]) -> None:
    import zipfile

    names = set(zipfile.ZipFile(dists[0]).namelist())
    ours = {str(p.relative_to(REPO)) for p in (REPO / "reconciler").rglob("*.py")}
    assert ours <= names, sorted(ours - names)
