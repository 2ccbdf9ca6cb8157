"""The console entry point ends the process once its output is flushed, without the
interpreter's teardown (a last full collection, then freeing every object one by one)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import run_python

ENTRY = """
import atexit, sys
atexit.register(lambda: sys.stderr.write("teardown ran\\n"))
from reconciler.cli import main
main(sys.argv[1:])
"""


def _entry(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_python(ENTRY, *args, cwd=cwd, check=False)


def test_the_entry_point_flushes_its_output_and_skips_the_teardown(tmp_path: Path) -> None:
    done = _entry("--help", cwd=tmp_path)
    assert done.returncode == 0
    assert "Usage: campaignctl" in done.stdout and done.stdout.endswith("\n")
    assert "teardown ran" not in done.stderr


def test_the_exit_code_and_the_error_text_are_kept(tmp_path: Path) -> None:
    (tmp_path / "campaigns.d").mkdir()
    (tmp_path / "campaigns.d" / "a.yaml").write_text("name: [unclosed\n")
    done = _entry("validate", "campaigns.d", cwd=tmp_path)
    assert done.returncode == 1
    assert "a.yaml:2:1: invalid YAML" in done.stderr
    assert "teardown ran" not in done.stderr


def test_output_larger_than_a_pipe_buffer_arrives_whole(tmp_path: Path) -> None:
    config = tmp_path / "campaigns.d"
    config.mkdir()
    for i in range(300):
        (config / f"c{i:03d}.yaml").write_text(
            f"name: Campaign number {i} with a long enough name to fill the pipe\n"
            "campaign_type: normal\nto: {type: tag, value: [x]}\nsender_id: '1'\n"
            "template_invoke_name: t\n"
        )
    done = _entry("plan", "campaigns.d", "--sandbox", "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout) > 65_536
    assert done.stdout.rstrip().endswith("}")
    assert done.stdout.count('"action": "create"') == 300


def test_a_run_under_cprofile_still_writes_its_profile(tmp_path: Path) -> None:
    out = tmp_path / "run.prof"
    done = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "reconciler", "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Usage: campaignctl" in done.stdout
    assert out.stat().st_size > 0
