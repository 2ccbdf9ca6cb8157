"""Issue 12, item 8: no form of any secret reaches output, a plan file or a state file.

A hostile server (tests/hostile) echoes every request header back, plus the decoded Basic
pair and re-encodings of it, in each kind of answer a client quotes: a JSON error, a text
error, HTML 500/502 pages, a 200 that is not JSON, a 200 JSON of the wrong shape. Every
command that talks to the APIs runs against it; the test looks for every spelling of every
secret (raw in any case, base64 padded or not, URL-safe, percent-encoded, JSON-escaped).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote as url_quote

import pytest
from conftest import run_cli
from hostile import Answer, HostileServer, Request, hostile
from pydantic import SecretStr

from reconciler.errors import InsecureUrlError
from reconciler.providers.http import ApiClient, RetryConfig, basic_auth
from reconciler.settings import check_url, resolve_url

if TYPE_CHECKING:
    from reconciler.sandbox import Sandbox

__all__ = ["hostile"]  # the fixture, imported for pytest

USER = "ops-user@example.com"
KEY = "Zm9vYmFy/KEY+s3cr3t=9"
IMBRACE_KEY = "imb_live_K3y/With+Odd=Chars"
BASIC = base64.b64encode(f"{USER}:{KEY}".encode()).decode()
SECRETS = (KEY, IMBRACE_KEY, BASIC)


def u_escaped(text: str) -> str:
    """Every character as a JSON `\\uXXXX` escape."""
    return "".join("\\u%04x" % ord(ch) for ch in text)  # noqa: UP031 - no backslash in f-string


def spellings(secret: str) -> set[str]:
    """Every form the test looks for, lower-cased (the search is case-insensitive)."""
    raw = secret.encode()
    forms = {
        secret,
        secret.rstrip("="),
        url_quote(secret, safe=""),
        json.dumps(secret)[1:-1].replace("/", "\\/"),
        u_escaped(secret),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }
    if secret == BASIC:
        forms.add(BASIC.rstrip("=").replace("+", "-").replace("/", "_"))
    return {form.lower() for form in forms}


ALL_SPELLINGS = set().union(*(spellings(s) for s in SECRETS))


def leaks(text: str) -> list[str]:
    lowered = text.lower()
    return sorted(form for form in ALL_SPELLINGS if form in lowered)


def echo_of(request: Request) -> str:
    """What a broken proxy echoes: re-encodings of the credentials first (so that no cut of
    a long error text hides them), then every header as sent."""
    lines = []
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Basic "):
        token = auth.removeprefix("Basic ")
        pair = base64.b64decode(token).decode()
        lines += [
            f"decoded: {pair}",
            f"nopad: {token.rstrip('=')}",
            f"urlsafe: {base64.urlsafe_b64encode(pair.encode()).decode().rstrip('=')}",
            f"pct: {url_quote(pair, safe='')}",
        ]
    key = request.headers.get("x-api-key")
    if key is not None:
        lines += [f"escaped: {u_escaped(key)}", f"pct: {url_quote(key, safe='')}", key.upper()]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    return "\n".join(lines)


def _html(echo: str, title: bool) -> bytes:
    head = f"<head><title>Bad Gateway {echo}</title></head>" if title else ""
    return f"<html>{head}<body><h1>Error</h1><pre>{echo}</pre></body></html>".encode()


#: Answer styles: a function of the echo text -> (status, content type, body).
STYLES: dict[str, Callable[[str], Answer]] = {
    "400-json": lambda e: Answer(400, json.dumps({"code": 400, "message": e}).encode()),
    "400-text": lambda e: Answer(400, e.encode(), {"Content-Type": "text/plain"}),
    "500-html": lambda e: Answer(500, _html(e, True), {"Content-Type": "text/html"}),
    "502-html": lambda e: Answer(502, _html(e, False), {"Content-Type": "text/html"}),
    "200-not-json": lambda e: Answer(200, (e + '{"result": [').encode()),
    "200-wrong-shape": lambda e: Answer(200, json.dumps({"unexpected": e}).encode()),
    "200-bad-campaign": lambda e: Answer(
        200, json.dumps({"result": [{"name": e}], "data": [{"name": e}], "total": 1}).encode()
    ),
}
#: A GET answered with a 5xx is retried with backoff: the CLI runs use the styles that
#: answer at once; the 5xx pages are served to POSTs (apply) and to a client with no retries.
GET_STYLES = ("400-json", "400-text", "200-not-json", "200-wrong-shape", "200-bad-campaign")
POST_STYLES = ("400-json", "400-text", "500-html", "502-html", "200-not-json", "200-wrong-shape")

EMPTY_LISTS = json.dumps({"result": [], "total": 0, "data": []}).encode()

CONFIG = {
    "email.yaml": (
        "kind: EmailCampaign\nname: spring\ncampaign_type: normal\n"
        "to: {type: tag, value: [lapsed]}\nsender_id: 53\ntemplate_invoke_name: tpl\n"
        "subject: Hello\n"
    ),
    "journey.yaml": (
        "kind: MessagingCampaign\nname: journey\nchannel_type: whatsapp\n"
        "touchpoints:\n  - {name: hello, type: message, message: Hi}\n"
    ),
}


@pytest.fixture
def rig(hostile: HostileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Config in tmp_path (the cwd), both API URLs at the hostile server, the secrets set."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "campaigns.d").mkdir()
    for name, text in CONFIG.items():
        (tmp_path / "campaigns.d" / name).write_text(text)
    monkeypatch.setenv("CAMPAIGNCTL_API_URL", hostile.url)
    monkeypatch.setenv("CAMPAIGNCTL_TOUCHPOINT_API_URL", hostile.url)
    monkeypatch.setenv("ENGAGELAB_API_USER", USER)
    monkeypatch.setenv("ENGAGELAB_API_KEY", KEY)
    monkeypatch.setenv("IMBRACE_API_KEY", IMBRACE_KEY)
    return tmp_path


def files_text(root: Path) -> str:
    """Every file the run may have written (state, plan, lock), concatenated."""
    return "\n".join(
        p.read_text("utf-8", "replace")
        for p in sorted(root.rglob("*"))
        if p.is_file() and "campaigns.d" not in p.parts
    )


def test_the_echo_holds_every_spelling_so_the_test_can_fail(hostile: HostileServer) -> None:
    request = Request(
        "GET", "/", {"Authorization": f"Basic {BASIC}", "x-api-key": IMBRACE_KEY}, b""
    )
    echoed = echo_of(request)
    for secret in SECRETS:
        assert secret.lower() in echoed.lower()
    assert len(leaks(echoed)) >= 6


def _state_from_the_sandbox(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Apply the config to the real sandbox, so that `drift` has a state to compare."""
    with monkeypatch.context() as env:
        env.setenv("CAMPAIGNCTL_API_URL", sandbox.url)
        env.setenv("CAMPAIGNCTL_TOUCHPOINT_API_URL", sandbox.url)
        env.setenv("ENGAGELAB_API_USER", sandbox.api_user)
        env.setenv("ENGAGELAB_API_KEY", sandbox.api_key)
        env.setenv("IMBRACE_API_KEY", sandbox.imbrace_api_key)
        code, out, err = run_cli(capsys, "apply", "--auto-approve")
        assert code == 0, out + err


