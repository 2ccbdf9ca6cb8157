"""Hostile names, keys, values, file names and API messages never reach output raw.

A campaign name is data from a YAML file in a pull request, or from the vendor's API. In a
terminal, an ESC repaints the screen; in CI, a line starting with `::` is a workflow
command; in a PR comment, `<img onerror>`, `|`, backticks and `@user` are markup. Each
output form escapes data with its own one function (render.text_safe, md_*, github_*).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reconciler.canonical import comparable, hash_write_only
from reconciler.cli import run
from reconciler.live import LiveCampaign
from reconciler.loader import load_directory
from reconciler.planner import compute_plan
from reconciler.render import render_json, render_markdown, render_text
from reconciler.sandbox import Sandbox
from reconciler.state import ManagedRecord, State

HOSTILE = [
    "\x1b[31m",
    "\x1b]8;;http://x\x07",
    "\n",
    "\r",
    "\r\n",
    "\t",
    "\x00",
    "\x7f",
    "\x9b",
    "\u2028",
    "\u202e",
    "::set-output name=x::y",
    "\n::error::pwned",
    "<img src=x onerror=alert(1)>",
    "</details>",
    "</code>",
    "|",
    "`",
    "```",
    "\\",
    "@octocat",
    "&amp;",
    "*_~",
    "[x](javascript:alert(1))",
    "![x](http://t/p.png)",
    " ",
    "a",
    "é",
    "🟡",
]
hostile_text = (
    st.lists(st.sampled_from(HOSTILE) | st.text(max_size=3), min_size=1, max_size=6)
    .map("".join)
    .filter(lambda s: s.strip() != "" and len(s) <= 60)  # names are at most 64 long
)

#: What may never appear raw: C0/C1 controls (LF only as our own line break), Unicode line
#: separators and bidi overrides.
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def assert_text_safe(output: str) -> None:
    assert not RAW.search(output), f"raw control in {output!r}"
    for line in output.split("\n"):
        assert not line.lstrip().startswith("::"), f"workflow command line {line!r}"


def assert_terminal_safe(output: str) -> None:
    """Our own colours are the only escape sequences: `ESC[<digits;>m` and nothing else."""
    assert_text_safe(re.sub("\x1b\\[[0-9;]*m", "", output))


def without_code_spans(line: str) -> str:
    """The line with GFM code spans (and backslash escapes) replaced by a placeholder."""
    out: list[str] = []
    i = 0
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line):
            out.append("E")
            i += 2
        elif line[i] == "`":
            j = i
            while j < len(line) and line[j] == "`":
                j += 1
            run_ = line[i:j]
            close = re.search(f"(?<!`){run_}(?!`)", line[j:])
            if close is None:
                out.append(run_)
                i = j
            else:
                out.append("CODE")
                i = j + close.end()
        else:
            out.append(line[i])
            i += 1
    return "".join(out)


_OUR_TAGS = re.compile(r"</?(details|summary|code)>")


def assert_markdown_safe(md: str) -> None:
    assert_text_safe(md)
    fence: str | None = None
    opened = closed = 0
    for line in md.split("\n"):
        if fence is not None:
            if line == fence:
                fence = None
            continue
        if m := re.match(r"(`{3,})diff$", line):
            fence = m.group(1)
            continue
        if line.startswith("<details>"):
            opened += 1
            rest = _OUR_TAGS.sub("", line)
        elif line == "</details>":
            closed += 1
            continue
        else:
            rest = _OUR_TAGS.sub("", without_code_spans(line))
        assert "<" not in rest, f"raw HTML in {line!r}"
        if not line.startswith("<details>"):
            assert not re.search(r"@\w", rest), f"a mention in {line!r}"
        if line.startswith("| ") and not line.startswith("| action"):
            assert len(re.findall(r"(?<!\\)\|", line)) == 5, f"table row broken: {line!r}"
    assert fence is None, "a code fence never closed"
    assert opened == closed


def yaml_str(text: str) -> str:
    """A YAML double-quoted scalar holding `text` exactly, control characters included."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + re.sub(RAW_OR_LF, lambda m: f"\\u{ord(m.group()):04x}", escaped) + '"'


RAW_OR_LF = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]")


def email_doc(name: str, subject: str) -> str:
    return (
        f"kind: EmailCampaign\nname: {yaml_str(name)}\ncampaign_type: normal\n"
        "to: {type: tag, value: [a]}\nsender_id: 53\ntemplate_invoke_name: tpl\n"
        f"subject: {yaml_str(subject)}\n"
    )


