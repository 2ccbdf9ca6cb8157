"""reconciler.applier.common: what every step shares: its progress, failures, bodies."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from reconciler.errors import (
    CampaignctlError,
    NotFound,
)
from reconciler.live import LiveCampaign

if TYPE_CHECKING:
    from reconciler.plan import Action


_P = TypeVar("_P")


class _StepFailed(Exception):
    """A step failed for a reason the applier found itself (e.g. touchpoint validation)."""


@dataclass
class _Step:
    """What one task has done so far: the effects and the campaign's remote id."""

    action: Action
    effects: list[str] = field(default_factory=list)
    remote_id: str | None = None
    message: str = ""


def _check_created(action: Action, live: LiveCampaign, known: bool) -> None:
    """Trust a create's answer only when it names what was sent and an id that is new.

    An answer carrying an id the state already holds (another campaign's) or another name
    would record a second name for one live campaign: a later delete would remove the
    wrong one. The provider checks the name too; this is where the state is known.
    """
    if live.name != action.name:
        raise _StepFailed(
            f"the API answered the create of {action.name!r} with a campaign named "
            f"{live.name!r} ({live.remote_id}); nothing recorded"
        )
    if known:
        raise _StepFailed(
            f"the API answered the create of {action.name!r} with {live.remote_id}, the id "
            "of a campaign the state already manages; nothing recorded"
        )


def _delete_ignoring_missing(delete: Callable[[str], Any], remote_id: str) -> None:
    """Delete; an object that is already gone is what a delete wanted."""
    with contextlib.suppress(NotFound):
        delete(remote_id)


def _message_of(exc: BaseException) -> str:
    if isinstance(exc, CampaignctlError):
        return str(exc)
    return str(exc) or type(exc).__name__


def _configured(provider: _P | None, missing: str) -> _P:
    """The provider a step needs; without one the step fails, saying what is missing."""
    if provider is None:
        raise _StepFailed(missing)
    return provider


def _desired(action: Action) -> dict[str, Any]:
    if action.desired is None:
        raise _StepFailed(f"the plan has no desired state for {action.kind}/{action.name}")
    return dict(action.desired)


def _remote_id(action: Action) -> str:
    if action.remote_id is None:
        raise _StepFailed(f"the plan has no remote id for {action.kind}/{action.name}")
    return action.remote_id


def update_fields(action: Action) -> dict[str, Any]:
    """The body of an email update: each changed top-level field's desired value (None = clear).

    A field that the YAML no longer has is sent as its empty value; the provider maps None to
    the API's "clear" form (the API's PUT keeps keys that a body leaves out).
    """
    desired = _desired(action)
    return {name: desired.get(name) for name in action.fields_to_send()}


def _touchpoint_body(desired: Mapping[str, Any], *, update: bool = False) -> dict[str, Any]:
    """What a touchpoint create/update sends besides the name: its type and message.

    An update without a message sends the empty one: PATCH keeps what a body leaves out, and
    a message the last apply set and the YAML dropped is cleared (semantics.md "Managed fields").
    """
    body: dict[str, Any] = {"type": desired.get("type")}
    if desired.get("message") is not None:
        body["message"] = desired["message"]
    elif update:
        body["message"] = ""
    return body
