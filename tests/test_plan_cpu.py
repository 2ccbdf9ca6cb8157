"""The plan's hot paths, made cheaper for issue 17, give exactly what they gave before."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.canonical import parse_send_time

_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S",
)


def _strptime_only(value: str) -> datetime | None:
    """parse_send_time as it was before its fast path: strptime, form by form."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+0000"
    for fmt in _FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def _two(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(lambda n: f"{n:02d}")


_send_times = st.builds(
    lambda y, mo, d, h, mi, s, sep, pad: f"{pad}{y}-{mo}-{d}{sep}{h}:{mi}:{s}{pad}",
    st.integers(0, 10000).map(lambda n: f"{n:04d}") | st.sampled_from(["１２３４", "203"]),
    _two(0, 13) | st.just("1"),
    _two(0, 32),
    _two(0, 25),
    _two(0, 61),
    _two(0, 62),
    st.sampled_from([" ", "T", "  "]),
    st.sampled_from(["", " ", "\t"]),
)


@settings(max_examples=600)
@given(_send_times)
def test_a_send_time_parses_to_what_strptime_gives_or_fails_as_it_did(text: str) -> None:
    expected = _strptime_only(text)
    try:
        got: datetime | None = parse_send_time(text)
    except ValueError:
        got = None
    assert got == expected
    assert got is None or got.tzinfo == expected.tzinfo  # type: ignore[union-attr]
