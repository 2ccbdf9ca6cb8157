"""Equal values of a plan's state, live list and config are held once (issue 17: a plan of
50,000 campaigns under 300 MB), and sharing them changes no value, type or output."""

from __future__ import annotations

import dataclasses
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from builders import email_yaml
from conftest import Workspace, run_cli, run_python_json, sandbox_settings
from hypothesis import given
from hypothesis import strategies as st

from reconciler import sharing
from reconciler.importer import _dump
from reconciler.live import LiveCampaign
from reconciler.plan import ActionKind
from reconciler.providers.engagelab.client import decode_campaign
from reconciler.sandbox import Sandbox
from reconciler.workflow import build_plan


def test_equal_strings_and_flat_values_of_two_records_become_one_object() -> None:
    with sharing.scope():
        first = {"name": "A".lower(), "to": {"type": "list", "value": ["all"]}, "n": 8}
        second = {"name": "a".upper().lower(), "to": {"type": "list", "value": ["all"]}, "n": 8}
        assert first["name"] is not second["name"]
        sharing.share_fields(first)
        sharing.share_fields(second)
    assert first["name"] is second["name"]
    assert first["to"] is second["to"]
    assert first == {"name": "a", "to": {"type": "list", "value": ["all"]}, "n": 8}


def test_values_inside_deeper_structures_are_shared_in_place() -> None:
    with sharing.scope():
        first = {"warm_up": [{"domain": "x.com", "rate": 1}], "ab": {"t": {"u": ["v"]}}}
        second = {"warm_up": [{"domain": "x.com", "rate": 1}], "ab": {"t": {"u": ["v"]}}}
        sharing.share_fields(first)
        sharing.share_fields(second)
    assert first["warm_up"] is not second["warm_up"]  # a list of dicts stays each its own
    assert first["warm_up"][0]["domain"] is second["warm_up"][0]["domain"]
    assert first["ab"]["t"]["u"] is second["ab"]["t"]["u"]


_SCALAR = st.one_of(st.booleans(), st.integers(-3, 3), st.floats(-2, 2), st.text(max_size=2))
_FLAT = st.one_of(
    _SCALAR,
    st.lists(_SCALAR, max_size=3),
    st.dictionaries(st.sampled_from("ab"), st.one_of(_SCALAR, st.lists(_SCALAR, max_size=2))),
)


def _typed(value: Any) -> Any:
    """The value with every scalar's exact type beside it: True, 1 and 1.0 are told apart."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, value)


@given(st.lists(st.dictionaries(st.sampled_from("xyz"), _FLAT), max_size=6))
def test_sharing_changes_no_value_and_no_type(records: list[dict[str, Any]]) -> None:
    before = [_typed(record) for record in records]
    with sharing.scope():
        for record in records:
            sharing.share_fields(record)
    assert [_typed(record) for record in records] == before


def test_the_memo_is_forgotten_when_its_scope_ends() -> None:
    with sharing.scope():
        sharing.share("kept only while the scope lasts")
        assert sharing._memo
    assert not sharing._memo


def test_outside_a_scope_nothing_is_shared_nor_remembered() -> None:
    first, second = {"t": "x".upper(), "l": ["a"]}, {"t": "x".upper(), "l": ["a"]}
    sharing.share_fields(first)
    sharing.share_fields(second)
    sharing.share_strings([first, second])
    assert first["t"] is not second["t"] and first["l"] is not second["l"]
    assert sharing.share("y".upper()) is not sharing.share("y".upper())
    assert not sharing._memo


def test_a_value_met_twice_is_imported_twice_not_as_a_yaml_alias() -> None:
    shared = ["all", "vip"]
    text = _dump({"to": {"type": "list", "value": shared}, "cc": {"value": shared}})
    assert "&" not in text and "*" not in text
    assert text.count("- vip") == 2


def _converged(sandbox: Sandbox, workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    sandbox.seed_email_campaigns(40, name_prefix="shared-")
    env = ("--api-url", sandbox.url, "--state", str(workspace.state))
    code, _, err = run_cli(capsys, *env, "--config-dir", str(workspace.config), "import")
    assert code == 0, err


def test_a_plan_holds_the_states_and_the_live_lists_equal_values_once(
    sandbox_env: Sandbox, workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    _converged(sandbox_env, workspace, capsys)
    settings = dataclasses.replace(
        sandbox_settings(sandbox_env, workspace.config), state_path=workspace.state
    )
    with build_plan(settings) as context:
        records = list(context.state.campaigns.values())
        live = {c.name: c for c in context.live}
        assert {a.action for a in context.plan.actions} == {ActionKind.NO_OP}
    assert len(records) == 40
    assert len({id(r.last_applied["to"]) for r in records}) == 1
    assert len({id(r.kind) for r in records} | {id(r.last_applied["kind"]) for r in records}) == 1
    for record in records:
        obj = live[record.name]
        assert obj.fields["to"] is record.last_applied["to"]
        assert obj.fields["template_invoke_name"] is record.last_applied["template_invoke_name"]
        assert obj.fingerprint is record.live_fingerprint
        assert obj.name is record.name


def test_a_live_campaign_holds_only_what_a_plan_reads() -> None:
    """The list's display-only keys (create_time, from_email...) were copied into every live
    campaign and read by nothing: about 600 bytes each."""
    rows = [
        {
            "campaign_id": i,
            "name": f"bench-{i:05d}",
            "campaign_type": "normal",
            "to": [{"type": "list", "value": ["all"]}],
            "sender_id": 1,
            "template_invoke_name": "seed_template",
            "time_zone": "+8",
            "status": 0,
            "from_email": "news@example.com",
            "from_name": "News",
            "create_time": "2026-11-30T10:00:00+0800",
            "update_time": "2026-11-30T10:00:00+0800",
        }
        for i in range(1, 1001)
    ]
    assert not hasattr(LiveCampaign, "extra")
    with sharing.scope():
        tracemalloc.start()
        try:
            live = [decode_campaign(row) for row in rows]
            held, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert len(live) == 1000
    assert held / len(live) < 700, f"{held / len(live):.0f} bytes per live campaign"


_WORKER_LOAD = """
import json, sys
from pathlib import Path
from reconciler import sharing
from reconciler.loader import campaigns, load_directory, prefetch

root = Path(sys.argv[1])
campaigns.PREFETCH_AFTER = prefetch.PREFETCH_AFTER = 2
with sharing.scope():
    end = prefetch.parse_ahead(root)
    try:
        loaded = load_directory(root).campaigns
    finally:
        end()
worker = loaded[2:]
print(json.dumps({
    "count": len(worker),
    "templates": len({id(c.model.template_invoke_name) for c in worker}),
    "values": sorted({c.model.template_invoke_name for c in worker}),
}))
"""


def test_the_parse_workers_documents_share_their_equal_strings(tmp_path: Path) -> None:
    root = tmp_path / "campaigns.d"
    root.mkdir()
    for i in range(30):
        (root / f"c-{i:02d}.yaml").write_text(email_yaml(f"C{i}", template_invoke_name="news_tpl"))
    found = run_python_json(_WORKER_LOAD, str(root))
    assert found["count"] == 28 and found["values"] == ["news_tpl"]
    assert found["templates"] == 1  # one chunk of the worker: one string, not 28
