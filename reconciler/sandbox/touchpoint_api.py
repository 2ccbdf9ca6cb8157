"""reconciler.sandbox.touchpoint_api: iMBrace's channel-service campaign routes, as its SDK calls.

Every iMBrace fact of the sandbox lives here: the routes under `/channel-service/v1`
(`campaign`, singular, and `touchpoints`), the `x-api-key` header, page/limit paging for
campaigns and limit/offset for touchpoints, `{"code", "message"}` errors, PUT updates,
`_validate`, deletes answering `{"_id", "deleted": true}`, 24-hex-digit ids. `message` is
write-only: stored, never returned. Nothing else is served: the REST form this sandbox
spoke before (`/v1/campaigns`, Bearer, PATCH) answers 404 or 405.

Quirks (`TOUCHPOINT_QUIRKS`) switch on shapes docs/reference/vendors.md "Reading answers" lists:
lists with only `total` or with no paging at all, deletes answering 204, nested errors.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Mapping
from typing import Any, Final

from reconciler.sandbox.store import Store, iso_utc
from reconciler.sandbox.wire import ApiRequest, BadBody, Reply, first_query_value, parse_json_body

__all__ = [
    "API_KEY_HEADER",
    "CAMPAIGNS",
    "PREFIX",
    "TOUCHPOINTS",
    "TOUCHPOINT_QUIRKS",
    "TouchpointApiError",
    "error_body",
    "handle",
    "new_id",
    "owns",
    "render_campaign",
    "render_touchpoint",
    "validation_errors",
]

PREFIX: Final = "/channel-service/v1"
CAMPAIGNS: Final = f"{PREFIX}/campaign"
TOUCHPOINTS: Final = f"{PREFIX}/touchpoints"
VALIDATE: Final = "_validate"
API_KEY_HEADER: Final = "x-api-key"
LIST_LIMIT_DEFAULT: Final = 20
LIST_LIMIT_MAX: Final = 100
TOUCHPOINT_TYPES: Final = ("message", "action")
#: Answer variants a client must read too (docs/reference/vendors.md "Reading answers").
TOUCHPOINT_QUIRKS: Final = frozenset(
    {"tp_total_only", "tp_unpaged", "tp_delete_204", "tp_error_nested"}
)
_ID_DIGITS: Final = 24


def owns(path: str) -> bool:
    """True for a path this API serves (or answers 404 for): under its two route roots."""
    return any(path == root or path.startswith(root + "/") for root in (CAMPAIGNS, TOUCHPOINTS))


def new_id(store: Store) -> str:
    """A new opaque id: 24 hex digits, like the vendor's Mongo ObjectIds."""
    return store.new_id("")


def _is_id(text: str) -> bool:
    return len(text) == _ID_DIGITS and all(ch in "0123456789abcdef" for ch in text)