@pytest.mark.parametrize("style", GET_STYLES)
@pytest.mark.parametrize("command", ["plan", "drift", "import"])
def test_no_secret_in_output_of_reads_against_an_echoing_server(
    rig: Path,
    hostile: HostileServer,
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
    style: str,
) -> None:
    if command == "drift":
        _state_from_the_sandbox(sandbox, monkeypatch, capsys)
    hostile.script = lambda request: STYLES[style](echo_of(request))
    args = [command, "--out", "saved.plan"] if command == "plan" else [command]
    code, out, err = run_cli(capsys, *args)
    assert code != 0, out + err
    assert hostile.requests, "the server was never asked"
    assert "error" in err.lower()
    assert leaks(out + err) == []
    assert leaks(files_text(rig)) == []


@pytest.mark.parametrize("style", POST_STYLES)
def test_no_secret_in_output_or_state_of_an_apply_against_an_echoing_server(
    rig: Path, hostile: HostileServer, capsys: pytest.CaptureFixture[str], style: str
) -> None:
    def script(request: Request) -> Answer:
        if request.method == "GET":
            return Answer(200, EMPTY_LISTS)
        return STYLES[style](echo_of(request))

    hostile.script = script
    code, out, err = run_cli(capsys, "apply", "--auto-approve")
    assert code != 0, out + err
    assert any(r.method == "POST" for r in hostile.requests)
    assert leaks(out + err) == []
    assert leaks(files_text(rig)) == []


@pytest.mark.parametrize("style", ["500-html", "502-html"])
def test_no_secret_in_a_5xx_page_answering_a_read(hostile: HostileServer, style: str) -> None:
    hostile.script = lambda request: STYLES[style](echo_of(request))
    client = ApiClient(hostile.url, basic_auth(USER, SecretStr(KEY)), retry=RetryConfig(0))
    with pytest.raises(Exception) as caught:
        client.request("GET", "/v1/marketing/campaigns")
    text = f"{caught.value} {getattr(caught.value, 'hint', '')}"
    assert "Bad Gateway" in text or "Error" in text
    assert leaks(text) == []


def test_no_secret_in_the_output_of_a_real_process(rig: Path, hostile: HostileServer) -> None:
    def script(request: Request) -> Answer:
        if request.method == "GET":
            return Answer(200, EMPTY_LISTS)
        return STYLES["502-html"](echo_of(request))

    hostile.script = script
    env = {k: v for k, v in os.environ.items()}
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "apply", "--auto-approve"],
        cwd=rig,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0, done.stdout + done.stderr
    assert "HTTP 502" in done.stderr + done.stdout
    assert leaks(done.stdout + done.stderr) == []
    assert leaks(files_text(rig)) == []


@pytest.mark.parametrize(
    "url",
    [
        "https://admin:hunter2pw@api.example.com",
        "ftp://admin:hunter2pw@files.example.com/x",
        "admin:hunter2pw@api.example.com",
        "gopher://admin:hunter2pw@x",
    ],
)
def test_a_url_with_credentials_is_refused_without_echoing_them(url: str) -> None:
    for check in (
        lambda: check_url(url),
        lambda: resolve_url(url, default="https://a.example", shortcuts={}, option="--api-url"),
    ):
        with pytest.raises(InsecureUrlError) as caught:
            check()
        text = f"{caught.value} {caught.value.hint}"
        assert "credentials" in text
        assert "hunter2pw" not in text
        assert "admin" not in text
