"""`plan --format json` is written a batch of actions at a time, and the bytes are exactly the
single document it was before (issue 17: a 50,000-campaign plan's peak memory).

The reference here is the rendering of before, with the json module alone: the whole tree,
json.dumps(indent=2, sort_keys=True, ensure_ascii=False), then json_safe.
"""

from __future__ import annotations

import json
import os
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import Workspace, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.cli.cmd_plan import echo_plan, write_plan_file
from reconciler.plan import (
    Action,
    ActionKind,
    FieldChange,
    Plan,
    PlanWarning,
    PolicyViolation,
    Reason,
    TouchpointAction,
)
from reconciler.render import iter_json, iter_saved_json, remedies_for, render_json
from reconciler.render.escape import json_safe
from reconciler.render.plan_json import BATCH
from reconciler.render.values import is_recorded_hash
from reconciler.sandbox import Sandbox
from tests.test_jsoncodec import values
from tests.test_render import sample_plan

HASH = "sha256:" + "ab" * 32  # a write-only field's recorded hash: marked write_only


def reference_json(plan: Plan) -> str:
    """The JSON plan as render_json wrote it before it was streamed: one tree, one string."""
    data = plan.to_json()
    stateful = plan.state_lineage is not None
    for action, out in zip(plan.actions, data["actions"], strict=True):
        if action.action == ActionKind.BLOCKED:
            out["remedies"] = [r.to_json() for r in remedies_for(action, stateful=stateful)]
        changes = [*out["changes"]]
        for tp in out.get("touchpoints") or ():
            changes.extend(tp.get("changes") or ())
        for change in changes:
            path, before, after = change["path"], change["before"], change["after"]
            if is_recorded_hash(path, before) or is_recorded_hash(path, after):
                change["write_only"] = True
    return json_safe(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))


def streamed(plan: Plan, batch: int = BATCH) -> str:
    return "".join(iter_json(plan, batch=batch))


def assert_same_outcome(plan: Plan, batch: int) -> None:
    """The streamed text equals the reference, or both raise the same kind of error."""
    try:
        expected = reference_json(plan)
    except (TypeError, ValueError) as exc:
        with pytest.raises(type(exc)):
            streamed(plan, batch)
        return
    assert streamed(plan, batch) == expected
    assert render_json(plan) == expected


# ------------------------------------------------------------------ awkward values

#: What orjson writes differently from json (floats, ints past 64 bits, lone surrogates),
#: what json_safe escapes (DEL, C1, U+2028, bidi controls), and what JSON escapes itself.
UNSAFE: dict[str, Any] = {
    "rate": 1e-05,
    "nan": float("nan"),
    "inf": float("-inf"),
    "big": 2**70,
    "surrogate": "\ud800 lone",
    "controls": "del\x7f c1\x85\x9f sep\u2028\u2029 bidi\u202e\u2066 c0\x1b\x00",
    "unicode": "Grüße ✉ 🎉",
    "nested": {"list": [1.5, {"deep": ["\u200e"]}], "empty": {}, "none": None},
}


def awkward_actions(count: int) -> list[Action]:
    """`count` actions cycling through every kind of output: unsafe values, blocked
    actions (with remedies), write-only hashes, touchpoints, the sample plan's own."""
    model = sample_plan().actions
    out: list[Action] = []
    for i in range(count):
        base = model[i % len(model)]
        name = f"{base.name} {i:04}"
        if i % 5 == 1:
            base = replace(base, desired={**(base.desired or {}), "unsafe": UNSAFE, "i": i})
        if i % 7 == 2:
            base = replace(
                base,
                action=ActionKind.BLOCKED,
                reason=Reason.EXECUTED_CANNOT_UPDATE,
                changes=(FieldChange(("subject",), HASH, "after\x85"),),
            )
        if i % 11 == 3:
            base = replace(
                base,
                kind="MessagingCampaign",
                touchpoints=(
                    TouchpointAction(
                        ActionKind.UPDATE,
                        "Day 1\u2028",
                        "tp_1",
                        Reason.TOUCHPOINT_FIELDS_DIFFER,
                        (FieldChange(("message",), HASH, {"text": "hi\x9b", "n": 2.5}),),
                        {"name": "Day 1", "big": 2**64},
                    ),
                ),
            )
        out.append(replace(base, name=name))
    return out


