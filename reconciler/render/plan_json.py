"""reconciler.render.plan_json: a Plan as the documented JSON (docs/plan-format.md).

The text is produced as a sequence of chunks (`iter_json`) so that a large plan is never
held whole: a 50,000-campaign plan is 31 MB of JSON, and building it as one tree, then as
bytes, then as one string, then as its escaped copy cost several times that at its peak.
The chunks joined are exactly the single document of before, `render_json`:
json.dumps(tree, indent=2, sort_keys=True, ensure_ascii=False) passed through json_safe.
A saved plan (`plan --out`, ASCII, without the derived keys) is written the same way
(`iter_saved_json`), by the same stitching.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from itertools import islice
from typing import Any, Final

from reconciler.jsoncodec import dumps_indented
from reconciler.plan import Action, ActionKind, Plan
from reconciler.render.escape import json_safe
from reconciler.render.remedies import remedies_for
from reconciler.render.values import is_recorded_hash

__all__ = ["iter_json", "iter_saved_json", "render_json"]

#: Actions encoded per call: small enough that a batch's tree and text stay under a
#: megabyte or two, large enough that the per-call cost is nothing next to the encoding.
BATCH: Final = 256

#: A batch is encoded inside a one-key document, so that each action is indented exactly as
#: it is inside the whole plan (two levels down) and nests to the same depth, which keeps
#: orjson's and json's depth limits where they were; these are that document's two ends.
_BATCH_HEAD: Final = '{\n  "actions": [\n'
_BATCH_TAIL: Final = "\n  ]\n}"
#: Where the actions go in the rest of the plan, encoded with `"actions": []`: a key at
#: the top level is the only one after a newline and exactly two spaces (a string holds
#: no raw newline), so this is found once, whichever place sorting gives the key.
_SLOT: Final = '\n  "actions": []'


def render_json(plan: Plan) -> str:
    """The documented JSON form (docs/plan-format.md), keys sorted, two-space indent.

    Each blocked action also carries `remedies` (see Remedy), and each change whose value is
    a write-only field's recorded hash carries `write_only: true` (a digest, not a value):
    both derived from the action, so not part of a saved plan.
    """
    return "".join(iter_json(plan))


def iter_json(plan: Plan, *, batch: int = BATCH) -> Iterator[str]:
    """`render_json(plan)` in chunks, each holding at most `batch` actions."""
    stateful = plan.state_lineage is not None
    return _chunks(plan, partial(_action_json, stateful=stateful), _shown, batch)


def iter_saved_json(plan: Plan, *, batch: int = BATCH) -> Iterator[str]:
    """A saved plan (`plan --out`) in chunks: joined, they are exactly
    json.dumps(plan.to_json(), indent=2, sort_keys=True) + "\n" (ASCII, no derived keys)."""
    yield from _chunks(plan, Action.to_json, _saved, batch)
    yield "\n"


def _shown(value: Any) -> str:
    return json_safe(dumps_indented(value))


def _saved(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True)


def _chunks(
    plan: Plan,
    action_json: Callable[[Action], dict[str, Any]],
    encode: Callable[[Any], str],
    batch: int,
) -> Iterator[str]:
    """The plan's document as `encode` writes it whole, a batch of actions at a time."""
    rest = encode(plan.to_json(with_actions=False) | {"actions": []})
    at = rest.index(_SLOT) + len(_SLOT) - 1  # between the brackets of `[]`
    if not plan.actions:
        yield rest
        return
    yield rest[:at] + "\n"
    actions = iter(plan.actions)
    separator = ""
    while some := tuple(islice(actions, batch)):
        # Encoded whole, then cut: the head and tail are ASCII, which no escaping changes.
        text = encode({"actions": [action_json(action) for action in some]})
        yield separator + text[len(_BATCH_HEAD) : len(text) - len(_BATCH_TAIL)]
        separator = ",\n"
    yield "\n  " + rest[at:]


def _action_json(action: Action, *, stateful: bool) -> dict[str, Any]:
    out = action.to_json()
    if action.action == ActionKind.BLOCKED:
        out["remedies"] = [r.to_json() for r in remedies_for(action, stateful=stateful)]
    _mark_write_only(out["changes"])
    for tp in out.get("touchpoints") or ():
        _mark_write_only(tp.get("changes") or ())
    return out


def _mark_write_only(changes: Iterable[dict[str, Any]]) -> None:
    for change in changes:
        path = change["path"]
        if is_recorded_hash(path, change["before"]) or is_recorded_hash(path, change["after"]):
            change["write_only"] = True
