"""Time the send calendar (HTML) and 20 policy rules over N generated campaigns.

Usage: .venv/bin/python bench/calendar_bench.py [N]

Writes N email campaigns (normal and A/B, 200 tags, 1% to `list: all`, send times spread
over 2027 in four time zones) to a temporary directory, loads them and plans them against
nothing live (every campaign a create); then times, separately:
- the calendar: build_calendar (sends, clashes, quiet hours) + render_html, and its size;
- the policy: 20 campaign rules (the docs' ready rules and variants) through check_campaigns,
  forked worker and per-rule time limit included.
Targets at 10,000: calendar < 2 s and < 20 MB of HTML; 20 rules < 2 s.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from reconciler.calendar import build_calendar
from reconciler.calendar_render import render_html
from reconciler.loader import load_directory
from reconciler.planner import compute_plan
from reconciler.policy import load_policy

NORMAL = """\
name: Campaign {i:05d}
campaign_type: normal
to: {to}
sender_id: {sender}
template_invoke_name: template_{i}
subject: Subject line number {i}
send_time: "2027-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:00"
time_zone: {tz}
google_track: {{campaign_source: news, campaign_medium: email, campaign_name: c{i}}}
"""

AB = """\
name: A/B test {i:05d}
campaign_type: ab
to: {to}
sender_id: 53
template_invoke_name: template_{i}
time_zone: {tz}
ab_test:
  percent: 20
  win_condition: {{time_unit: hour, after_time: 18, compare: open_percent}}
  send_times: ["2027-{month:02d}-{day:02d} 09:00:00", "2027-{month:02d}-{day:02d} 15:00:00"]
subject: Subject {i}
"""

RULES = """\
  - name: utm-required-{n}
    level: advisory
    kind: EmailCampaign
    expr: >-
      has(campaign.google_track) && has(campaign.google_track.campaign_source) &&
      has(campaign.google_track.campaign_medium) && has(campaign.google_track.campaign_name)
    message: utm
  - name: allowed-senders-{n}
    level: advisory
    expr: "!has(campaign.sender_id) || campaign.sender_id in ['53', '54']"
    message: senders
  - name: send-window-{n}
    level: advisory
    expr: >-
      sends.all(s, s.time_zone >= 7 && s.time_zone <= 9
        ? s.local_hour >= 9 && s.local_hour < 21
        : s.local_hour >= 8 && s.local_hour < 20)
    message: window
  - name: subject-length-{n}
    level: advisory
    expr: "!has(campaign.subject) || size(campaign.subject) <= 60"
    message: subject
  - name: audience-spacing-{n}
    level: advisory
    expr: sends.all(s, s.nearest_overlap == null || s.nearest_overlap.gap >= duration('48h'))
    message: spacing
"""


def write_campaigns(directory: Path, count: int) -> None:
    for i in range(count):
        to = (
            "{type: list, value: [all]}"
            if i % 100 == 0
            else f"{{type: tag, value: [tag-{i % 200}]}}"
        )
        fields = {
            "i": i,
            "to": to,
            "sender": 53 + i % 3,
            "month": 1 + i % 12,
            "day": 1 + i % 28,
            "hour": i % 24,
            "minute": (i * 7) % 60,
            "tz": (8, 1, -5, 0)[i % 4],
        }
        template = AB if i % 10 == 0 else NORMAL
        (directory / f"c{i:05d}.yaml").write_text(template.format(**fields), encoding="utf-8")


def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "campaigns.d"
        config.mkdir()
        write_campaigns(config, count)
        loaded = load_directory(config)
        plan = compute_plan(loaded.campaigns, None, [], config_dir=str(config))

        started = time.perf_counter()
        calendar = build_calendar(plan, loaded.campaigns, [])
        page = render_html(calendar)
        calendar_wall = time.perf_counter() - started
        size = len(page.encode("utf-8"))
        print(
            f"calendar: {count} campaigns, {len(calendar.sends)} sends, "
            f"{len(calendar.clashes)} clashes, {len(calendar.quiet)} in quiet hours: "
            f"{calendar_wall:.2f} s, {size / 1e6:.1f} MB of HTML"
        )

        policy_file = Path(tmp) / "policy.yaml"
        policy_file.write_text(
            "rules:\n" + "".join(RULES.format(n=n) for n in range(4)), encoding="utf-8"
        )
        policy = load_policy(policy_file)
        from reconciler.policy import check_campaigns

        started = time.perf_counter()
        violations = check_campaigns(policy, loaded.campaigns, calendar, plan=plan, time_limit=60)
        policy_wall = time.perf_counter() - started
        print(
            f"policy: {len(policy.rules)} rules over {count} campaigns: {policy_wall:.2f} s, "
            f"{len(violations)} violations"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