def error_body(code: str, message: str, quirks: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The error shape: `{"code", "message"}` (nested under "error" with tp_error_nested)."""
    if "tp_error_nested" in quirks:
        return {"error": {"code": code, "message": message}}
    return {"code": code, "message": message}


class TouchpointApiError(Exception):
    """An error reply: HTTP status, machine code, human message."""

    def __init__(self, status: int, code: str, message: str, **headers: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers)

    def reply(self, quirks: frozenset[str] = frozenset()) -> Reply:
        return Reply(self.status, error_body(self.code, self.message, quirks), self.headers)


def _bad(message: str) -> TouchpointApiError:
    return TouchpointApiError(400, "invalid_request", message)


def _not_found(what: str, ident: str) -> TouchpointApiError:
    return TouchpointApiError(404, "not_found", f"{what} {ident[:64]} not found")


def _no_path(path: str) -> TouchpointApiError:
    return TouchpointApiError(404, "not_found", f"no such path {path[:200]}")


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


def _deleted(ident: str, quirks: frozenset[str]) -> Reply:
    if "tp_delete_204" in quirks:
        return Reply(204)
    return Reply(200, {"_id": ident, "deleted": True})


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


def _check_auth(request: ApiRequest, api_key: str) -> None:
    given = (request.header(API_KEY_HEADER) or "").strip()
    if not given or not hmac.compare_digest(given.encode(), api_key.encode()):
        raise TouchpointApiError(401, "unauthorized", "missing or invalid x-api-key")


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


def _number(request: ApiRequest, name: str, default: int, low: int, high: int | None) -> int:
    raw = first_query_value(request.query, name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.lstrip("-").isdigit()) or len(raw) > 12:
        raise _bad(f"{name} must be an integer")
    value = int(raw)
    if value < low or (high is not None and value > high):
        raise _bad(f"{name} must be {f'from {low} to {high}' if high else f'>= {low}'}")
    return value


def _limit(request: ApiRequest) -> int:
    return _number(request, "limit", LIST_LIMIT_DEFAULT, 1, LIST_LIMIT_MAX)


def _offset_listing(
    items: list[dict[str, Any]], request: ApiRequest, quirks: frozenset[str]
) -> Reply:
    """limit/offset paging: `{"data": [...], "total": N}` (the touchpoint list)."""
    if "tp_unpaged" in quirks:
        return Reply(200, {"data": items})
    limit = _limit(request)
    offset = _number(request, "offset", 0, 0, None)
    return Reply(200, {"data": items[offset : offset + limit], "total": len(items)})


def _page_listing(
    items: list[dict[str, Any]], request: ApiRequest, quirks: frozenset[str]
) -> Reply:
    """page/limit paging with a `pagination` object (the campaign list), oldest first."""
    if "tp_unpaged" in quirks:
        return Reply(200, {"data": items})
    if "tp_total_only" in quirks:
        return _offset_listing(items, request, frozenset())
    limit = _limit(request)
    page = _number(request, "page", 1, 1, None)
    total = len(items)
    total_pages = max(1, math.ceil(total / limit))
    start = (page - 1) * limit
    pagination = {
        "page": page,
        "limit": limit,
        "total": total,
        "total_pages": total_pages,
        "has_next": page < total_pages,
        "has_prev": page > 1,
    }
    return Reply(
        200, {"data": items[start : start + limit], "pagination": pagination, "total": total}
    )


# --------------------------------------------------------------------------- handlers


def handle(
    store: Store, request: ApiRequest, *, api_key: str, quirks: frozenset[str] = frozenset()
) -> Reply:
    """Answer one request under the channel-service routes; the caller holds the store lock."""
    try:
        _check_auth(request, api_key)
        if request.path == CAMPAIGNS or request.path.startswith(CAMPAIGNS + "/"):
            return _campaigns(store, request, request.path[len(CAMPAIGNS) :], quirks)
        return _touchpoints(store, request, request.path[len(TOUCHPOINTS) :], quirks)
    except TouchpointApiError as exc:
        return exc.reply(quirks)


def _ident(rest: str, request: ApiRequest) -> str:
    """The one path segment after a route root ("" for the root itself)."""
    ident = rest[1:] if rest.startswith("/") else rest
    if "/" in ident:
        raise _no_path(request.path)
    return ident


def _campaign(store: Store, campaign_id: str) -> dict[str, Any]:
    record = store.tp_campaigns.get(campaign_id) if _is_id(campaign_id) else None
    if record is None:
        raise _not_found("campaign", campaign_id)
    return record


def _touchpoint(store: Store, tp_id: str) -> dict[str, Any]:
    record = store.touchpoints.get(tp_id) if _is_id(tp_id) else None
    if record is None:
        raise _not_found("touchpoint", tp_id)
    return record


def _writable_campaign(store: Store, campaign_id: str) -> dict[str, Any]:
    campaign = _campaign(store, campaign_id)
    if campaign["status"] == "completed":
        raise _completed(campaign_id)
    return campaign


def _campaigns(store: Store, request: ApiRequest, rest: str, quirks: frozenset[str]) -> Reply:
    method, ident = request.method, _ident(rest, request)
    if not ident:
        if method == "GET":
            items = [render_campaign(r) for r in store.tp_campaigns.values()]
            return _page_listing(items, request, quirks)
        if method == "POST":
            return _create_campaign(store, request)
        raise _not_allowed(method, "GET, POST")
    if method == "GET":
        return Reply(200, render_campaign(_campaign(store, ident)))
    if method == "PUT":
        return _rename_campaign(store, request, ident)
    if method == "DELETE":
        _campaign(store, ident)
        store.delete_tp_campaign(ident)
        return _deleted(ident, quirks)
    raise _not_allowed(method, "GET, PUT, DELETE")


def _create_campaign(store: Store, request: ApiRequest) -> Reply:
    body = _body(request, frozenset({"name", "channel_type"}))
    now = iso_utc(store.now())
    record = {
        "_id": new_id(store),
        "name": _required_string(body, "name"),
        "status": "draft",
        "channel_type": _required_string(body, "channel_type"),
        "created_at": now,
        "updated_at": now,
    }
    store.add_tp_campaign(record)
    return Reply(201, render_campaign(record))


def _rename_campaign(store: Store, request: ApiRequest, campaign_id: str) -> Reply:
    """The OpenAPI file's `PUT /campaign/{id}` takes `{name}` only (no SDK call)."""
    body = _body(request, frozenset({"name"}))
    record = _campaign(store, campaign_id)
    record["name"] = _required_string(body, "name")
    record["updated_at"] = iso_utc(store.now())
    return Reply(200, render_campaign(record))


def _touchpoints(store: Store, request: ApiRequest, rest: str, quirks: frozenset[str]) -> Reply:
    method, ident = request.method, _ident(rest, request)
    if not ident:
        if method == "GET":
            return _list_touchpoints(store, request, quirks)
        if method == "POST":
            return _create_touchpoint(store, request)
        raise _not_allowed(method, "GET, POST")
    if ident == VALIDATE:
        if method != "POST":
            raise _not_allowed(method, "POST")
        body = _body(request, frozenset({"touchpoint_id"}))
        record = _touchpoint(store, _required_string(body, "touchpoint_id"))
        errors = validation_errors(record)
        return Reply(200, {"valid": not errors, "errors": errors})
    if method == "GET":
        return Reply(200, render_touchpoint(_touchpoint(store, ident)))
    if method == "PUT":
        return _update_touchpoint(store, request, ident)
    if method == "DELETE":
        record = _touchpoint(store, ident)
        _writable_campaign(store, record["campaign_id"])
        store.delete_touchpoint(ident)
        return _deleted(ident, quirks)
    raise _not_allowed(method, "GET, PUT, DELETE")


def _list_touchpoints(store: Store, request: ApiRequest, quirks: frozenset[str]) -> Reply:
    campaign_id = first_query_value(request.query, "campaign_id")
    if campaign_id is None:
        records = list(store.touchpoints.values())
    else:
        ids = store.tp_by_campaign.get(campaign_id, [])
        records = [store.touchpoints[i] for i in ids]
    return _offset_listing([render_touchpoint(r) for r in records], request, quirks)


def _create_touchpoint(store: Store, request: ApiRequest) -> Reply:
    body = _body(request, frozenset({"name", "type", "campaign_id", "message"}))
    name = _required_string(body, "name")
    kind = _required_string(body, "type")
    campaign_id = _required_string(body, "campaign_id")
    message = _message(body.get("message"))
    _writable_campaign(store, campaign_id)
    record = {
        "_id": new_id(store),
        "name": name,
        "type": kind,
        "campaign_id": campaign_id,
        "created_at": iso_utc(store.now()),
        "message": message,
    }
    store.add_touchpoint(record)
    return Reply(201, render_touchpoint(record))


def _update_touchpoint(store: Store, request: ApiRequest, tp_id: str) -> Reply:
    """PUT with any of `name`, `type`, `message`: the fields left out are kept."""
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
