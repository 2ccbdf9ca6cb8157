"""reconciler.calendar_render: a Calendar as HTML (people), Markdown, JSON (tools) or ICS.

Pure functions returning strings. Every campaign name, audience value and file name is
hostile input: HTML and Markdown escape it with render's helpers (control characters made
visible, then HTML-escaped), JSON keeps it verbatim as JSON strings, ICS leaves escaping to
the icalendar library. The HTML is one self-contained file: inline CSS, no script, no
network, readable at phone width and printable.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from reconciler.calendar import Calendar, Clash, Effect, Send, format_local, format_utc
from reconciler.render import MARKDOWN_LIMIT, md_code, md_html, md_text, text_safe

__all__ = [
    "FORMATS",
    "render_calendar",
    "render_html",
    "render_ics",
    "render_json",
    "render_markdown",
]

FORMATS = ("html", "markdown", "ics", "json")
FORMAT_VERSION = 1
#: Duration of an event in ICS: a send is an instant; calendar apps draw a short block.
ICS_EVENT_LENGTH = timedelta(minutes=15)

_EFFECT_WORD = {
    Effect.NEW: "new",
    Effect.MOVED: "moved",
    Effect.CANCELLED: "cancelled",
    Effect.UNCHANGED: "unchanged",
    Effect.LOCKED: "locked",
}


def render_calendar(calendar: Calendar, fmt: str, *, now: datetime | None = None) -> str:
    """The calendar in one of FORMATS (`now` stamps ICS events; default: the clock)."""
    if fmt == "json":
        return render_json(calendar)
    if fmt == "markdown":
        return render_markdown(calendar)
    if fmt == "ics":
        return render_ics(calendar, now=now or datetime.now(UTC))
    return render_html(calendar)


# --------------------------------------------------------------------------- JSON


def _send_json(
    send: Send, calendar: Calendar, clashing: set[str], quiet: set[str]
) -> dict[str, Any]:
    return {
        "kind": send.kind,
        "name": send.name,
        "variant": send.variant,
        "effect": str(send.effect),
        "action": send.action,
        "at": _iso(send.at),
        "previous": _iso(send.previous),
        "local": format_local(send) if send.at else None,
        "previous_local": format_local(send, send.previous) if send.previous else None,
        "time_zone": send.time_zone,
        "audience": (
            {"type": send.audience.type, "values": list(send.audience.values)}
            if send.audience
            else None
        ),
        "file": send.file,
        "line": send.line,
        "remote_id": send.remote_id,
        "unmanaged": send.unmanaged,
        "clash": send.uid in clashing,
        "quiet_hours": send.uid in quiet,
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _ref(send: Send) -> dict[str, Any]:
    return {"kind": send.kind, "name": send.name, "variant": send.variant, "at": _iso(send.at)}


def render_json(calendar: Calendar) -> str:
    clashing = calendar.clashing()
    quiet = {s.uid for s in calendar.quiet}
    data = {
        "format_version": FORMAT_VERSION,
        "from": calendar.start.isoformat() if calendar.start else None,
        "to": calendar.end.isoformat() if calendar.end else None,
        "clash_window_hours": calendar.window.total_seconds() / 3600,
        "quiet_hours": str(calendar.quiet_hours),
        "counts": calendar.counts(),
        "sends": [_send_json(s, calendar, clashing, quiet) for s in calendar.sends],
        "clashes": [
            {
                "code": "send_clash",
                "first": _ref(c.first),
                "second": _ref(c.second),
                "gap_hours": c.gap.total_seconds() / 3600,
                "message": c.message,
            }
            for c in calendar.clashes
        ],
        "quiet": [
            {"code": "quiet_hours", **_ref(s), "local": format_local(s)} for s in calendar.quiet
        ],
    }
    if calendar.unlisted_clashes:
        # Only past the cap (calendar.MAX_LISTED_CLASHES): ordinary output is unchanged.
        data["clash_count"] = calendar.clash_count
        data["clashes_not_listed"] = calendar.unlisted_clashes
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- ICS


def render_ics(calendar: Calendar, *, now: datetime) -> str:
    """RFC 5545: one VEVENT per timed send (sends on activation have no time to show).

    UIDs are a hash of kind, name and A/B variant: re-importing after a move updates the
    event. A cancelled send is STATUS:CANCELLED, which removes it in calendar apps.
    """
    from icalendar import Calendar as ICalendar
    from icalendar import Event

    cal = ICalendar()
    cal.add("prodid", "-//campaignctl//send calendar//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", "campaignctl sends")
    clashing = calendar.clashing()
    for send in calendar.sends:
        if send.at is None:
            continue
        event = Event()
        event.add("uid", ics_uid(send))
        event.add("dtstamp", now.astimezone(UTC))
        event.add("dtstart", send.at)
        event.add("dtend", send.at + ICS_EVENT_LENGTH)
        event.add("summary", f"{send.label} [{send.effect}]")
        lines = [
            f"{send.kind}: {send.label}",
            f"audience: {send.audience.label if send.audience else 'none'}",
            f"local time: {format_local(send)}",
            f"plan: {send.effect} ({send.action})",
        ]
        if send.previous is not None:
            lines.append(f"moved from: {format_utc(send.previous)}")
        if send.uid in clashing:
            lines.append("clash: may reach the same people as another send nearby")
        if send.file:
            lines.append(f"defined in: {send.where}")
        event.add("description", "\n".join(lines))
        event.add("categories", [str(send.effect)])
        event.add("status", "CANCELLED" if send.effect == Effect.CANCELLED else "CONFIRMED")
        cal.add_component(event)
    ical: bytes = cal.to_ical()
    return ical.decode("utf-8")


def ics_uid(send: Send) -> str:
    digest = hashlib.sha256(send.uid.encode("utf-8")).hexdigest()[:32]
    return f"{digest}@campaignctl"


# --------------------------------------------------------------------------- Markdown


def render_markdown(calendar: Calendar, *, limit: int = MARKDOWN_LIMIT) -> str:
    """A summary, the clashes and night sends, then one table row per send (cut at limit)."""
    clashing = calendar.clashing()
    quiet = {s.uid for s in calendar.quiet}
    lines = ["### campaignctl send calendar", "", _headline(calendar), ""]
    if calendar.clashes:
        lines += ["#### Clashes", ""]
        lines += [f"- ⚠️ {md_text(c.message)}" for c in calendar.clashes[:50]]
        if calendar.clash_count > 50:
            json_lists = "all"
            if calendar.unlisted_clashes:
                json_lists = f"the first {len(calendar.clashes)}"
            lines.append(
                f"- … and {calendar.clash_count - 50} more (`--format json` lists {json_lists})"
            )
        lines.append("")
    if calendar.quiet:
        lines += [f"#### Sends in quiet hours ({calendar.quiet_hours} local)", ""]
        lines += [f"- 🌙 {md_code(s.label)} at {format_local(s)}" for s in calendar.quiet[:50]]
        lines.append("")
    lines += ["| UTC | local | campaign | audience | effect |", "|---|---|---|---|---|"]
    out = "\n".join(lines) + "\n"
    for index, send in enumerate(calendar.sends):
        flags = (" ⚠️ clash" if send.uid in clashing else "") + (
            " 🌙 night" if send.uid in quiet else ""
        )
        effect = str(send.effect)
        if send.previous is not None:
            effect += f" (from {format_utc(send.previous)})"
        row = (
            f"| {format_utc(send.at)} | {format_local(send)} | "
            f"{md_code(send.label, table=True)} | "
            f"{md_code(send.audience.label, table=True) if send.audience else ''} | "
            f"{effect}{flags} |\n"
        )
        if len(out) + len(row) > limit - 200:
            out += (
                f"\n> **Truncated:** {len(calendar.sends) - index} of {len(calendar.sends)} "
                "sends are not shown. `--format html` or `--format json` shows them all.\n"
            )
            break
        out += row
    return out


def _headline(calendar: Calendar) -> str:
    counts = calendar.counts()
    parts = [f"{n} {effect}" for effect, n in counts.items() if n]
    total = len(calendar.sends)
    return (
        f"**{total} send{'s' if total != 1 else ''}** ({', '.join(parts) or 'none'}); "
        f"**{calendar.clash_count} clash{'es' if calendar.clash_count != 1 else ''}** "
        f"within {_hours(calendar.window)}; **{len(calendar.quiet)} in quiet hours** "
        f"({calendar.quiet_hours} local)."
    )


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:g} h"


# --------------------------------------------------------------------------- HTML

_CSS = """
:root{--new:#1a7f37;--moved:#9a6700;--cancelled:#cf222e;--unchanged:#57606a;--locked:#82071e;
--clash:#d1242f;--bg:#fff;--fg:#1f2328;--muted:#656d76;--line:#d0d7de}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);
background:var(--bg)}
header,main,section.findings,footer{max-width:1100px;margin:0 auto;padding:12px 16px}
h1{font-size:1.4em;margin:.2em 0}
h2{font-size:1.1em;margin:.2em 0 .5em}
.headline{font-size:1.05em;margin:.3em 0}
.totals{display:flex;flex-wrap:wrap;gap:6px;padding:0;margin:.5em 0;list-style:none}
.totals li{padding:2px 10px;border-radius:12px;border:1px solid var(--line);white-space:nowrap}
.findings ul{margin:.2em 0;padding-left:1.2em}
.findings.clashes{border-left:5px solid var(--clash);background:#fff5f5}
.findings.quiet{border-left:5px solid #6639ba;background:#f8f5ff}
.day{border-top:2px solid var(--fg);margin:14px 0 0;padding-top:6px;break-inside:avoid}
.day h2 small{color:var(--muted);font-weight:normal}
.lane{display:grid;grid-template-columns:170px 1fr;gap:8px;padding:6px 0;
border-bottom:1px solid var(--line);break-inside:avoid}
.lane-label{font-weight:600;overflow-wrap:anywhere}
.axis{position:relative;height:14px;margin:2px 0 6px;border-radius:3px;
background:repeating-linear-gradient(to right,var(--line) 0 1px,transparent 1px 4.1666%),#f6f8fa}
.axis .dot{position:absolute;top:2px;width:10px;height:10px;margin-left:-5px;border-radius:50%;
background:var(--unchanged)}
.axis-hours{display:flex;justify-content:space-between;font-size:.7em;color:var(--muted)}
.sends{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:4px}
.send{border:1px solid var(--line);border-left:6px solid var(--unchanged);border-radius:4px;
padding:3px 8px;overflow-wrap:anywhere}
.send .time{font-variant-numeric:tabular-nums}
.send .name{font-weight:600}
.send .kind{font-size:.75em;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
.send .local,.send .where,.send .from{color:var(--muted);font-size:.9em}
.badge{display:inline-block;font-size:.75em;padding:0 6px;border-radius:8px;color:#fff;
background:var(--unchanged);margin-left:4px;vertical-align:1px}
.eff-new{border-left-color:var(--new)}.badge.eff-new,.dot.eff-new{background:var(--new)}
.eff-moved{border-left-color:var(--moved)}.badge.eff-moved,.dot.eff-moved{background:var(--moved)}
.eff-cancelled{border-left-color:var(--cancelled)}
.badge.eff-cancelled,.dot.eff-cancelled{background:var(--cancelled)}
.send.eff-cancelled .name{text-decoration:line-through}
.eff-locked{border-left-color:var(--locked)}.badge.eff-locked,.dot.eff-locked{background:var(--locked)}
.send.clash{outline:2px solid var(--clash);background:#fff5f5}
.badge.clash{background:var(--clash)}.badge.quiet{background:#6639ba}
.dot.clash{box-shadow:0 0 0 2px var(--clash)}
footer{color:var(--muted);font-size:.85em}
@media (max-width:600px){body{font-size:14px}.lane{grid-template-columns:1fr;gap:2px}
header,main,section.findings,footer{padding:8px 10px}}
@media print{body{font-size:10pt}*{-webkit-print-color-adjust:exact;print-color-adjust:exact}
.day{break-inside:auto}.lane,.send{break-inside:avoid}header,main{max-width:none}}
"""


def render_html(calendar: Calendar) -> str:
    """One self-contained page: headline, clashes, night sends, then days with lanes."""
    clashing = calendar.clashing()
    quiet = {s.uid for s in calendar.quiet}
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        "<title>campaignctl send calendar</title>",
        f"<style>{_CSS}</style></head><body>",
        _html_header(calendar),
    ]
    if calendar.clashes:
        parts.append(_html_clashes(calendar.clashes, calendar.unlisted_clashes))
    if calendar.quiet:
        parts.append(_html_quiet(calendar))
    parts.append("<main>")
    days: dict[str, list[Send]] = {}
    for send in calendar.sends:
        key = send.at.strftime("%Y-%m-%d") if send.at else "on-activation"
        days.setdefault(key, []).append(send)
    for key, sends in days.items():
        parts.append(_html_day(key, sends, clashing, quiet))
    if not calendar.sends:
        parts.append("<p>No scheduled sends in this range.</p>")
    parts.append("</main>")
    parts.append(
        "<footer>Times are UTC, each with its campaign's own time zone beside it. Colours: "
        + " ".join(f'<span class="badge eff-{e}">{_EFFECT_WORD[e]}</span>' for e in Effect)
        + ' <span class="badge clash">clash</span> <span class="badge quiet">night</span>'
        " · made by campaignctl calendar</footer>"
    )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _h(text: str) -> str:
    """Data in HTML text or an attribute: controls made visible, then HTML-escaped."""
    return md_html(text)


def _html_header(calendar: Calendar) -> str:
    counts = calendar.counts()
    window = ""
    if calendar.start or calendar.end:
        window = (
            f" from {calendar.start.isoformat() if calendar.start else 'the start'}"
            f" to {calendar.end.isoformat() if calendar.end else 'the end'}"
        )
    items = "".join(
        f'<li class="eff-{effect}" style="border-left:6px solid var(--{effect})">{n} {effect}</li>'
        for effect, n in counts.items()
        if n
    )
    n_clash, n_quiet = calendar.clash_count, len(calendar.quiet)
    items += (
        f'<li class="clash" style="border-color:var(--clash)">{n_clash} '
        f"clash{'es' if n_clash != 1 else ''}</li>"
        f'<li class="quiet">{n_quiet} in quiet hours ({calendar.quiet_hours})</li>'
    )
    total = len(calendar.sends)
    return (
        "<header><h1>Send calendar</h1>"
        f'<p class="headline">{total} send{"s" if total != 1 else ""}{window}; '
        f"clashes within {_hours(calendar.window)}.</p>"
        f'<ul class="totals">{items}</ul></header>'
    )


def _html_clashes(clashes: Iterable[Clash], unlisted: int) -> str:
    items = []
    for clash in clashes:
        items.append(
            f'<li class="clash-item" data-first="{_h(clash.first.uid)}" '
            f'data-second="{_h(clash.second.uid)}">⚠ <b>{_h(clash.first.label)}</b> '
            f"({format_utc(clash.first.at)}, {_h(_audience(clash.first))}) and "
            f"<b>{_h(clash.second.label)}</b> ({format_utc(clash.second.at)}, "
            f"{_h(_audience(clash.second))}): {_hours(clash.gap)} apart, audiences may "
            "overlap</li>"
        )
    if unlisted:
        items.append(f'<li class="clash-more">… and {unlisted} more clashes not listed</li>')
    return (
        '<section class="findings clashes" id="clashes"><h2>Clashes</h2><ul>'
        + "".join(items)
        + "</ul></section>"
    )


def _html_quiet(calendar: Calendar) -> str:
    items = "".join(
        f'<li class="quiet-item" data-campaign="{_h(s.uid)}">☾ <b>{_h(s.label)}</b> at '
        f"{format_local(s)} local</li>"
        for s in calendar.quiet
    )
    return (
        f'<section class="findings quiet" id="quiet"><h2>At night '
        f"({calendar.quiet_hours} in the campaign's time zone)</h2><ul>{items}</ul></section>"
    )


def _audience(send: Send) -> str:
    return send.audience.label if send.audience else "no audience"


def _html_day(key: str, sends: list[Send], clashing: set[str], quiet: set[str]) -> str:
    if key == "on-activation":
        title = "On activation <small>(no send time: sends when started)</small>"
    else:
        day = datetime.strptime(key, "%Y-%m-%d")
        title = f"{day:%a %d %b %Y} <small>UTC</small>"
    lanes: dict[str, list[Send]] = {}
    for send in sends:
        lanes.setdefault(_audience(send), []).append(send)
    out = [f'<section class="day" id="day-{key}"><h2>{title}</h2>']
    for label in sorted(lanes):
        lane = lanes[label]
        out.append(f'<div class="lane" data-audience="{_h(label)}">')
        out.append(f'<div class="lane-label">{_h(label)}</div><div class="track">')
        if key != "on-activation":
            dots = "".join(
                f'<span class="dot eff-{s.effect}{" clash" if s.uid in clashing else ""}" '
                f'style="left:{_day_percent(s.at):.2f}%" title="{_h(s.label)}"></span>'
                for s in lane
                if s.at is not None
            )
            out.append(
                f'<div class="axis" aria-hidden="true">{dots}</div>'
                '<div class="axis-hours" aria-hidden="true"><span>00</span><span>06</span>'
                "<span>12</span><span>18</span><span>24</span></div>"
            )
        out.append('<ol class="sends">')
        out += [_html_send(s, clashing, quiet) for s in lane]
        out.append("</ol></div></div>")
    out.append("</section>")
    return "\n".join(out)


def _day_percent(moment: datetime | None) -> float:
    if moment is None:
        return 0.0
    return (moment.hour * 60 + moment.minute) / 1440 * 100


def _html_send(send: Send, clashing: set[str], quiet: set[str]) -> str:
    classes = ["send", f"eff-{send.effect}"]
    badges = [f'<span class="badge eff-{send.effect}">{_EFFECT_WORD[send.effect]}</span>']
    if send.effect == Effect.LOCKED:
        badges[0] = f'<span class="badge eff-locked">⊘ {_EFFECT_WORD[send.effect]}</span>'
    if send.uid in clashing:
        classes.append("clash")
        badges.append('<span class="badge clash">⚠ clash</span>')
    if send.uid in quiet:
        badges.append('<span class="badge quiet">☾ night</span>')
    if send.unmanaged:
        badges.append('<span class="badge">unmanaged</span>')
    time = (
        f'<span class="time">{send.at:%H:%M} UTC</span> '
        f'<span class="local">{_h(format_local(send))}</span> '
        if send.at is not None
        else '<span class="time">on activation</span> '
    )
    moved = ""
    if send.previous is not None:
        moved = f' <span class="from">moved from {format_utc(send.previous)}</span>'
    where = f' <span class="where">{_h(send.where)}</span>' if send.file else ""
    return (
        f'<li class="{" ".join(classes)}" data-effect="{send.effect}" '
        f'data-campaign="{_h(send.uid)}">{time}<span class="kind">{_h(_short_kind(send.kind))}'
        f'</span> <span class="name">{_h(send.label)}</span>{"".join(badges)}{moved}{where}</li>'
    )


def _short_kind(kind: str) -> str:
    return {"EmailCampaign": "email", "MessagingCampaign": "messaging"}.get(kind, text_safe(kind))