def hostile_plan(tmp: Path, sent: str, fresh: str, unmanaged: str, warning: str) -> Any:
    """A plan through the loader: `sent` blocked (it ran), `fresh` created, `unmanaged`
    live only, and a warning."""
    for index, (name, subject) in enumerate([(sent, "new " + fresh), (fresh, sent)]):
        (tmp / f"c{index}.yaml").write_text(email_doc(name, subject), encoding="utf-8")
    loaded = load_directory(tmp).campaigns
    state = State()
    live = []
    for campaign in loaded:
        if campaign.name == sent:
            canon = {**campaign.canonical(), "subject": "old"}
            state.put(ManagedRecord(campaign.kind, sent, "7", hash_write_only(canon)))
            fields = {k: v for k, v in comparable(canon).items() if k != "subject"}
            live.append(LiveCampaign(campaign.kind, "7", sent, 2, fields, ()))
    # Its own id: an id taken from the generated name could collide with the one above
    # ("7"), which would make two live campaigns one.
    live.append(LiveCampaign("EmailCampaign", "8", unmanaged, 0, {"name": unmanaged}, ()))
    plan = compute_plan(loaded, state, live, config_dir=str(tmp))
    return replace(plan, warnings=(*plan.warnings, warning))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(names=st.lists(hostile_text, min_size=4, max_size=4, unique=True))
# Found by hypothesis: an unmanaged campaign named "7" once shared the sent one's id.
@example(names=["\x1b[31m", "\x1b]8;;http://x\x07", "7", "\x1b[31m\x1b[31m"])
def test_hostile_names_never_reach_any_plan_output_raw(tmp_path: Path, names: list[str]) -> None:
    sent, fresh, unmanaged, warning = names
    directory = Path(tempfile.mkdtemp(dir=tmp_path))
    plan = hostile_plan(directory, sent, fresh, unmanaged, warning)
    assert {a.name for a in plan.actions} >= {sent, fresh, unmanaged}
    assert_text_safe(render_text(plan))
    assert_terminal_safe(render_text(plan, color=True))
    assert_markdown_safe(render_markdown(plan))
    text = render_json(plan)
    assert not RAW.search(text.replace("\n", ""))
    data = json.loads(text)
    assert {a["name"] for a in data["actions"]} >= {sent, fresh, unmanaged}  # exact, in JSON
    blocked = [a for a in data["actions"] if a["action"] == "blocked"]
    assert [a["name"] for a in blocked] == [sent]
    assert any(r["command"] and "state rm" in r["command"] for r in blocked[0]["remedies"])


@contextlib.contextmanager
def captured() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield out, err


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(key=hostile_text, value=hostile_text)
def test_hostile_yaml_keys_and_values_never_reach_validate_output_raw(
    tmp_path: Path, key: str, value: str
) -> None:
    directory = Path(tempfile.mkdtemp(dir=tmp_path))
    doc = email_doc("Fine", value) + f"{yaml_str(key)}: {yaml_str(value)}\n"
    (directory / "c.yaml").write_text(doc, encoding="utf-8")
    for fmt in ("text", "github", "json"):
        with captured() as (out, err):
            code = run(["validate", str(directory), "--format", fmt])
        assert code == 1  # the unknown key
        assert not RAW.search(out.getvalue() + err.getvalue())
        if fmt != "github":
            assert_text_safe(out.getvalue() + err.getvalue())
        else:
            for line in out.getvalue().splitlines():
                # One command per line; a `::` inside its message is data to the runner.
                assert line.startswith(("::error file=", "::warning file=")), line


# --------------------------------------------------------------------------- concrete


#: ESC and C1 CSI (\x9b) colour codes, a Unicode line separator, a forged workflow command.
EVIL = "Evil\x1b[31m\x9b31m\u2028\n::set-output name=pwned::1"


def test_text_plan_shows_a_hostile_name_escaped_on_its_one_line(tmp_path: Path) -> None:
    plan = hostile_plan(tmp_path, EVIL, "Fresh", "<b>x</b>", "w\x1b[2J")
    text = render_text(plan)
    assert '"Evil\\u001b[31m\\x9b31m\\u2028\\n::set-output name=pwned::1"' in text
    assert "warning: w\\x1b[2J" in text
    assert_text_safe(text)


