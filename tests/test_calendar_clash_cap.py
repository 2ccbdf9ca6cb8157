"""Clashes are listed up to a cap and counted beyond it, never materialised all at once.

N sends to one audience at one time are N(N-1)/2 clashes: the calendar lists the first
MAX_LISTED_CLASHES in time order and counts the rest from window sizes. The capped answer
is checked against brute force over every pair on small inputs (hypothesis), including
multi-value audiences (a pair sharing two tags counted once), `list: all` sends checked
both in their bucket and against everyone, A/B sends of one campaign, cancelled sends.
"""

from __future__ import annotations

import json
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.calendar import (
    MAX_LISTED_CLASHES,
    MAX_SCHEDULE_WARNINGS,
    Audience,
    Calendar,
    Effect,
    Send,
    build_calendar,
    clashing_sends,
    find_clashes,
    schedule_warnings,
    send_order,
)
from reconciler.calendar.findings import (
    _collapse,
    _multi_value_groups,
    _surplus_by_pairs,
    _surplus_by_subsets,
)
from reconciler.calendar_render import render_html, render_json, render_markdown
from reconciler.loader import LoadedCampaign
from reconciler.plan import Action, ActionKind, Plan, Reason

BASE = datetime(2030, 1, 1, 10, tzinfo=UTC)
KIND = "EmailCampaign"
SAME_TIME_YAML = """\
name: Campaign {i:05d}
campaign_type: normal
to: {{type: tag, value: [bench]}}
sender_id: 53
template_invoke_name: template_{i}
subject: Subject {i}
send_time: '2030-01-01 10:00:00'
"""


def brute_force(sends: list[Send], window: timedelta) -> list[tuple[Send, Send]]:
    """Every clashing pair, by checking every pair: the definition, in time order."""
    timed = sorted(
        (s for s in sends if s.at is not None and s.goes_out and s.audience is not None),
        key=send_order,
    )
    out = []
    for i, first in enumerate(timed):
        for second in timed[i + 1 :]:
            assert first.at is not None and second.at is not None
            assert first.audience is not None and second.audience is not None
            if (first.kind, first.name) == (second.kind, second.name):
                continue
            if abs(second.at - first.at) < window and first.audience.overlaps(second.audience):
                out.append((first, second))
    return out


audiences = st.one_of(
    st.none(),
    st.builds(
        Audience,
        st.sampled_from(["tag", "list"]),
        st.lists(st.sampled_from(["a", "b", "c", "all"]), max_size=3).map(
            lambda v: tuple(sorted(v))
        ),
    ),
)


@st.composite
def send_lists(draw: st.DrawFn) -> list[Send]:
    sends = []
    for number in range(draw(st.integers(0, 14))):
        # A few campaigns, so one campaign often has several (A/B) sends.
        name = f"c{draw(st.integers(0, 5))}"
        hours = draw(st.one_of(st.none(), st.integers(0, 30)))
        effect = draw(st.sampled_from([Effect.NEW, Effect.NEW, Effect.CANCELLED, Effect.LOCKED]))
        at = None if hours is None else BASE + timedelta(hours=hours)
        sends.append(Send(KIND, name, effect, at, 0, draw(audiences), "create", variant=number))
    return sends


@settings(max_examples=400, deadline=None)
@given(
    sends=send_lists(),
    window_hours=st.integers(1, 30),
    limit=st.integers(0, 12),
)
def test_capped_clashes_are_the_first_pairs_and_the_count_of_the_rest(
    sends: list[Send], window_hours: int, limit: int
) -> None:
    window = timedelta(hours=window_hours)
    expected = brute_force(sends, window)
    found = find_clashes(sends, window, limit=limit)
    assert [(c.first, c.second) for c in found.listed] == expected[:limit]
    assert all(c.gap == c.second.at - c.first.at for c in found.listed)  # type: ignore[operator]
    assert found.total == len(expected)
    assert found.unlisted == max(0, len(expected) - limit)
    # Which sends clash at all, whether or not their pair is listed.
    assert clashing_sends(sends, window) == {s.uid for pair in expected for s in pair}
    # Both ways of counting pairs sharing several values agree (which one runs depends
    # on the input's shape; see findings.SURPLUS_BUDGET).
    groups = _multi_value_groups(sorted((s for s in sends if s.at), key=send_order))
    by_pairs = _surplus_by_pairs(groups, window)
    assert _surplus_by_subsets(groups, window, 10**9) == by_pairs
    collapsed, merged = _collapse(groups, window)
    assert merged + _surplus_by_pairs(collapsed, window) == by_pairs