def awkward_plan(count: int, **over: Any) -> Plan:
    fields: dict[str, Any] = {
        "actions": tuple(awkward_actions(count)),
        "state_lineage": "lineage-\x85",
        "state_serial": 7,
        "config_dir": "campaigns.d/\u2029",
        "warnings": ("a warning\x7f",),
        "managed": count,
        "coded_warnings": (PlanWarning("send_clash", "clash \u202e", ({"name": "x", "w": 0.5},)),),
        "policy": (PolicyViolation("r", "hard", "EmailCampaign", "n\x85", "f.yaml", 3, "m"),),
    }
    return Plan(**(fields | over))


@pytest.mark.parametrize(
    "count",
    [0, 1, BATCH - 1, BATCH, BATCH + 1, 2 * BATCH + 3],
)
def test_streamed_json_is_the_single_document_byte_for_byte(count: int) -> None:
    plan = awkward_plan(count)
    if count > 2:
        assert any(a.action == ActionKind.BLOCKED for a in plan.actions)
        assert '"write_only": true' in streamed(plan)
    assert_same_outcome(plan, BATCH)


@pytest.mark.parametrize("over", [{"outside_target": 3}, {"state_lineage": None}, {}])
def test_streamed_json_is_the_same_whatever_the_top_level_keys(over: dict[str, Any]) -> None:
    # `actions` sorts first among the top-level keys, `outside_target` and the others
    # after it: the actions go back where the one-document rendering put them.
    plan = awkward_plan(5, **over)
    text = streamed(plan, batch=2)
    assert text == reference_json(plan)
    assert ("outside_target" in json.loads(text)) == ("outside_target" in over)


def test_sample_plan_streams_as_its_golden_file_reads() -> None:
    plan = sample_plan()
    for batch in (1, 2, len(plan.actions), BATCH):
        assert streamed(plan, batch) == reference_json(plan)


plain_names = st.text(alphabet=st.characters(codec="utf-8"), max_size=8)


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    actions = []
    for i in range(draw(st.integers(0, 7))):
        changes = draw(
            st.lists(
                st.builds(FieldChange, st.just(("f", i)), values | st.just(HASH), values),
                max_size=2,
            )
        )
        actions.append(
            Action(
                draw(st.sampled_from(list(ActionKind))),
                draw(st.sampled_from(["EmailCampaign", "MessagingCampaign"])),
                f"{draw(plain_names)} {i}",
                draw(st.none() | st.text(max_size=4)),
                draw(st.sampled_from(list(Reason))),
                draw(st.text(max_size=10)),
                tuple(changes),
                desired=draw(st.none() | st.dictionaries(st.text(max_size=4), values, max_size=3)),
                live_status=draw(st.none() | st.integers() | st.text(max_size=3)),
            )
        )
    return Plan(
        actions=tuple(actions),
        state_lineage=draw(st.none() | st.text(max_size=6)),
        warnings=tuple(draw(st.lists(st.text(max_size=6), max_size=2))),
        outside_target=draw(st.none() | st.integers(0, 3)),
    )


@settings(max_examples=300, deadline=None)
@given(plan=plans(), batch=st.integers(1, 3))
def test_streamed_json_equals_the_single_document_for_any_plan(plan: Plan, batch: int) -> None:
    assert_same_outcome(plan, batch)


# ------------------------------------------------------------------ memory