def test_markdown_plan_neutralises_html_tables_code_and_mentions() -> None:
    from reconciler.plan import Action, ActionKind, Plan, Reason

    name = "<img src=x onerror=alert(1)>|`x`</details>@octocat"
    action = Action(
        ActionKind.DELETE, "EmailCampaign", name, "1", Reason.DELETE_BECAUSE_NO_CONFIG, "m"
    )
    md = render_markdown(Plan(actions=(action,), warnings=(f"--target {name} matched nothing",)))
    assert "| ``<img src=x onerror=alert(1)>\\|`x`</details>@octocat`` |" in md  # a code span
    assert "<code>&lt;img src=x onerror=alert(1)&gt;|`x`&lt;/details&gt;@octocat</code>" in md
    assert "&lt;img src=x onerror=alert(1)&gt;\\|\\`x\\`&lt;/details&gt;@\u2060octocat" in md
    assert_markdown_safe(md)


def test_cli_plan_of_a_hostile_name_is_escaped_in_text_and_markdown(
    sandbox_env: Sandbox, in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (in_tmp_path / "campaigns.d").mkdir()
    (in_tmp_path / "campaigns.d" / "a.yaml").write_text(email_doc(EVIL, EVIL), encoding="utf-8")
    code, out, err = run_cli(capsys, "plan", "--format", "text")
    assert code == 0, err
    assert "\\x9b31m\\u2028" in out
    assert_text_safe(out + err)
    code, out, err = run_cli(capsys, "plan", "--format", "markdown")
    assert code == 0, err
    assert "`Evil\\x1b[31m\\x9b31m\\u2028\\n::set-output name=pwned::1`" in out
    assert_markdown_safe(out)


def test_config_error_in_a_hostile_file_name_is_one_safe_line(
    in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = in_tmp_path / "campaigns.d"
    directory.mkdir()
    (directory / "x\x1b[31m\n::error::y.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "validate", str(directory))
    assert code == 1
    assert "x\\x1b[31m\\n::error::y.yaml" in err
    assert_text_safe(out + err)
    code, out, _ = run_cli(capsys, "validate", str(directory), "--format", "github")
    assert "file=" in out and "%0A%3A%3Aerror%3A%3Ay.yaml" in out
    assert not RAW.search(out)
    assert [line[:13] for line in out.splitlines()] == ["::error file="]  # one command


def test_validate_ok_line_never_starts_with_a_workflow_command(
    in_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = in_tmp_path / "::warning::pwned"
    directory.mkdir()
    (directory / "a.yaml").write_text(email_doc("A", "s"), encoding="utf-8")
    code, out, err = run_cli(capsys, "validate", "::warning::pwned")
    assert code == 0, err
    assert out.startswith("./::warning::pwned: 1 campaign valid")
    assert_text_safe(out + err)


def test_click_usage_error_quoting_what_was_typed_is_escaped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run_cli(capsys, "plan", "--no-such\x1b[31m\n::error::x")
    assert code == 1
    assert "--no-such\\x1b[31m\\n::error::x" in err
    assert_text_safe(err)


class _HostileApi(BaseHTTPRequestHandler):
    """An API that refuses every request with an error message full of control codes."""

    def do_GET(self) -> None:
        body = json.dumps({"code": 32199, "message": f"bad\x1b[2J\r\n::set-output name=x::{EVIL}"})
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body.encode())))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        pass


def test_api_error_message_is_printed_escaped(
    in_tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HostileApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("CAMPAIGNCTL_API_URL", f"http://127.0.0.1:{server.server_port}")
        monkeypatch.setenv("ENGAGELAB_API_USER", "u")
        monkeypatch.setenv("ENGAGELAB_API_KEY", "k")
        (in_tmp_path / "campaigns.d").mkdir()
        (in_tmp_path / "campaigns.d" / "a.yaml").write_text(email_doc("A", "s"), encoding="utf-8")
        code, out, err = run_cli(capsys, "plan")
    finally:
        server.shutdown()
        server.server_close()
    assert code == 1
    # The provider puts a quoted error on one line (whitespace runs collapsed); the escaping
    # then makes the escape sequences visible.
    assert "bad\\x1b[2J ::set-output" in err
    assert_text_safe(out + err)


def test_log_warning_naming_a_hostile_path_is_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Log lines (state.py's warnings) go through the CLI's log formatter: made safe too."""
    directory = tmp_path / "e\x1b[31m\n::error::x"
    directory.mkdir()
    (directory / "s.json.lock").write_text("garbage", encoding="utf-8")
    code, out, err = run_cli(capsys, "--state", str(directory / "s.json"), "state", "rm", "foo")
    assert code == 1
    assert "warning: taking over an unreadable lock file" in err
    assert "e\\x1b[31m\\n::error::x" in err
    assert_text_safe(out + err)
