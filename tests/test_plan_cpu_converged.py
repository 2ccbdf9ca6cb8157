"""A converged plan's cheaper paths (issue 17): what they share or take once, and that the
plan, its state-only steps and its calendar come out as before."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from builders import email_yaml
from conftest import Workspace, run_python_json, sandbox_settings
from hypothesis import given, settings
from hypothesis import strategies as st

import reconciler.canonical as canonical
from reconciler.calendar import build_calendar
from reconciler.calendar.model import Audience, Effect
from reconciler.live import EMAIL_KIND, LiveCampaign, LiveTouchpoint
from reconciler.loader import LoadedCampaign, load_directory
from reconciler.plan import Action, ActionKind, Plan, Reason
from reconciler.sandbox import Sandbox
from reconciler.settings import Settings
from reconciler.workflow import _EarlyLive


def _fingerprint_as_before(live: LiveCampaign) -> str:
    """LiveCampaign.fingerprint as it was before it was kept: taken anew at every read."""
    return canonical.fingerprint(
        {
            "fields": dict(live.fields),
            "status": live.status,
            "touchpoints": [tp.to_dict() for tp in live.touchpoints],
        }
    )


_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)


@settings(max_examples=200)
@given(
    fields=st.dictionaries(st.text(max_size=6), _values, max_size=4),
    status=st.integers(-1, 3) | st.text(max_size=4),
    touchpoints=st.lists(st.tuples(st.text(max_size=4), st.none() | st.text(max_size=3))),
)
def test_a_kept_fingerprint_is_the_one_taken_anew(
    fields: dict[str, Any], status: int | str, touchpoints: list[tuple[str, str | None]]
) -> None:
    tps = tuple(LiveTouchpoint(f"id{i}", name, kind) for i, (name, kind) in enumerate(touchpoints))
    live = LiveCampaign(EMAIL_KIND, "7", "x", status, fields, tps)
    assert live.fingerprint == _fingerprint_as_before(live)
    assert live.fingerprint == _fingerprint_as_before(live)  # the kept one, read again


def test_a_fingerprint_is_taken_once_per_object(monkeypatch: pytest.MonkeyPatch) -> None:
    taken: list[object] = []
    real = canonical.fingerprint

    def counting(value: object) -> str:
        taken.append(value)
        return real(value)

    monkeypatch.setattr("reconciler.live.fingerprint", counting)
    live = LiveCampaign(EMAIL_KIND, "7", "x", 0, {"kind": EMAIL_KIND, "name": "x"})
    first = live.fingerprint
    assert [live.fingerprint for _ in range(3)] == [first] * 3
    assert len(taken) == 1


def test_a_replaced_live_campaign_has_its_own_fingerprint_not_the_kept_one() -> None:
    live = LiveCampaign(EMAIL_KIND, "7", "x", 0, {"kind": EMAIL_KIND, "name": "x"})
    before = live.fingerprint
    moved = dataclasses.replace(live, status=2)
    assert moved.fingerprint != before
    assert moved.fingerprint == _fingerprint_as_before(moved)


def test_a_kept_fingerprint_changes_neither_equality_nor_repr() -> None:
    def make() -> LiveCampaign:
        return LiveCampaign(EMAIL_KIND, "7", "x", 0, {"kind": EMAIL_KIND, "name": "x"})

    taken, fresh = make(), make()
    _ = taken.fingerprint
    assert taken == fresh
    assert repr(taken) == repr(fresh)
    assert "_fingerprint" not in repr(taken)


def test_the_early_list_takes_every_fingerprint_before_the_plan_reads_it(
    sandbox: Sandbox, workspace: Workspace
) -> None:
    sandbox.seed_email_campaigns(150, name_prefix="fp-")  # two pages
    early = _EarlyLive(
        sandbox_settings(sandbox, workspace.config), config_dir=workspace.config
    ).start()
    taken = early.take(True, False)
    assert taken is not None
    providers, live = taken
    with providers:
        assert len(live) == 150
        assert [c._fingerprint for c in live] == [_fingerprint_as_before(c) for c in live]


def test_campaigns_without_a_lifecycle_block_share_one_frozen_default(
    workspace: Workspace,
) -> None:
    workspace.write("a.yaml", email_yaml("A"))
    workspace.write("b.yaml", email_yaml("B"))
    loaded = load_directory(workspace.config)
    first, second = loaded.campaigns
    assert first.model.lifecycle is None and second.model.lifecycle is None
    assert first.lifecycle is second.lifecycle
    assert first.lifecycle is first.lifecycle
    assert first.lifecycle.ignore_changes == [] and first.lifecycle.prevent_destroy is False
    with pytest.raises(ValueError, match="frozen"):
        first.lifecycle.prevent_destroy = True  # type: ignore[misc]


def test_a_campaign_with_a_lifecycle_block_keeps_its_own(workspace: Workspace) -> None:
    workspace.write("a.yaml", email_yaml("A") + "lifecycle:\n  prevent_destroy: true\n")
    (campaign,) = load_directory(workspace.config).campaigns
    assert isinstance(campaign, LoadedCampaign)
    assert campaign.lifecycle.prevent_destroy is True


def _is_empty_as_before(value: Any) -> bool:
    """canonical.is_empty as it was: the five comparisons, whatever the type."""
    return value is None or value == "" or value == [] or value == {} or value == ()


class _Text(str):
    pass


class _Items(list[Any]):
    pass


class _EqualsEverything:
    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = object.__hash__


_anything = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=3)
    | st.text(max_size=2).map(_Text)
    | st.just(_EqualsEverything())
    | st.sampled_from([(), [], {}, "", b"", 0, 0.0, -0.0, False, frozenset()]),
    lambda inner: (
        st.lists(inner, max_size=2)
        | st.lists(inner, max_size=2).map(_Items)
        | st.lists(inner, max_size=2).map(tuple)
        | st.dictionaries(st.text(max_size=2), inner, max_size=2)
    ),
    max_leaves=4,
)


@settings(max_examples=500)
@given(_anything)
def test_is_empty_answers_as_its_five_comparisons_did(value: Any) -> None:
    assert canonical.is_empty(value) is _is_empty_as_before(value)


_BASE_DIRS = """
import json, os, sys
from pathlib import Path
from reconciler.loader import prefetch
from reconciler.loader.files import walk

