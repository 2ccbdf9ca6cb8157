"""`campaignctl calendar` and the schedule warnings of `plan`, against the real sandbox.

One scenario holds every effect: a campaign applied then moved, one deleted from the YAML
(cancelled), one the vendor already sent (locked), one left alone (unchanged), one added
(new), an A/B test of two send times and a campaign with no send time (on activation).
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar as ICalendar

from reconciler.calendar import Audience, QuietHours, parse_duration, parse_quiet_hours
from reconciler.cli import run
from reconciler.sandbox import Sandbox

REPO = Path(__file__).resolve().parents[1]

HOSTILE = '<script>alert(1)</script> & "q" <img src=x onerror=alert(2)>'


def email(name: str, *, to: str = "{type: tag, value: [lapsed]}", when: str | None = None,
          tz: int | None = None, extra: str = "") -> str:  # fmt: skip
    text = (
        f"name: {json.dumps(name)}\ncampaign_type: normal\nto: {to}\nsender_id: 53\n"
        "template_invoke_name: tpl\nsubject: Hello\n"
    )
    if when is not None:
        text += f'send_time: "{when}"\n'
    if tz is not None:
        text += f"time_zone: {tz}\n"
    return text + extra


AB_TIMES = (
    "name: Two times\ncampaign_type: ab\nto: {type: segment, value: [readers]}\n"
    "template_invoke_name: tpl\nsubject: Hi\nsender_id: 53\nab_test:\n  percent: 20\n"
    "  win_condition: {time_unit: hour, after_time: 4, compare: open_percent}\n"
    '  send_times: ["2027-05-01 09:00:00", "2027-05-01 15:00:00"]\n'
)


class Scenario:
    """A config applied to the sandbox, then edited: each campaign one effect."""

    def __init__(self, tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]):
        self.config = tmp_path / "campaigns.d"
        self.config.mkdir()
        self.state = tmp_path / "state.json"
        self.capsys = capsys
        self.write("moving", email("Moving", when="2027-03-01 10:00:00"))
        self.write(
            "gone", email("Gone", to="{type: tag, value: [gone]}", when="2027-03-10 10:00:00")
        )
        self.write(
            "sent", email("Sent", to="{type: tag, value: [sent]}", when="2027-02-01 10:00:00")
        )
        self.write(
            "steady", email("Steady", to="{type: tag, value: [steady]}", when="2027-06-01 10:00:00")
        )
        code, _, err = self.run("apply", str(self.config), "--auto-approve")
        assert code == 0, err
        sent = next(c for c in sandbox.email_campaigns() if c["name"] == "Sent")
        sandbox.set_email_status(int(sent["campaign_id"]), 2)
        # Edits after the apply: a move, a delete, a new campaign, an A/B test of send
        # times, one with no send time, and one with a hostile name at night in New York.
        self.write("moving", email("Moving", when="2027-03-02 09:00:00"))
        (self.config / "gone.yaml").unlink()
        self.write(
            "fresh", email("Fresh", to="{type: list, value: [all]}", when="2027-03-02 20:00:00")
        )
        self.write("ab", AB_TIMES)
        self.write("whenever", email("Whenever", to="{type: tag, value: [misc]}"))
        self.write("hostile", email(HOSTILE, to="{type: tag, value: [night]}",
                                    when="2027-07-01 23:30:00", tz=-5))  # fmt: skip

    def write(self, stem: str, text: str) -> None:
        (self.config / f"{stem}.yaml").write_text(text, encoding="utf-8")

    def run(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = run(["--state", str(self.state), *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def calendar(self, *args: str) -> tuple[int, str, str]:
        return self.run("calendar", str(self.config), *args)

    def calendar_json(self, *args: str) -> dict:
        code, out, err = self.calendar("--format", "json", *args)
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
def scenario(sandbox_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Scenario:
    return Scenario(tmp_path, sandbox_env, capsys)


def by_name(data: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for send in data["sends"]:
        out.setdefault(send["name"], []).append(send)
    return out


def test_each_send_carries_the_plans_effect_in_utc_and_its_own_zone(scenario: Scenario) -> None:
    sends = by_name(scenario.calendar_json())
    (moving,) = sends["Moving"]
    assert moving["effect"] == "moved"
    assert moving["at"] == "2027-03-02T01:00:00Z" and moving["previous"] == "2027-03-01T02:00:00Z"
    assert moving["local"] == "2027-03-02 09:00 (+8)"
    assert moving["file"].endswith("moving.yaml") and moving["line"] == 1
    assert [s["effect"] for s in sends["Gone"]] == ["cancelled"]
    assert [s["effect"] for s in sends["Sent"]] == ["locked"]
    assert [s["effect"] for s in sends["Steady"]] == ["unchanged"]
    assert [(s["effect"], s["at"]) for s in sends["Fresh"]] == [("new", "2027-03-02T12:00:00Z")]
    assert [(s["variant"], s["at"]) for s in sends["Two times"]] == [
        (0, "2027-05-01T01:00:00Z"),
        (1, "2027-05-01T07:00:00Z"),
    ]
    (whenever,) = sends["Whenever"]
    assert whenever["at"] is None and whenever["effect"] == "new"
    assert [s["local"] for s in sends[HOSTILE]] == ["2027-07-01 23:30 (-5)"]
    # Timed sends in time order, then those on activation.
    ats = [s["at"] for s in scenario.calendar_json()["sends"]]
    timed = [a for a in ats if a is not None]
    assert timed == sorted(timed) and ats[-1] is None


def test_a_locked_campaign_stays_locked_whatever_the_yaml_says(scenario: Scenario) -> None:
    scenario.write(
        "sent", email("Sent", to="{type: tag, value: [sent]}", when="2027-09-09 09:00:00")
    )
    (sent,) = by_name(scenario.calendar_json())["Sent"]
    # The vendor already sent it: the calendar shows the time it ran, not the YAML's wish.
    assert sent["effect"] == "locked" and sent["at"] == "2027-02-01T02:00:00Z"


def test_overlapping_audiences_within_the_window_clash(scenario: Scenario) -> None:
    data = scenario.calendar_json()
    pairs = {(c["first"]["name"], c["second"]["name"]) for c in data["clashes"]}
    # Fresh goes to `list: all` 11 h after Moving (tag lapsed): it may reach them.
    assert pairs == {("Moving", "Fresh")}
    assert data["clashes"][0]["code"] == "send_clash"
    assert data["clashes"][0]["gap_hours"] == 11
    flagged = {s["name"] for s in data["sends"] if s["clash"]}
    assert flagged == {"Moving", "Fresh"}
    # A shorter window: no clash. A longer one: the cancelled send never clashes.
    assert scenario.calendar_json("--clash-window", "10h")["clashes"] == []
    wide = scenario.calendar_json("--clash-window", "30d")["clashes"]
    assert "Gone" not in {c[k]["name"] for c in wide for k in ("first", "second")}


def test_a_send_at_night_in_its_own_time_zone_is_flagged(scenario: Scenario) -> None:
    data = scenario.calendar_json()
    assert [q["name"] for q in data["quiet"]] == [HOSTILE]
    assert data["quiet"][0]["code"] == "quiet_hours"
    # 23:30 in New York is 04:30 UTC: only the send's own zone decides.
    assert scenario.calendar_json("--quiet-hours", "00-06")["quiet"] == []


def test_from_and_to_keep_the_sends_of_those_days(scenario: Scenario) -> None:
    data = scenario.calendar_json("--from", "2027-03-01", "--to", "2027-03-02")
    names = sorted({s["name"] for s in data["sends"]})
    # Moving is kept by either of its times; sends on activation are always listed.
    assert names == ["Fresh", "Moving", "Whenever"]


def test_plan_warns_about_clashes_and_night_sends_with_stable_codes(scenario: Scenario) -> None:
    code, out, _ = scenario.run("plan", str(scenario.config), "--format", "json")
    assert code == 0
    data = json.loads(out)
    codes = [w["code"] for w in data["warning_details"]]
    assert codes == ["send_clash", "quiet_hours"]
    clash = data["warning_details"][0]
    assert [c["name"] for c in clash["campaigns"]] == ["Moving", "Fresh"]
    assert clash["campaigns"][0]["file"].endswith("moving.yaml")
    # The plain strings still carry every message, for readers of the older form.
    assert data["warnings"][-2:] == [w["message"] for w in data["warning_details"]]
    _, text, _ = scenario.run("plan", str(scenario.config))
    assert text.startswith("warning: send clash: EmailCampaign 'Moving'")
    assert "warning: quiet hours:" in text
    _, markdown, _ = scenario.run("plan", str(scenario.config), "--format", "markdown")
    assert "> **Warning** (`send_clash`): send clash:" in markdown
    assert "> **Warning** (`quiet_hours`)" in markdown
    # A saved plan keeps them, and reads back unchanged.
    saved = scenario.config.parent / "plan.json"
    code, _, err = scenario.run("plan", str(scenario.config), "--out", str(saved))
    assert code == 0, err
    from reconciler.plan import Plan

    plan = Plan.from_json(json.loads(saved.read_text()))
    assert [w.code for w in plan.coded_warnings] == ["send_clash", "quiet_hours"]
    assert Plan.from_json(plan.to_json()) == plan


def test_ics_parses_back_with_one_event_per_timed_send_and_stable_uids(
    scenario: Scenario,
) -> None:
    code, out, err = scenario.calendar("--format", "ics")
    assert code == 0, err
    parsed = ICalendar.from_ical(out)
    events = list(parsed.walk("VEVENT"))
    data = scenario.calendar_json()
    timed = [s for s in data["sends"] if s["at"] is not None]
    assert len(events) == len(timed) == 8
    starts = sorted(e.decoded("dtstart") for e in events)
    assert all(s.tzinfo is not None and s.utcoffset().total_seconds() == 0 for s in starts)
    assert starts[0] == datetime(2027, 2, 1, 2, 0, tzinfo=UTC)
    assert "DTSTART:20270201T020000Z" in out.replace("\r\n", "\n")
    uids = {str(e["summary"]): str(e["uid"]) for e in events}
    assert len(set(uids.values())) == len(events)
    cancelled = [e for e in events if str(e["status"]) == "CANCELLED"]
    assert [str(e["summary"]) for e in cancelled] == ["Gone [cancelled]"]
    # A UID names the send, not its time: moving it again updates the same event.
    scenario.write("moving", email("Moving", when="2027-03-05 09:00:00"))
    _, again, _ = scenario.calendar("--format", "ics")
    moved = {str(e["uid"]) for e in ICalendar.from_ical(again).walk("VEVENT")}
    assert uids["Moving [moved]"] in moved


def test_html_escapes_hostile_names(scenario: Scenario) -> None:
    code, out, _ = scenario.calendar()
    assert code == 0
    assert "<script>" not in out and "<img" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;" in out
    assert "http://" not in out and "https://" not in out  # self-contained: no network


def test_markdown_lists_clashes_and_every_send(scenario: Scenario) -> None:
    code, out, _ = scenario.calendar("--format", "markdown")
    assert code == 0
    assert "**1 clash** within 24 h" in out
    assert "| `Moving` | `tag: lapsed` | moved (from 2027-03-01 02:00 UTC) ⚠️ clash |" in out
    assert "\\<script>" not in out and "`<script>alert(1)</script>" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--clash-window", "soon"), "'soon' is not a duration"),
        (("--quiet-hours", "late"), "'late' is not a range of hours"),
        (("--from", "2027-13-01"), "'2027-13-01' is not a date"),
        (("--from", "2027-03-02", "--to", "2027-03-01"), "--to is before --from"),
    ],
)
def test_bad_options_are_one_line_errors(
    sandbox_env: Sandbox,
    in_tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    message: str,
) -> None:
    (in_tmp_path / "campaigns.d").mkdir()
    assert run(["calendar", *args]) == 1
    _, err = capsys.readouterr()
    assert message in err and "Traceback" not in err


def test_examples_show_a_clash_on_the_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(REPO / "campaigns.d", tmp_path / "campaigns.d")
    monkeypatch.chdir(tmp_path)
    assert run(["calendar", "--sandbox", "--format", "json"]) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert [(c["first"]["name"], c["second"]["name"]) for c in data["clashes"]] == [
        ("Spring sale VIP preview", "Spring sale subject test")
    ]
    on_activation = [s["name"] for s in data["sends"] if s["at"] is None]
    assert on_activation == ["Welcome journey"]  # a MessagingCampaign has no send time
    assert err == "6 sends, 1 clash, 0 in quiet hours\n"
    assert not (tmp_path / "state").exists()


# --------------------------------------------------------------------------- pure parts


def test_audiences_overlap_on_a_shared_value_of_one_type_or_everyone() -> None:
    tag_a = Audience("tag", ("a", "b"))
    assert tag_a.overlaps(Audience("tag", ("b",)))
    assert not tag_a.overlaps(Audience("tag", ("c",)))
    assert not tag_a.overlaps(Audience("segment", ("a",)))
    assert tag_a.overlaps(Audience("list", ("all",)))
    assert Audience("list", ("all",)).overlaps(Audience("segment", ("x",)))


def test_durations_and_quiet_hours_parse() -> None:
    assert parse_duration("24h").total_seconds() == 86400
    assert parse_duration("90m").total_seconds() == 5400
    assert parse_duration("2d").total_seconds() == 172800
    hours = parse_quiet_hours("21-08")
    assert hours == QuietHours(21, 8)
    assert [h for h in range(24) if hours.contains(h)] == [0, 1, 2, 3, 4, 5, 6, 7, 21, 22, 23]
    assert [h for h in range(24) if parse_quiet_hours("01-03").contains(h)] == [1, 2]


def test_plan_warnings_build_no_untimed_send_and_stay_the_same(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`plan` warns only about timed sends, so it builds none of the others: the same
    warnings as from the whole calendar, for campaigns that lost their time too."""
    import reconciler.calendar.build as build

    scenario.write("steady", email("Steady", to="{type: tag, value: [steady]}"))  # time dropped
    for index in range(20):
        scenario.write(f"untimed{index}", email(f"Untimed {index}", to="{type: tag, value: [u]}"))
    built: list[str] = []
    sends_of = build._sends_of

    def counted(action: Any, live: Any, source: Any) -> Any:
        built.append(action.name)
        return sends_of(action, live, source)

    monkeypatch.setattr(build, "_sends_of", counted)
    code, fast, err = scenario.run("plan", str(scenario.config), "--format", "json")
    assert code == 0, err
    assert "Steady" in built and "Gone" in built  # a live time: kept, whatever the YAML says
    assert not [name for name in built if name.startswith("Untimed") or name == "Whenever"]
    built.clear()
    monkeypatch.setattr(build, "_may_have_a_time", lambda action, live: True)  # build them all
    code, whole, err = scenario.run("plan", str(scenario.config), "--format", "json")
    assert code == 0, err
    assert "Whenever" in built
    assert json.loads(fast)["warning_details"] == json.loads(whole)["warning_details"] != []
    assert fast == whole
