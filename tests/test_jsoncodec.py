"""jsoncodec writes the very bytes json writes, whichever encoder it picks (issue 17)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.canonical import stable_json
from reconciler.jsoncodec import dumps_compact, dumps_indented

# Every JSON-like value, with what orjson writes differently from json: floats (exponents,
# NaN, infinities), ints past 64 bits, lone surrogates, C0/C1 controls, non-str keys.
_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63 - 2, max_value=2**64 + 2)
    | st.floats()
    | st.text()
    | st.text(alphabet=st.characters(codec=None, categories=None))
)
_keys = (
    st.text()
    | st.integers()
    | st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF))
)
values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(_keys, inner, max_size=4)
    ),
    max_leaves=20,
)


def _same_outcome(ours: Any, theirs: Any, value: Any) -> None:
    try:
        expected = theirs(value)
    except (TypeError, ValueError, RecursionError) as exc:
        try:
            ours(value)
        except type(exc) as mine:
            assert str(mine) == str(exc)
            return
        raise AssertionError(f"json raised {exc!r}, jsoncodec did not") from None
    assert ours(value) == expected


@settings(max_examples=400)
@given(values)
def test_indented_json_is_byte_identical_to_the_json_module(value: Any) -> None:
    _same_outcome(
        dumps_indented,
        lambda v: json.dumps(v, indent=2, sort_keys=True, ensure_ascii=False),
        value,
    )


@settings(max_examples=400)
@given(values)
def test_compact_json_and_so_every_hash_is_byte_identical_to_the_json_module(value: Any) -> None:
    def theirs(v: Any) -> str:
        return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)

    _same_outcome(dumps_compact, theirs, value)
    _same_outcome(stable_json, theirs, value)


def test_the_values_orjson_writes_differently_take_json_s_path() -> None:
    for value in (
        {"rate": 1e-05},
        {"rate": float("nan")},
        {"big": 2**64},
        {"text": "\ud800"},
        {1: "int key"},
        [[[[]]]] * 2,
        {"deep": json.loads("[" * 300 + "]" * 300)},
        {"other": object()},
    ):
        try:
            expected = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
        except TypeError:
            expected = None
        if expected is None:
            try:
                dumps_indented(value)
            except TypeError:
                continue
            raise AssertionError("json raised TypeError, jsoncodec did not")
        assert dumps_indented(value) == expected
    assert stable_json({"other": object()}).startswith('{"other":"<object object at')
