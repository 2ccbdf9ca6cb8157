"""One diff engine (reconciler.diff) for plan and drift, checked on lists that change length.

The planner and drift once explained a differing value with two engines that disagreed
when a list grew or shrank: drift printed the whole list, the plan one item. Each case
here is one campaign whose `to.value` list grows, shrinks or gets an item in the middle;
the plan (config says new, live is old) and the drift (last apply was old, live is new)
must name the same changes, and their renderings are pinned by golden files
(regenerate with `UPDATE_GOLDEN=1`, see tests/test_render.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from test_render import check_golden, email, live_of, record_of

from reconciler.diff import diff_values
from reconciler.drift import Drift, compute_drift, render_drift
from reconciler.plan import FieldChange, Plan
from reconciler.planner import compute_plan
from reconciler.render import render_json, render_markdown, render_text
from reconciler.state import State

#: name -> (the list before, the list after)
LIST_CASES: dict[str, tuple[list[str], list[str]]] = {
    "List grows": (["a", "b"], ["a", "b", "c"]),
    "List shrinks": (["a", "b", "c"], ["a", "b"]),
    "Item inserted": (["a", "c"], ["a", "b", "c"]),
}


def _to(values: list[str]) -> dict[str, Any]:
    return {"type": "tag", "value": values}


def _state() -> State:
    return State(lineage="11111111-2222-3333-4444-555555555555", serial=3)


def list_plan() -> Plan:
    """Config holds the new lists; state and live hold the old ones."""
    state = _state()
    live = []
    for index, (name, (old, _new)) in enumerate(LIST_CASES.items()):
        state.put(record_of(email(name, to=_to(old)), str(200 + index)))
        live.append(live_of(email(name, to=_to(old)), str(200 + index)))
    desired = [email(name, to=_to(new)) for name, (_old, new) in LIST_CASES.items()]
    return compute_plan(desired, state, live, config_dir="campaigns.d")


def list_drift() -> Drift:
    """The last apply set the old lists; someone changed them to the new ones in the UI."""
    state = _state()
    live = []
    for index, (name, (old, new)) in enumerate(LIST_CASES.items()):
        state.put(record_of(email(name, to=_to(old)), str(200 + index)))
        live.append(live_of(email(name, to=_to(new)), str(200 + index)))
    return compute_drift(state, live)


def _plan_changes(plan: Plan) -> dict[str, list[tuple[Any, ...]]]:
    return {a.name: [(c.path, c.before, c.after) for c in a.changes] for a in plan.actions}


def _drift_changes(drift: Drift) -> dict[str, list[tuple[Any, ...]]]:
    return {i.name: [(c.path, c.before, c.after) for c in i.changes] for i in drift.items}


def test_plan_and_drift_name_the_same_changes_when_a_list_changes_length() -> None:
    plan, drift = _plan_changes(list_plan()), _drift_changes(list_drift())
    assert plan == drift
    assert drift == {
        "List grows": [(("to", "value", 2), None, "c")],
        "List shrinks": [(("to", "value", 2), "c", None)],
        "Item inserted": [(("to", "value", 1), None, "b")],
    }


@pytest.mark.parametrize(
    ("golden", "render"),
    [
        ("lists_plan.txt", lambda: render_text(list_plan(), color=False)),
        ("lists_plan.json", lambda: render_json(list_plan()) + "\n"),
        ("lists_plan.md", lambda: render_markdown(list_plan())),
        ("lists_drift.txt", lambda: render_drift(list_drift(), "text")),
        ("lists_drift.json", lambda: render_drift(list_drift(), "json")),
        ("lists_drift.md", lambda: render_drift(list_drift(), "markdown")),
    ],
)
def test_list_length_golden(golden: str, render: Any) -> None:
    check_golden(golden, render())


# --------------------------------------------------------------------------- the engine


def test_equal_and_equally_unset_values_have_no_changes() -> None:
    assert diff_values(("to",), {"value": ["a"]}, {"value": ["a"]}) == []
    assert diff_values(("warm_up",), [], None) == []
    assert diff_values(("reply_to",), "", {}) == []


def test_scalar_or_shape_change_is_one_change_with_unset_as_none() -> None:
    assert diff_values(("reply_to",), "a@x", "") == [FieldChange(("reply_to",), "a@x", None)]
    assert diff_values(("to",), {"type": "tag"}, ["x"]) == [
        FieldChange(("to",), {"type": "tag"}, ["x"])
    ]


def test_nested_changes_come_leaf_by_leaf_sorted_by_path() -> None:
    before = {"type": "tag", "value": ["a", "b"], "z": 1}
    after = {"type": "list", "value": ["a", "x", "y"], "k": 2}
    assert diff_values(("to",), before, after) == [
        FieldChange(("to", "k"), None, 2),
        FieldChange(("to", "type"), "tag", "list"),
        FieldChange(("to", "value", 1), "b", "x"),
        FieldChange(("to", "value", 2), None, "y"),
        FieldChange(("to", "z"), 1, None),
    ]


def test_numbers_of_another_type_but_equal_value_are_no_change() -> None:
    assert diff_values(("ab_test",), {"percent": 20}, {"percent": 20.0}) == []
