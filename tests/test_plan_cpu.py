"""The plan's hot paths, made cheaper for issue 17, give exactly what they gave before."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from deepdiff import DeepDiff
from deepdiff.helper import NotPresent
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.canonical import parse_send_time
from reconciler.diff import diff_values, unset
from reconciler.plan import ChangePath, FieldChange

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


_offsets = st.sampled_from(["", "Z", "+0800", "-0530", "+0000", "-0000", "+2359", "+2400",
                            "+0860", "+08:00", "+8", "+080000", "-1200", "+1400"])  # fmt: skip
_send_times = st.builds(
    lambda y, mo, d, h, mi, s, sep, pad, tz: f"{pad}{y}-{mo}-{d}{sep}{h}:{mi}:{s}{tz}{pad}",
    st.integers(0, 10000).map(lambda n: f"{n:04d}") | st.sampled_from(["１２３４", "203"]),
    _two(0, 13) | st.just("1"),
    _two(0, 32),
    _two(0, 25),
    _two(0, 61),
    _two(0, 62),
    st.sampled_from([" ", "T", "  "]),
    st.sampled_from(["", " ", "\t"]),
    _offsets,
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
    assert got is None or repr(got) == repr(expected)


def _deepdiff_whole(prefix: ChangePath, before: Any, after: Any) -> list[FieldChange]:
    """diff_values as it was: DeepDiff asked about the two whole values."""
    before, after = unset(before), unset(after)
    if before == after:
        return []
    if not (
        (isinstance(before, dict) and isinstance(after, dict))
        or (isinstance(before, list) and isinstance(after, list))
    ):
        return [FieldChange(prefix, before, after)]
    tree = DeepDiff(before, after, view="tree", ignore_numeric_type_changes=True)
    out = [
        FieldChange(
            (*prefix, *level.path(output_format="list")),
            None if isinstance(level.t1, NotPresent) else level.t1,
            None if isinstance(level.t2, NotPresent) else level.t2,
        )
        for levels in tree.values()
        for level in levels
    ]
    if not out:
        return [FieldChange(prefix, before, after)]
    return sorted(out, key=lambda c: tuple((0, p, "") if isinstance(p, int) else (1, 0, p)
                                           for p in c.path))  # fmt: skip


_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=True)
    | st.sampled_from(["", "a", "b", "__x"])
)
_keys = st.sampled_from(["type", "value", "name", "__private", "x"])
_json = st.recursive(
    _leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=12,
)


@st.composite
def _pairs(draw: st.DrawFn) -> tuple[Any, Any]:
    """Two values, often the same shape with a few leaves changed (as a plan's fields)."""
    before = draw(_json)
    if draw(st.booleans()):
        return before, draw(_json)

    def mutate(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: mutate(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mutate(v) for v in value]
        return draw(_leaves) if draw(st.integers(0, 3)) == 0 else value

    return before, mutate(before)


@settings(max_examples=1500)
@given(_pairs())
def test_diff_values_gives_what_deepdiff_gives_on_the_whole_values(pair: tuple[Any, Any]) -> None:
    before, after = pair
    expected = _deepdiff_whole(("f",), before, after)
    got = diff_values(("f",), before, after)
    assert [(c.path, repr(c.before), repr(c.after)) for c in got] == [
        (c.path, repr(c.before), repr(c.after)) for c in expected
    ]
