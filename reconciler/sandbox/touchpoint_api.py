"""reconciler.sandbox.touchpoint_api: the touchpoint campaign API in SPEC.md's REST form.

`/v1/campaigns[/{id}]` and `/v1/touchpoints[/{id}|/validate]`, bearer auth, errors as
`{"error": {"code", "message"}}`. `message` is write-only: stored, never returned.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from reconciler.sandbox.store import Store, iso_utc
from reconciler.sandbox.wire import ApiRequest, BadBody, Reply, first_query_value, parse_json_body

__all__ = [
    "CAMPAIGNS",
    "TOUCHPOINTS",
    "TouchpointApiError",
    "handle",
    "render_campaign",
    "render_touchpoint",
    "validation_errors",
]

CAMPAIGNS = "/v1/campaigns"
TOUCHPOINTS = "/v1/touchpoints"
LIST_LIMIT_DEFAULT = 20
LIST_LIMIT_MAX = 100
TOUCHPOINT_TYPES = ("message", "action")


class TouchpointApiError(Exception):
    """An error reply: HTTP status, machine code, human message."""

    def __init__(self, status: int, code: str, message: str, **headers: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers)

    def reply(self) -> Reply:
        body = {"error": {"code": self.code, "message": self.message}}
        return Reply(self.status, body, self.headers)


def _bad(message: str) -> TouchpointApiError:
    return TouchpointApiError(400, "invalid_request", message)


def _not_found(what: str, ident: str) -> TouchpointApiError:
    return TouchpointApiError(404, "not_found", f"{what} {ident} not found")


def _not_allowed(method: str, allow: str) -> TouchpointApiError:
    return TouchpointApiError(
        405, "method_not_allowed", f"{method} is not allowed here", Allow=allow
    )


def _completed(campaign_id: str) -> TouchpointApiError:
    return TouchpointApiError(
        409,
        "campaign_completed",
        f"campaign {campaign_id} is completed: its touchpoints cannot change",
    )


# --------------------------------------------------------------------------- rendering


def render_campaign(record: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("_id", "name", "status", "channel_type", "created_at", "updated_at")
    return {key: record[key] for key in keys}


def render_touchpoint(record: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("_id", "name", "type", "campaign_id", "created_at")
    return {key: record[key] for key in keys}


# --------------------------------------------------------------------------- validation


def _message_text_ok(message: Any) -> bool:
    if isinstance(message, str):
        return bool(message.strip())
    if isinstance(message, Mapping):
        text = message.get("text")
        return isinstance(text, str) and bool(text.strip())
    return False


def validation_errors(record: Mapping[str, Any]) -> list[str]:
    """Return one sentence per broken rule of a stored touchpoint (empty when valid)."""
    errors: list[str] = []
    name = record.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.append("The touchpoint name must not be empty.")
    kind = record.get("type")
    if kind not in TOUCHPOINT_TYPES:
        errors.append(f"The touchpoint type must be 'message' or 'action', not {kind!r}.")
    if kind == "message" and not _message_text_ok(record.get("message")):
        errors.append(
            "A message touchpoint needs a non-empty message "
            "(a non-empty string, or an object with a non-empty 'text')."
        )
    return errors


# --------------------------------------------------------------------------- request parsing


def _check_auth(request: ApiRequest, token: str) -> None:
    header = request.header("Authorization") or ""
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip(), token):
        raise TouchpointApiError(401, "unauthorized", "missing or invalid bearer token")


def _body(request: ApiRequest, allowed: frozenset[str]) -> dict[str, Any]:
    try:
        body = parse_json_body(request.body)
    except BadBody as exc:
        raise _bad(str(exc)) from None
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise _bad(f"unknown field: {', '.join(unknown)}")
    return body


def _required_string(body: Mapping[str, Any], key: str) -> str:
    if key not in body:
        raise _bad(f"missing field: {key}")
    value = body[key]
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"{key} must be a non-empty string")
    return value


def _message(value: Any) -> Any:
    if value is None or isinstance(value, str | dict):
        return value
    raise _bad('message must be a string or an object such as {"text": "..."}')


def _page(request: ApiRequest) -> tuple[int, int]:
    def number(name: str, default: int, low: int, high: int | None) -> int:
        raw = first_query_value(request.query, name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise _bad(f"{name} must be an integer") from None
        if value < low or (high is not None and value > high):
            raise _bad(f"{name} must be {f'from {low} to {high}' if high else f'>= {low}'}")
        return value

    return number("limit", LIST_LIMIT_DEFAULT, 1, LIST_LIMIT_MAX), number("offset", 0, 0, None)


def _listing(items: list[dict[str, Any]], request: ApiRequest) -> Reply:
    limit, offset = _page(request)
    return Reply(200, {"data": items[offset : offset + limit], "total": len(items)})


# --------------------------------------------------------------------------- handlers


def handle(store: Store, request: ApiRequest, *, token: str) -> Reply:
    """Answer one request under /v1/campaigns or /v1/touchpoints; the caller holds the lock."""
    try:
        _check_auth(request, token)
        if request.path.startswith(CAMPAIGNS):
            return _campaigns(store, request, request.path[len(CAMPAIGNS) :].strip("/"))
        return _touchpoints(store, request, request.path[len(TOUCHPOINTS) :].strip("/"))
    except TouchpointApiError as exc:
        return exc.reply()


def _campaign(store: Store, campaign_id: str) -> dict[str, Any]:
    record = store.tp_campaigns.get(campaign_id)
    if record is None:
        raise _not_found("campaign", campaign_id)
    return record


def _touchpoint(store: Store, tp_id: str) -> dict[str, Any]:
    record = store.touchpoints.get(tp_id)
    if record is None:
        raise _not_found("touchpoint", tp_id)
    return record


def _writable_campaign(store: Store, campaign_id: str) -> dict[str, Any]:
    campaign = _campaign(store, campaign_id)
    if campaign["status"] == "completed":
        raise _completed(campaign_id)
    return campaign


def _campaigns(store: Store, request: ApiRequest, rest: str) -> Reply:
    method = request.method
    if "/" in rest:
        raise TouchpointApiError(404, "not_found", f"no such path {request.path}")
    if not rest:
        if method == "GET":
            items = [render_campaign(r) for r in store.tp_campaigns.values()]
            return _listing(items, request)
        if method == "POST":
            body = _body(request, frozenset({"name", "channel_type"}))
            now = iso_utc(store.now())
            record = {
                "_id": store.new_id("cmp_"),
                "name": _required_string(body, "name"),
                "status": "draft",
                "channel_type": _required_string(body, "channel_type"),
                "created_at": now,
                "updated_at": now,
            }
            store.add_tp_campaign(record)
            return Reply(201, render_campaign(record))
        raise _not_allowed(method, "GET, POST")
    if method == "GET":
        return Reply(200, render_campaign(_campaign(store, rest)))
    if method == "DELETE":
        _campaign(store, rest)
        store.delete_tp_campaign(rest)
        return Reply(204)
    raise _not_allowed(method, "GET, DELETE")


def _touchpoints(store: Store, request: ApiRequest, rest: str) -> Reply:
    method = request.method
    if "/" in rest:
        raise TouchpointApiError(404, "not_found", f"no such path {request.path}")
    if not rest:
        if method == "GET":
            campaign_id = first_query_value(request.query, "campaign_id")
            if campaign_id is None:
                records = list(store.touchpoints.values())
            else:
                ids = store.tp_by_campaign.get(campaign_id, [])
                records = [store.touchpoints[i] for i in ids]
            return _listing([render_touchpoint(r) for r in records], request)
        if method == "POST":
            return _create_touchpoint(store, request)
        raise _not_allowed(method, "GET, POST")
    if rest == "validate":
        if method != "POST":
            raise _not_allowed(method, "POST")
        body = _body(request, frozenset({"touchpoint_id"}))
        record = _touchpoint(store, _required_string(body, "touchpoint_id"))
        errors = validation_errors(record)
        return Reply(200, {"valid": not errors, "errors": errors})
    if method == "GET":
        return Reply(200, render_touchpoint(_touchpoint(store, rest)))
    if method == "PATCH":
        return _update_touchpoint(store, request, rest)
    if method == "DELETE":
        record = _touchpoint(store, rest)
        _writable_campaign(store, record["campaign_id"])
        store.delete_touchpoint(rest)
        return Reply(204)
    raise _not_allowed(method, "GET, PATCH, DELETE")


def _create_touchpoint(store: Store, request: ApiRequest) -> Reply:
    body = _body(request, frozenset({"name", "type", "campaign_id", "message"}))
    name = _required_string(body, "name")
    kind = _required_string(body, "type")
    campaign_id = _required_string(body, "campaign_id")
    message = _message(body.get("message"))
    _writable_campaign(store, campaign_id)
    record = {
        "_id": store.new_id("tp_"),
        "name": name,
        "type": kind,
        "campaign_id": campaign_id,
        "created_at": iso_utc(store.now()),
        "message": message,
    }
    store.add_touchpoint(record)
    return Reply(201, render_touchpoint(record))


def _update_touchpoint(store: Store, request: ApiRequest, tp_id: str) -> Reply:
    body = _body(request, frozenset({"name", "type", "message", "campaign_id"}))
    record = _touchpoint(store, tp_id)
    if "campaign_id" in body and body["campaign_id"] != record["campaign_id"]:
        raise _bad("campaign_id cannot be changed: delete the touchpoint and create it again")
    changes: dict[str, Any] = {}
    if "name" in body:
        changes["name"] = _required_string(body, "name")
    if "type" in body:
        changes["type"] = _required_string(body, "type")
    if "message" in body:
        changes["message"] = _message(body["message"])
    _writable_campaign(store, record["campaign_id"])
    record.update(changes)
    return Reply(200, render_touchpoint(record))
