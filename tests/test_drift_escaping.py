"""Issue 12: drift reports print live data escaped, as the plan does (reconciler.render).

A live campaign's name, id, message and values come from the API: in a terminal they must
not recolour it, move the cursor or start a line GitHub Actions reads as a command; in a
Markdown comment they must not break the table, end the code fence, open HTML or mention.
"""

from __future__ import annotations

import re

from builders import state_of as state_with
from test_drift import EMAIL_FIELDS, live_of, record_of

from reconciler.drift import compute_drift, render_drift_markdown, render_drift_text

HOSTILE = "evil\x1b[31m\r\n::error::pwned | `x` ``` <script>alert(1)</script> @team"


def _drift_with_hostile_values() -> object:
    name = {**EMAIL_FIELDS, "name": HOSTILE}
    changed = {**name, "reply_to": "x@y.z\n::warning::also\x1b]0;title\x07 ````"}
    return compute_drift(state_with(record_of(name, "1")), [live_of(changed, "1")])


def test_drift_text_shows_a_hostile_name_and_value_without_control_characters() -> None:
    text = render_drift_text(_drift_with_hostile_values())  # type: ignore[arg-type]
    assert "\x1b" not in text and "\r" not in text and "\x07" not in text
    assert "\\x1b[31m" in text
    lines = text.splitlines()
    assert not any(line.lstrip().startswith("::") for line in lines)
    assert sum("pwned" in line for line in lines) == 1


def test_drift_markdown_keeps_a_hostile_name_and_value_inside_their_cells_and_fence() -> None:
    markdown = render_drift_markdown(_drift_with_hostile_values())  # type: ignore[arg-type]
    assert "\x1b" not in markdown and "\r" not in markdown
    assert "<script>" not in markdown
    assert "@team" not in markdown  # split by a word joiner: no mention
    (row,) = [line for line in markdown.splitlines() if "pwned" in line and line.startswith("|")]
    cells = re.split(r"(?<!\\)\|", row)[1:-1]
    assert len(cells) == 5  # the name's `|` is escaped: still five cells
    assert "| fields_changed |" in row
    # The diff fence is longer than any backtick run inside it, so nothing ends it early.
    fence_lines = [line for line in markdown.splitlines() if set(line) <= {"`"} and line]
    opening = next(line for line in markdown.splitlines() if line.endswith("diff"))
    assert len(opening) - len("diff") > 4
    assert fence_lines and len(fence_lines[-1]) == len(opening) - len("diff")
    assert not any(line.lstrip().startswith("::") for line in markdown.splitlines())
