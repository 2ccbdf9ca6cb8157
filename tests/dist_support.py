"""Building campaignctl as pip would get it, and a fresh venv to install it in, offline.

The source tree is copied (the files git tracks or would track), so a build never writes
into the repository. The fresh venv sees the test environment's third-party packages
through a `.pth` file naming a directory of links to them, campaignctl itself excluded:
installing the wheel or the sdist with `--no-index` then needs no network, and the venv's
campaignctl can only come from what was installed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 300
#: In the test environment's site-packages: campaignctl's own (editable) install.
_OURS = ("campaignctl", "__editable__", "reconciler", "_campaignctl")


def run(*command: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run a command; its output, or an AssertionError with all of it."""
    done = subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"{command} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def source_copy(target: Path) -> Path:
    """The repository's files (tracked, or new and not ignored) copied to `target`."""
    listed = run("git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", cwd=REPO)
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def build(source: Path, outdir: Path) -> tuple[Path, Path]:
    """`python -m build` of `source`: (wheel, sdist). --no-isolation: offline."""
    run(sys.executable, "-m", "build", "--no-isolation", "--outdir", outdir, source)
    (wheel,) = outdir.glob("campaignctl-*.whl")
    (sdist,) = outdir.glob("campaignctl-*.tar.gz")
    return wheel, sdist


def fresh_venv(path: Path) -> Path:
    """A new venv without campaignctl that can import its dependencies; its bin directory."""
    run(sys.executable, "-m", "venv", path)
    # An older Python's venv brings its own setuptools, too old for pyproject.toml: the
    # test environment's (the one the build-system table asks for) is used instead.
    run(path / "bin" / "python", "-m", "pip", "uninstall", "--quiet", "--yes", "setuptools")
    deps = path / "deps"
    deps.mkdir()
    ours = Path(sysconfig.get_paths()["purelib"])
    for entry in ours.iterdir():
        if not entry.name.startswith(_OURS):
            (deps / entry.name).symlink_to(entry)
    purelib = run(
        path / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    ).strip()
    (Path(purelib) / "_campaignctl_test_deps.pth").write_text(f"{deps}\n")
    return path / "bin"
