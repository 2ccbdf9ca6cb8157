"""The calendar's HTML in a real browser: headless Chromium renders it, the test reads the
rendered DOM and keeps screenshots (phone width and desktop) under `artifacts/`.

Chromium comes from `.ci/install-system-deps` (the README's test command runs it). With
UPDATE_SCREENSHOT=1 the example calendar's screenshot is also copied to docs/calendar.png,
the README's picture (like UPDATE_GOLDEN: the docs change only when asked).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_calendar import HOSTILE, Scenario

from reconciler.cli import run
from reconciler.sandbox import Sandbox

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "artifacts"
BROWSER_TIMEOUT = 120


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, (
        "chromium is missing: run `bash .ci/install-system-deps` (the README's test command does)"
    )
    return path


def browse(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium on a local file with its own profile (no network is needed)."""
    return subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            f"--user-data-dir={profile}",
            *args,
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=BROWSER_TIMEOUT,
        check=True,
    )


def screenshot(page: Path, profile: Path, out: Path, width: int, height: int) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    browse(page, profile, f"--screenshot={out}", f"--window-size={width},{height}")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "chromium wrote no PNG"


class Dom(HTMLParser):
    """The rendered DOM as a list of (tag, attributes, text inside the element's first run)."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def having(self, attribute: str) -> list[dict[str, str | None]]:
        return [attrs for _, attrs in self.elements if attribute in attrs]

    def classes(self, name: str) -> list[dict[str, str | None]]:
        return [a for _, a in self.elements if name in (a.get("class") or "").split()]


def rendered_dom(page: Path, profile: Path) -> Dom:
    dom = Dom()
    dom.feed(browse(page, profile, "--dump-dom").stdout)
    return dom


@pytest.fixture
def scenario(sandbox_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Scenario:
    return Scenario(tmp_path, sandbox_env, capsys)


def test_calendar_renders_in_a_browser_with_every_campaign_clash_and_change(
    scenario: Scenario, tmp_path: Path
) -> None:
    page = tmp_path / "calendar.html"
    code, _, err = scenario.calendar("--out", str(page))
    assert code == 0, err
    dom = rendered_dom(page, tmp_path / "profile")

    sends = {(a["data-campaign"], a["data-effect"]) for a in dom.having("data-effect")}
    assert sends == {
        ("EmailCampaign/Moving", "moved"),
        ("EmailCampaign/Gone", "cancelled"),
        ("EmailCampaign/Sent", "locked"),
        ("EmailCampaign/Steady", "unchanged"),
        ("EmailCampaign/Fresh", "new"),
        ("EmailCampaign/Two times/0", "new"),
        ("EmailCampaign/Two times/1", "new"),
        ("EmailCampaign/Whenever", "new"),
        (f"EmailCampaign/{HOSTILE}", "new"),
    }
    clashing = {a["data-campaign"] for a in dom.classes("send") if "clash" in a["class"].split()}
    assert clashing == {"EmailCampaign/Moving", "EmailCampaign/Fresh"}
    (clash,) = dom.classes("clash-item")
    assert (clash["data-first"], clash["data-second"]) == (
        "EmailCampaign/Moving",
        "EmailCampaign/Fresh",
    )
    assert [a["data-campaign"] for a in dom.classes("quiet-item")] == [f"EmailCampaign/{HOSTILE}"]
    text = "".join(dom.text)
    assert "moved from 2027-03-01 02:00 UTC" in text
    # The hostile name is text on the page, never markup: no script, no image ran or exists.
    assert HOSTILE in text
    assert not [t for t, _ in dom.elements if t in ("script", "img", "iframe", "link")]
    # One lane per audience and day; days in time order.
    days = [a["id"] for a in dom.classes("day")]
    assert days == [*sorted(days[:-1]), "day-on-activation"]
    assert {"tag: lapsed", "list: all"} <= {a["data-audience"] for a in dom.having("data-audience")}

    ARTIFACTS.mkdir(exist_ok=True)
    screenshot(page, tmp_path / "profile", ARTIFACTS / "calendar-scenario-phone.png", 390, 2400)
    screenshot(page, tmp_path / "profile", ARTIFACTS / "calendar-scenario-desktop.png", 1200, 1600)


def test_example_calendar_screenshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's picture: the example campaigns on the sandbox, at phone width."""
    shutil.copytree(REPO / "campaigns.d", tmp_path / "campaigns.d")
    monkeypatch.chdir(tmp_path)
    assert run(["calendar", "--sandbox", "--out", "calendar.html"]) == 0
    capsys.readouterr()
    page = tmp_path / "calendar.html"
    dom = rendered_dom(page, tmp_path / "profile")
    assert len(dom.classes("clash-item")) == 1
    assert len(dom.having("data-effect")) == 6
    shot = ARTIFACTS / "calendar-examples.png"
    screenshot(page, tmp_path / "profile", shot, 390, 1500)
    if os.environ.get("UPDATE_SCREENSHOT"):
        shutil.copyfile(shot, REPO / "docs" / "calendar.png")