root = Path(sys.argv[1])
os.chdir(root.parent)
root = Path(root.name)  # a relative root, as `campaignctl validate campaigns.d` gives
asked = []
loader = os.getpid()
log = sys.argv[2]  # the worker's calls, one line each (it shares no memory with us)
real_abspath = os.path.abspath
def counting(path):
    if os.getpid() == loader:
        asked.append(path)
    else:
        with open(log, "a") as out:
            out.write(path + "\\n")
    return real_abspath(path)
os.path.abspath = counting
worker = prefetch.Prefetcher.start(root, skip=0)
paths = [e.path for listing in walk(root, []) for e in listing.campaigns]
docs = [worker.take(path) for path in paths]
os.path.abspath = real_abspath
worker.close()
print(json.dumps({"paths": paths, "base_dirs": [d and d.base_dir for d in docs],
                  "asked": len(asked)}))
"""


def test_the_worker_s_documents_ask_for_each_directory_s_absolute_path_once(
    tmp_path: Path,
) -> None:
    root = tmp_path / "campaigns.d"
    for folder in (root, root / "team-a", root / "team-b" / "eu"):
        folder.mkdir(parents=True)
        for i in range(4):
            (folder / f"c{i}.yaml").write_text(email_yaml(f"{folder.name}-{i}"))
    log = tmp_path / "worker-abspath.log"
    log.touch()
    run = run_python_json(_BASE_DIRS, str(root), str(log))
    assert len(run["paths"]) == 12
    expected = [os.path.dirname(os.path.join(tmp_path, path)) for path in run["paths"]]
    assert run["base_dirs"] == expected
    assert run["asked"] == 3  # one per directory, not one per file (12 before)
    assert log.read_text() == ""  # and none in the worker, which sends no base_dir (12)


def test_a_send_time_variant_gone_from_the_yaml_is_cancelled_with_its_live_audience() -> None:
    # The old times are compared without their audiences; a cancelled one still shows its own.
    def fields(to: str, times: list[str]) -> dict[str, Any]:
        return {
            "kind": EMAIL_KIND,
            "name": "AB",
            "campaign_type": "ab",
            "time_zone": 8,
            "to": {"type": "tag", "value": [to]},
            "ab_test": {"send_times": times},
        }

    live_times = ["2099-01-01 10:00:00", "2099-01-02 10:00:00", "2099-01-03 10:00:00"]
    live = LiveCampaign(EMAIL_KIND, "5", "AB", 0, fields("old", live_times))
    desired = fields("new", ["2099-01-01 10:00:00", "2099-01-05 10:00:00"])
    action = Action(
        ActionKind.UPDATE, EMAIL_KIND, "AB", "5", Reason.FIELDS_DIFFER, "m", desired=desired
    )
    calendar = build_calendar(Plan(actions=(action,)), [], [live])
    got = [(s.variant, s.effect, s.audience, s.previous is not None) for s in calendar.sends]
    assert sorted(got, key=lambda row: row[0] or 0) == [
        (0, Effect.UNCHANGED, Audience("tag", ("new",)), False),
        (1, Effect.MOVED, Audience("tag", ("new",)), True),
        (2, Effect.CANCELLED, Audience("tag", ("old",)), False),
    ]


@settings(max_examples=300)
@given(
    st.one_of(
        st.none(),
        st.text(max_size=3),
        st.lists(
            st.dictionaries(
                st.sampled_from(["type", "value", "x"]),
                st.none() | st.text(max_size=3) | st.lists(st.text(max_size=2) | st.integers()),
            ),
            max_size=2,
        ),
        st.dictionaries(
            st.sampled_from(["type", "value"]),
            st.none() | st.text(max_size=3) | st.lists(st.text(max_size=2) | st.integers()),
        ),
    )
)
def test_an_audience_is_read_from_any_to_as_before(to: Any) -> None:
    def as_before(to: Any) -> Audience | None:
        if isinstance(to, list):
            to = to[0] if to else None
        if not isinstance(to, Mapping) or not to.get("type"):
            return None
        values = to.get("value") or ()
        if isinstance(values, str):
            values = (values,)
        return Audience(str(to["type"]), tuple(sorted(str(v) for v in values)))

    assert Audience.from_to(to) == as_before(to)


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text")


def test_a_fingerprint_that_fails_on_the_list_thread_is_left_to_the_plan(
    workspace: Workspace,
) -> None:
    sandbox_like = Settings(
        api_url="http://127.0.0.1:9",
        touchpoint_api_url="http://127.0.0.1:9",
        state_path=None,
        config_dir=workspace.config,
        api_user=None,
        api_key=None,
    )
    early = _EarlyLive(sandbox_like, config_dir=workspace.config)  # not started: no request
    bad = LiveCampaign(EMAIL_KIND, "1", "bad", 0, {"odd": _Unprintable()})
    good = LiveCampaign(EMAIL_KIND, "2", "good", 0, {"kind": EMAIL_KIND})
    early._live = [good, bad, LiveCampaign(EMAIL_KIND, "3", "after", 0, {})]
    early._take_fingerprints()  # no error here: the plan meets it where it did
    assert good._fingerprint == _fingerprint_as_before(good)
    assert early._live[2]._fingerprint is None  # the rest is left to the plan
    with pytest.raises(RuntimeError, match="no text"):
        _ = bad.fingerprint


def test_a_plan_without_placeholder_errors_formats_no_source(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler.modelbase import Source
    from reconciler.planner import compute_plan

    for name in ("A", "B", "C"):
        workspace.write(f"{name}.yaml", email_yaml(name))
    loaded = load_directory(workspace.config)
    formatted: list[str] = []
    real = Source.__str__

    def counting(source: Source) -> str:
        formatted.append(real(source))
        return real(source)

    monkeypatch.setattr(Source, "__str__", counting)
    plan = compute_plan(loaded.campaigns, None, [])
    assert [a.name for a in plan.actions] == ["A", "B", "C"]
    assert formatted == []  # one per campaign before, for errors that were not there
