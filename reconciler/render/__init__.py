"""reconciler.render: a Plan or a drift report as text (a terminal), JSON (machines) or Markdown.

Decides nothing: every word comes from the Plan or the report. Pure functions returning
strings, one module per form, all names importable from here:

- escape: one escaping function per output form (text_safe, md_text, md_code, github_data...);
- budget: what fits in one GitHub comment (MARKDOWN_LIMIT, utf16_length);
- values: how values, names and ids read for people;
- plan_text, plan_markdown, plan_json: the plan in each form (JSON also in chunks:
  iter_json, and iter_saved_json for a saved plan);
- remedies: the ways past a blocked action; violations: policy violations as lines;
- drift: the drift report in each form.
"""

from __future__ import annotations

from reconciler.render.budget import MARKDOWN_LIMIT, utf16_length
from reconciler.render.drift import (
    render_drift,
    render_drift_json,
    render_drift_markdown,
    render_drift_text,
)
from reconciler.render.escape import (
    github_data,
    github_property,
    md_code,
    md_html,
    md_text,
    text_line_start,
    text_safe,
)
from reconciler.render.plan_json import iter_json, iter_saved_json, render_json
from reconciler.render.plan_markdown import github_run_url, render_markdown
from reconciler.render.plan_text import render_text
from reconciler.render.remedies import Remedy, md_remedies, remedies_for, text_remedies
from reconciler.render.values import NO_CHANGES, UNMANAGED_SHOWN, VALUE_WIDTH
from reconciler.render.violations import md_policy, policy_line, text_policy

__all__ = [
    "MARKDOWN_LIMIT",
    "NO_CHANGES",
    "UNMANAGED_SHOWN",
    "VALUE_WIDTH",
    "Remedy",
    "github_data",
    "github_property",
    "github_run_url",
    "iter_json",
    "iter_saved_json",
    "md_code",
    "md_html",
    "md_policy",
    "md_remedies",
    "md_text",
    "policy_line",
    "remedies_for",
    "render_drift",
    "render_drift_json",
    "render_drift_markdown",
    "render_drift_text",
    "render_json",
    "render_markdown",
    "render_text",
    "text_line_start",
    "text_policy",
    "text_remedies",
    "text_safe",
    "utf16_length",
]
