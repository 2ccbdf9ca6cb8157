"""state/model.py: a well-formed state document is read without pydantic (`_plain_state`),
into exactly the State the pydantic path builds; anything else takes that path and its
error messages."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.errors import StateError
from reconciler.state import model
from reconciler.state.model import FORMAT_VERSION, State, parse_state

RECORD = {
    "kind": "EmailCampaign",
    "name": "Spring",
    "remote_id": "7",
    "last_applied": {"name": "Spring", "to": {"type": "tag", "value": ["a"]}, "time_zone": 8},
    "live_fingerprint": "ab" * 16,
    "status": 0,
    "touchpoint_ids": {},
    "applied_at": "2026-11-30T10:00:00Z",
}


def _doc(**records: dict[str, Any]) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "lineage": "0f6a",
        "serial": 3,
        "campaigns": records or {"EmailCampaign/Spring": RECORD},
    }


def _through_pydantic(data: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> State:
    with monkeypatch.context() as patched:
        patched.setattr(model, "_plain_state", lambda data: None)
        return State.from_dict(copy.deepcopy(data), "s.json")


def _validations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    for cls in (model.StateDocument, model.RecordDocument):
        original = cls.model_validate

        def counted(data: Any, *args: Any, _o: Any = original, _n: str = cls.__name__) -> Any:
            calls.append(_n)
            return _o(data, *args)

        monkeypatch.setattr(cls, "model_validate", counted)
    return calls


def test_a_well_formed_state_is_read_without_pydantic(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _validations(monkeypatch)
    state = parse_state(json.dumps(_doc()).encode(), "s.json")
    assert calls == []
    assert state.serial == 3 and state.get("EmailCampaign", "Spring") is not None


record_values = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["EmailCampaign", "MessagingCampaign"]),
        "name": st.text(min_size=1, max_size=8),
        "remote_id": st.text(max_size=6),
        "last_applied": st.dictionaries(
            st.text(max_size=5),
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                lambda inner: (
                    st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=3), inner, max_size=3)
                ),
                max_leaves=6,
            ),
            max_size=4,
        ),
        "live_fingerprint": st.none() | st.text(max_size=4) | st.integers(),
        "status": st.none() | st.booleans() | st.integers() | st.text(max_size=3) | st.floats(),
        "touchpoint_ids": st.dictionaries(st.text(max_size=3), st.text(max_size=3) | st.integers()),
        "applied_at": st.text(max_size=4) | st.none(),
    }
)


@settings(max_examples=300, deadline=None)
@given(
    records=st.lists(record_values, max_size=4),
    serial=st.integers(min_value=-1, max_value=3) | st.booleans(),
    version=st.sampled_from([FORMAT_VERSION, True, 0]),
    lineage=st.sampled_from(["", "x", 5]),
    extra=st.booleans(),
    wrong_key=st.booleans(),
)
def test_the_fast_path_reads_what_pydantic_reads_and_refuses_the_rest_as_it_does(
    records: list[dict[str, Any]],
    serial: Any,
    version: Any,
    lineage: Any,
    extra: bool,
    wrong_key: bool,
) -> None:
    campaigns = {f"{r['kind']}/{r['name']}": r for r in records}
    if wrong_key and records:
        campaigns["EmailCampaign/other"] = records[0]
    data: dict[str, Any] = {
        "format_version": version,
        "lineage": lineage,
        "serial": serial,
        "campaigns": campaigns,
    }
    if extra:
        data["note"] = "x"
    with pytest.MonkeyPatch.context() as patch:
        try:
            expected: State | str = _through_pydantic(data, patch)
        except StateError as exc:
            expected = str(exc)
    try:
        got: State | str = State.from_dict(copy.deepcopy(data), "s.json")
    except StateError as exc:
        got = str(exc)
    assert got == expected


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"status": True}, "status"),
        ({"status": 2**70}, None),
        ({"touchpoint_ids": {"a": 1}}, "touchpoint_ids"),
        ({"live_fingerprint": 5}, "live_fingerprint"),
    ],
)
def test_edge_values_take_pydantic_and_its_answer(
    change: dict[str, Any], message: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _doc(**{"EmailCampaign/Spring": {**RECORD, **change}})
    calls = _validations(monkeypatch)
    if message is None:
        state = State.from_dict(data, "s.json")
        assert state.get("EmailCampaign", "Spring").status == 2**70  # type: ignore[union-attr]
    else:
        with pytest.raises(StateError, match=message):
            State.from_dict(data, "s.json")
    assert calls[:1] == ["StateDocument"]
