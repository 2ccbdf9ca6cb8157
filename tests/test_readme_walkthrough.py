"""The README's walkthrough section, run command by command as a user would.

Rules of that section:
- Fenced ```console and ```sh blocks run in document order; other blocks are not run.
- In ```console blocks a line starting with `$ ` is a command; the lines after it are its
  sample output, and each one (stripped, unless it holds `…`) must appear in the real
  output. In ```sh blocks every non-blank line is a command.
- A command ending in `# exits N` must exit N; every other command must exit 0.
- `campaignctl sandbox --port 8400` is terminal 1: it is started in the background with
  `--port 0`, and its first stdout line (the URL) replaces `http://127.0.0.1:8400` in
  every later command and sample line.
All other commands run in one bash session (so `export` and `cd` carry over), in a copy
of the repository's layout, with the virtualenv's `campaignctl` on PATH.
"""

from __future__ import annotations

import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
WALKTHROUGH_HEADING = "## Walkthrough"
BIN = Path(sys.executable).parent
DOC_URL = "http://127.0.0.1:8400"
STARTUP_TIMEOUT_S = 20
RUN_TIMEOUT_S = 120

_BLOCK = re.compile(r"^```(console|sh)\n(.*?)^```", re.MULTILINE | re.DOTALL)
_EXITS = re.compile(r"#\s*exits\s+(\d+)\b")


@dataclass
class Step:
    command: str
    exit_code: int = 0
    sample: list[str] = field(default_factory=list)

    @property
    def is_sandbox(self) -> bool:
        return self.command.startswith("campaignctl sandbox")


def walkthrough_text() -> str:
    """The README's walkthrough section: from its heading to the next `## ` heading."""
    readme = README.read_text(encoding="utf-8")
    start = readme.index(WALKTHROUGH_HEADING)
    following = re.search(r"^## ", readme[start + len(WALKTHROUGH_HEADING) :], re.MULTILINE)
    end = start + len(WALKTHROUGH_HEADING) + following.start() if following else len(readme)
    return readme[start:end]


def parse_steps(text: str) -> list[Step]:
    """The commands of the document in order, with expected exit codes and sample output."""
    steps: list[Step] = []
    for kind, body in _BLOCK.findall(text):
        lines = body.splitlines()
        index = 0
        while index < len(lines):
            line = lines[index]
            index += 1
            if kind == "console" and not line.startswith("$ "):
                if steps and line.strip():
                    steps[-1].sample.append(line)
                continue
            command = line[2:] if kind == "console" else line
            while command.endswith("\\") and index < len(lines):
                command = command[:-1] + lines[index].lstrip("$ ")
                index += 1
            if not command.strip():
                continue
            match = _EXITS.search(command)
            steps.append(Step(command.strip(), int(match.group(1)) if match else 0))
    return steps


def clean_env(home: Path) -> dict[str, str]:
    return {
        "PATH": f"{BIN}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "NO_COLOR": "1",
    }


class Terminal1:
    """`campaignctl sandbox` in the background; its stdout lines arrive on a queue."""

    def __init__(self, command: str, cwd: Path, env: dict[str, str]) -> None:
        argv = shlex.split(command.replace("--port 8400", "--port 0"))
        self.process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def read_banner(self, wanted: list[str]) -> list[str]:
        """The first line (the URL), then lines until every wanted line was seen."""
        seen: list[str] = []
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if seen:
                url = seen[0]
                if all(w.replace(DOC_URL, url).strip() in seen for w in wanted):
                    break
            try:
                seen.append(self.lines.get(timeout=0.2).strip())
            except queue.Empty:
                if self.process.poll() is not None:
                    break
        return seen

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            return -9


def run_session(
    steps: list[Step], cwd: Path, env: dict[str, str], out: Path
) -> list[tuple[int, str]]:
    """Run the commands in one bash session; return each one's exit code and output."""
    script = ["set +e"]
    for number, step in enumerate(steps):
        script.append(f"{{ {step.command}\n}} > {out}/{number}.out 2>&1 < /dev/null")
        script.append(f"echo $? > {out}/{number}.rc")
    subprocess.run(
        ["bash", "--noprofile", "--norc", "-c", "\n".join(script)],
        cwd=cwd,
        env=env,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    results = []
    for number in range(len(steps)):
        rc_file = out / f"{number}.rc"
        code = int(rc_file.read_text()) if rc_file.exists() else -1
        results.append((code, (out / f"{number}.out").read_text() if code != -1 else ""))
    return results


def check_sample(step: Step, output: str, url: str) -> None:
    for line in step.sample:
        expected = line.replace(DOC_URL, url).strip()
        if "…" in expected:
            continue
        assert expected in output, f"{step.command!r}: expected {expected!r} in:\n{output}"


def test_the_document_has_the_promised_steps() -> None:
    steps = parse_steps(walkthrough_text())
    commands = [s.command for s in steps]
    assert steps[0].is_sandbox
    assert any(c.startswith("campaignctl import") for c in commands)
    assert any(c.startswith("campaignctl plan") for c in commands)
    assert any(c.startswith("campaignctl apply") for c in commands)
    assert any("/_admin/" in c for c in commands)
    assert any(
        c.startswith("campaignctl drift") and s.exit_code == 2
        for c, s in zip(commands, steps, strict=True)
    )
    assert all(s.sample for s in steps if s.command.startswith("campaignctl ") and not s.is_sandbox)


@pytest.mark.slow
def test_walkthrough_runs_as_written(tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("the walkthrough needs curl")
    steps = parse_steps(walkthrough_text())
    workspace = tmp_path / "campaignctl"
    shutil.copytree(REPO / "campaigns.d", workspace / "campaigns.d")
    (workspace / "state").mkdir()
    env = clean_env(tmp_path)
    sandbox_step, rest = steps[0], steps[1:]
    assert sandbox_step.is_sandbox
    terminal1 = Terminal1(sandbox_step.command, workspace, env)
    try:
        banner = terminal1.read_banner(sandbox_step.sample)
        assert banner, "the sandbox printed nothing"
        url = banner[0]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url), banner
        check_sample(sandbox_step, "\n".join(banner), url)
        for step in rest:
            step.command = step.command.replace(DOC_URL, url)
        out = tmp_path / "out"
        out.mkdir()
        results = run_session(rest, workspace, env, out)
        for step, (code, output) in zip(rest, results, strict=True):
            assert code == step.exit_code, f"{step.command!r} exited {code}:\n{output}"
            check_sample(step, output, url)
    finally:
        stopped = terminal1.stop()
    assert stopped == 0, "the sandbox must exit 0 on Ctrl-C (SIGINT)"
    assert (workspace / "demo" / "campaigns.d" / "winter-sale.yaml").read_text().count(
        "reply_to:"
    ) == 1