def converged(count: int) -> Plan:
    """A converged plan like a 50,000-campaign one, `count` no-op actions."""
    return Plan(
        actions=tuple(
            Action(
                ActionKind.NO_OP,
                "EmailCampaign",
                f"bench-{i:05}",
                str(i),
                Reason.UP_TO_DATE,
                "up to date",
                desired={
                    "kind": "EmailCampaign",
                    "name": f"bench-{i:05}",
                    "campaign_type": "normal",
                    "to": {"type": "list", "value": ["all"]},
                    "sender_id": "1",
                    "template_invoke_name": "seed_template",
                    "time_zone": 8,
                },
                live_fingerprint=f"{i:032x}",
                live_status=0,
            )
            for i in range(count)
        ),
        state_lineage="lineage",
        state_serial=1,
        managed=count,
    )


@contextmanager
def stdout_to_devnull() -> Iterator[None]:
    with open(os.devnull, "w", encoding="utf-8") as sink, redirect_stdout(sink):
        yield


def printing_peak(plan: Plan) -> int:
    """Bytes traced at the peak of printing `plan` as JSON, above what was held before."""
    with stdout_to_devnull():
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            echo_plan(plan, "json")
            return tracemalloc.get_traced_memory()[1] - before
        finally:
            tracemalloc.stop()


def test_printing_a_json_plan_costs_one_batch_of_memory_whatever_its_size() -> None:
    # Printed whole, a plan cost its tree, its bytes and several copies of its text: the
    # peak grew with the plan. Streamed, it is one batch's worth.
    small, large = converged(4 * BATCH), converged(32 * BATCH)
    text_size = len(render_json(large))
    small_peak, large_peak = printing_peak(small), printing_peak(large)
    assert large_peak < 1.25 * small_peak
    assert large_peak < text_size / 4


# ------------------------------------------------------------------ the command


def test_plan_command_prints_a_many_batch_plan_as_one_document(
    sandbox_env: Sandbox, workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    count = 2 * BATCH + 5
    sandbox_env.seed_email_campaigns(count, name_prefix="bench-")
    state = ["--state", str(workspace.state), "--config-dir", str(workspace.config)]
    code, _, err = run_cli(capsys, *state, "import")
    assert code == 0, err
    code, out, err = run_cli(
        capsys, *state, "plan", str(workspace.config), "--format", "json", "--detailed-exitcode"
    )
    assert code == 0, err
    assert out.endswith("}\n") and not out.endswith("\n\n")
    document = json.loads(out)
    assert len(document["actions"]) == count
    assert out == reference_json(Plan.from_json(document)) + "\n"


# ------------------------------------------------------------------ saved plans (--out)


def saved_reference(plan: Plan) -> str:
    return json.dumps(plan.to_json(), indent=2, sort_keys=True) + "\n"


@pytest.mark.parametrize("count", [0, 1, BATCH, 2 * BATCH + 3])
def test_saved_plan_is_written_as_the_single_document_byte_for_byte(
    tmp_path: Path, count: int
) -> None:
    plan = awkward_plan(count, outside_target=2)
    path = tmp_path / "plan.json"
    write_plan_file(plan, path)
    assert path.read_text(encoding="utf-8") == saved_reference(plan)
    assert path.read_bytes().isascii()


@settings(max_examples=150, deadline=None)
@given(plan=plans(), batch=st.integers(1, 3))
def test_saved_plan_chunks_equal_the_single_document_for_any_plan(plan: Plan, batch: int) -> None:
    try:
        expected = saved_reference(plan)
    except (TypeError, ValueError) as exc:
        with pytest.raises(type(exc)):
            "".join(iter_saved_json(plan, batch=batch))
        return
    assert "".join(iter_saved_json(plan, batch=batch)) == expected


def test_a_saved_plan_that_cannot_be_encoded_leaves_the_old_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text("old plan\n", encoding="utf-8")
    actions = list(converged(3 * BATCH).actions)
    actions[-1] = replace(actions[-1], desired={"unencodable": object()})  # the last batch
    with pytest.raises(TypeError):
        write_plan_file(Plan(actions=tuple(actions)), path)
    assert path.read_text(encoding="utf-8") == "old plan\n"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]  # no temp file left
