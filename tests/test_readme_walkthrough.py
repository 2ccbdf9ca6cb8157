"""The README's walkthrough section, run command by command as a user would.

Rules of that section:
- Fenced ```console and ```sh blocks run in document order; other blocks are not run.
- In ```console blocks a line starting with `$ ` is a command; the lines after it (up to the
  next command or the block's end, trailing blank lines dropped) are its output, exactly:
  stdout and stderr together must be those lines, blank lines included, nothing more. A `…`
  in a line stands for any text within that line (a value that changes between runs, such
  as a lock id or a time); every other character is literal. A command followed by no
  lines, and every command of a ```sh block (each non-blank line is one), prints nothing.
- A command ending in `# exits N` must exit N; every other command must exit 0.
- `campaignctl sandbox --port 8400` is terminal 1: it is started in the background with
  `--port 0`, and its first stdout line (the URL) replaces `http://127.0.0.1:8400` in
  every later command and sample line. Its block is its whole banner, the lines it prints
  before it waits for requests; after Ctrl-C it prints only `sandbox stopped`.
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
                if steps:
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
    for step in steps:
        while step.sample and not step.sample[-1].strip():
            step.sample.pop()
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
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def read_lines(self, count: int) -> list[str]:
        """The next `count` lines (fewer if the process ends or the startup time runs out)."""
        seen: list[str] = []
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while len(seen) < count and time.monotonic() < deadline:
            try:
                seen.append(self.lines.get(timeout=0.2))
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    break
        return seen

    def rest(self) -> list[str]:
        """The lines printed after the banner, once the process has ended."""
        self.pump.join(timeout=STARTUP_TIMEOUT_S)  # its stdout is at EOF: the pump ends
        out: list[str] = []
        while not self.lines.empty():
            out.append(self.lines.get_nowait())
        return out

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


def line_pattern(sample: str, url: str) -> re.Pattern[str]:
    """A sample line as a pattern: literal but for `…` (any text) and the documented URL."""
    literal = sample.replace(DOC_URL, url)
    return re.compile(".*".join(re.escape(part) for part in literal.split("…")))


def check_sample(step: Step, output: str, url: str) -> None:
    """The step printed exactly its sample lines (see the module docstring)."""
    lines = output.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    shown = "\n".join(step.sample)
    message = f"{step.command!r} printed:\n{output}\nbut the README shows:\n{shown}"
    assert len(lines) == len(step.sample), message
    for line, sample in zip(lines, step.sample, strict=True):
        assert line_pattern(sample, url).fullmatch(line), message


def test_sample_lines_match_exactly_but_for_the_marker() -> None:
    url = "http://127.0.0.1:5"
    step = Step("x", sample=["lock 0b6f… held", f"at {DOC_URL}", "", "done."])
    check_sample(step, "lock 0b6f12ab held\nat http://127.0.0.1:5\n\ndone.\n", url)
    for wrong in (
        "lock 0b6f12ab held\nat http://127.0.0.1:5\ndone.\n",  # a blank line missing
        "lock 0b6f12ab held\nat http://127.0.0.1:5\n\ndone.\nmore\n",  # a line more
        "lock 1b6f12ab held\nat http://127.0.0.1:5\n\ndone.\n",  # literal text differs
        "lock 0b6f12ab held\nat http://127.0.0.1:5\n\ndone!\n",  # "." is not a wildcard
    ):
        with pytest.raises(AssertionError):
            check_sample(step, wrong, url)


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
        banner = terminal1.read_lines(len(sandbox_step.sample))
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
    assert terminal1.rest() == ["sandbox stopped"], "the banner is longer than the README shows"
    assert (workspace / "demo" / "campaigns.d" / "winter-sale.yaml").read_text().count(
        "reply_to:"
    ) == 1


def test_every_console_block_of_the_readme_is_in_the_walkthrough() -> None:
    """A console block claims to be what the tool prints: only the walkthrough's are run and
    compared, so there must be no other (a plain ``` block shows output not checked here)."""
    readme = README.read_text(encoding="utf-8")
    everywhere = [m.group(0) for m in _BLOCK.finditer(readme) if m.group(1) == "console"]
    walked = [m.group(0) for m in _BLOCK.finditer(walkthrough_text()) if m.group(1) == "console"]
    assert everywhere == walked