@settings(max_examples=150, deadline=None)
@given(sends=send_lists(), window_hours=st.integers(1, 30))
def test_uncapped_clashes_are_every_pair_in_time_order(
    sends: list[Send], window_hours: int
) -> None:
    window = timedelta(hours=window_hours)
    expected = brute_force(sends, window)
    found = find_clashes(sends, window)
    assert [(c.first, c.second) for c in found.listed] == expected
    assert found.unlisted == 0


def same_time_sends(count: int, *, effect: Effect = Effect.NEW) -> list[Send]:
    """`count` campaigns to one tag at one time: every pair clashes."""
    audience = Audience("tag", ("bench",))
    return [
        Send(KIND, f"Campaign {i:05d}", effect, BASE, 0, audience, "create") for i in range(count)
    ]


def pairs(count: int) -> int:
    return count * (count - 1) // 2


def test_three_thousand_campaigns_at_one_time_list_the_cap_and_count_the_rest() -> None:
    sends = same_time_sends(3000)
    tracemalloc.start()
    try:
        found = find_clashes(sends, timedelta(hours=24))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(found.listed) == MAX_LISTED_CLASHES
    assert found.unlisted == pairs(3000) - MAX_LISTED_CLASHES == 4_448_500
    # Before the cap this held 4.5 million Clash objects (several GB); now the cap's
    # objects and a few lists per send.
    assert peak < 64 * 2**20, f"peak {peak / 2**20:.0f} MB"
    first = found.listed[0]
    assert (first.first.name, first.second.name) == ("Campaign 00000", "Campaign 00001")


def test_shared_tags_count_each_pair_once_at_scale() -> None:
    """Many distinct audiences sharing a core of tags: both counting methods, exact."""
    for core in (("a",), ("a", "b"), ("a", "b", "c"), tuple(f"t{j:02d}" for j in range(20))):
        sends = [
            Send(KIND, f"c{i}", Effect.NEW, BASE, 0, Audience("tag", (*core, f"u{i}")), "create")
            for i in range(2000)
        ]
        found = find_clashes(sends, timedelta(hours=24), limit=10)
        assert found.total == pairs(2000)


def calendar_of(sends: list[Send]) -> Calendar:
    """The calendar `plan` and `calendar` build for these sends (a create per campaign)."""
    actions = tuple(
        Action(
            action=ActionKind.CREATE,
            kind=s.kind,
            name=s.name,
            remote_id=None,
            reason=Reason.NOT_IN_LIVE,
            message="create",
            desired={
                "name": s.name,
                "send_time": s.at.strftime("%Y-%m-%d %H:%M:%S"),  # type: ignore[union-attr]
                "time_zone": 0,
                "to": {"type": "tag", "value": ["bench"]},
            },
        )
        for s in sends
    )
    campaigns: list[LoadedCampaign] = []
    return build_calendar(Plan(actions=actions), campaigns, [])


def test_a_plan_of_three_thousand_clashing_campaigns_warns_with_the_exact_remainder() -> None:
    calendar = calendar_of(same_time_sends(3000))
    assert len(calendar.clashes) == MAX_LISTED_CLASHES
    assert calendar.clash_count == pairs(3000)
    assert calendar.unlisted_clashes == pairs(3000) - MAX_LISTED_CLASHES
    # Every send is flagged, though most of its clashes are not listed.
    assert calendar.clashing() == {s.uid for s in calendar.sends}
    warnings = [w for w in schedule_warnings(calendar) if w.code == "send_clash"]
    assert len(warnings) == MAX_SCHEDULE_WARNINGS + 1
    rest = pairs(3000) - MAX_SCHEDULE_WARNINGS
    assert warnings[-1].message == (
        f"... and {rest} more clashes: campaignctl calendar lists the first {MAX_LISTED_CLASHES}"
    )


