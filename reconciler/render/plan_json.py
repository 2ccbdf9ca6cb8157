"""reconciler.render.plan_json: a Plan as the documented JSON (docs/plan-format.md).

The text is produced as a sequence of chunks (`iter_json`) so that a large plan is never
held whole: a 50,000-campaign plan is 31 MB of JSON, and building it as one tree, then as
bytes, then as one string, then as its escaped copy cost several times that at its peak.
The chunks joined are exactly the single document of before, `render_json`:
json.dumps(tree, indent=2, sort_keys=True, ensure_ascii=False) passed through json_safe.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Any, Final

from reconciler.jsoncodec import dumps_indented
from reconciler.plan import Action, ActionKind, Plan
from reconciler.render.escape import json_safe
from reconciler.render.remedies import remedies_for
from reconciler.render.values import is_recorded_hash

__all__ = ["iter_json", "render_json"]

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
    rest = json_safe(dumps_indented(plan.to_json(with_actions=False) | {"actions": []}))
    at = rest.index(_SLOT) + len(_SLOT) - 1  # between the brackets of `[]`
    if not plan.actions:
        yield rest
        return
    yield rest[:at] + "\n"
    actions = iter(plan.actions)
    separator = ""
    while some := tuple(islice(actions, batch)):
        yield separator + _encode_batch(some, stateful=stateful)
        separator = ",\n"
    yield "\n  " + rest[at:]


def _encode_batch(batch: Sequence[Action], *, stateful: bool) -> str:
    """The actions as they read inside the whole plan, without the enclosing brackets."""
    text = dumps_indented({"actions": [_action_json(a, stateful=stateful) for a in batch]})
    return json_safe(text[len(_BATCH_HEAD) : len(text) - len(_BATCH_TAIL)])


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
