"""reconciler.render.escape: one escaping function per output form (text, Markdown, GitHub).

Every name, key, value, path and API message goes through the function of the form it is
printed in. Data never decides where a line starts: a newline, CR or escape sequence in a
campaign name would otherwise start a forged line (a fake `::set-output` workflow command in
CI, a fake "Plan: 0 to create" line) or repaint the terminal.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

__all__ = [
    "fence",
    "github_data",
    "github_property",
    "json_safe",
    "longest_backticks",
    "md_code",
    "md_html",
    "md_text",
    "text_line_start",
    "text_safe",
]

#: C0 and C1 controls (ESC, CR, LF, TAB, DEL, CSI ...), the Unicode line and paragraph
#: separators, and the bidirectional overrides and isolates ("Trojan Source" reordering).
_CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
_NAMED_CONTROL = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED_CONTROL:
        return _NAMED_CONTROL[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def text_safe(text: str) -> str:
    """Text for a terminal or log: every control character made visible, repr-style (`\\x1b`).

    The result never holds a raw ESC, CR or LF, so it stays inside the one line it is on.
    """
    return _CONTROL.sub(_visible, text)


def text_line_start(text: str) -> str:
    """Like text_safe, for data that begins a line: never a line that starts with `::`.

    GitHub Actions reads any stdout line whose first non-blank characters are `::` as a
    workflow command; `./` keeps a path meaning the same path.
    """
    safe = text_safe(text)
    return f"./{safe}" if safe.lstrip().startswith("::") else safe


def github_data(text: str) -> str:
    """The message of a workflow command (`::error ...::MESSAGE`): GitHub's own escapes for
    `%`, CR and LF (a multi-line annotation stays one command), other controls made visible."""
    escaped = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text_safe(escaped)


def github_property(text: str) -> str:
    """A property of a workflow command (`file=VALUE`): data escapes plus `:` and `,`."""
    return github_data(text).replace(":", "%3A").replace(",", "%2C")


#: Characters that Markdown gives a meaning to inside a line: escapes, code, emphasis,
#: links and images (`[`), table cells, strikethrough. Each is backslash-escaped in prose
#: (prose never starts a line here, so list and heading markers mean nothing).
_MD_PUNCTUATION = re.compile(r"([\\`*_\[\]|~])")


def md_text(text: str) -> str:
    """Prose in Markdown (a warning, a message): shows as written, never as markup.

    HTML is escaped, Markdown punctuation backslash-escaped, controls made visible (so no
    newline ends a table row or a blockquote), and `@` is followed by a word joiner: GitHub
    notifies an `@user` even when the `@` is escaped, but not once it is split.
    """
    escaped = html.escape(text_safe(text), quote=False)
    escaped = _MD_PUNCTUATION.sub(r"\\\1", escaped)
    return escaped.replace("@", "@\u2060")


def md_html(text: str) -> str:
    """Text inside an HTML element of a Markdown comment (`<summary>`, `<code>`)."""
    return html.escape(text_safe(text), quote=True)


def md_code(text: str, *, table: bool = False) -> str:
    """A Markdown code span holding `text` verbatim, which nothing in it can end.

    The delimiter is one backtick longer than the longest run inside; `|` is escaped in a
    table cell (GFM splits cells before it reads code spans). Code is never a mention, a
    link or HTML.
    """
    safe = text_safe(text)
    if table:
        safe = safe.replace("|", "\\|")
    ticks = "`" * (longest_backticks(safe) + 1)
    pad = " " if safe.startswith(("`", " ")) or safe.endswith(("`", " ")) or not safe else ""
    return f"{ticks}{pad}{safe}{pad}{ticks}"


#: The controls json.dumps leaves raw with ensure_ascii=False (it escapes C0 itself).
_JSON_RAW = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def json_safe(text: str) -> str:
    """JSON text with DEL, C1 controls, U+2028... as `\\u` escapes: same JSON, safe to cat."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def fence(lines: Sequence[str]) -> str:
    """A code fence longer than any backtick run inside the block."""
    longest = max((longest_backticks(line) for line in lines), default=0)
    return "`" * max(3, longest + 1)


def longest_backticks(line: str) -> int:
    """The longest run of backticks in line."""
    best = run = 0
    for char in line:
        run = run + 1 if char == "`" else 0
        best = max(best, run)
    return best