def test_the_calendar_renders_say_how_many_clashes_are_not_listed() -> None:
    calendar = calendar_of(same_time_sends(3000))
    rest = pairs(3000) - MAX_LISTED_CLASHES
    data = json.loads(render_json(calendar))
    assert len(data["clashes"]) == MAX_LISTED_CLASHES
    assert data["clash_count"] == pairs(3000)
    assert data["clashes_not_listed"] == rest
    assert all(s["clash"] for s in data["sends"])
    markdown = render_markdown(calendar)
    assert f"**{pairs(3000)} clashes** within 24 h" in markdown
    assert f"- … and {pairs(3000) - 50} more (`--format json` lists the first 50000)" in markdown
    html = render_html(calendar)
    assert html.count('<li class="clash-item"') == MAX_LISTED_CLASHES
    assert f'<li class="clash-more">… and {rest} more clashes not listed</li>' in html
    assert f"{pairs(3000)} clashes</li>" in html


def test_an_ordinary_calendar_says_nothing_of_unlisted_clashes() -> None:
    calendar = calendar_of(same_time_sends(5))
    assert calendar.unlisted_clashes == 0 and calendar.clash_count == 10
    assert "clashes_not_listed" not in render_json(calendar)
    assert "clash-more" not in render_html(calendar)


def test_locked_pairs_are_not_warned_about_even_when_they_fill_the_list() -> None:
    locked = same_time_sends(400, effect=Effect.LOCKED)
    fresh = [
        Send(KIND, f"New {i}", Effect.NEW, BASE, 0, Audience("tag", ("bench",)), "create")
        for i in range(3)
    ]
    sends = sorted(locked + fresh, key=send_order)
    found = find_clashes(sends, timedelta(hours=24), limit=100)
    calendar = Calendar(tuple(sends), found.listed, unlisted_clashes=found.unlisted)
    warnings = [w for w in schedule_warnings(calendar) if w.code == "send_clash"]
    # Pairs with a locked send are history; the 3 new sends clash with one another.
    assert len(warnings) == 3
    assert all("New" in w.message.split(" and ")[0] for w in warnings)


def test_plan_and_calendar_on_three_thousand_same_time_campaigns_list_the_cap(
    sandbox_env: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """End to end, against the sandbox: YAML -> plan warnings and calendar JSON."""
    config = tmp_path / "campaigns.d"
    config.mkdir()
    for i in range(3000):
        (config / f"c{i:05d}.yaml").write_text(SAME_TIME_YAML.format(i=i), encoding="utf-8")
    state = ["--state", str(tmp_path / "state.json")]
    code, out, err = run_cli(capsys, *state, "plan", str(config), "--format", "json")
    assert code == 0, err
    clashes = [w for w in json.loads(out)["warning_details"] if w["code"] == "send_clash"]
    assert len(clashes) == MAX_SCHEDULE_WARNINGS + 1
    assert clashes[-1]["message"] == (
        f"... and {pairs(3000) - MAX_SCHEDULE_WARNINGS} more clashes: "
        f"campaignctl calendar lists the first {MAX_LISTED_CLASHES}"
    )
    code, out, err = run_cli(capsys, *state, "calendar", str(config), "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert len(data["clashes"]) == MAX_LISTED_CLASHES
    assert data["clashes_not_listed"] == pairs(3000) - MAX_LISTED_CLASHES
    assert data["clash_count"] == pairs(3000)
    # The command's summary line counts every clash, not only the listed ones.
    assert f"3000 sends, {pairs(3000)} clashes" in err
