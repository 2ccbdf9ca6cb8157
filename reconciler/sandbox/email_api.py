"""reconciler.sandbox.email_api: the routes of the EngageLab Email marketing campaigns API.

Routes `/v1/marketing/campaigns[/{id}]`: Basic auth, the vendor's `{"code", "message"}`
errors, list paging and filters, create, read, update (only while waiting to send) and
delete. Each field's rule is `email_fields`', the stored record and the reply shapes of
the vendor's own examples `email_records`' (vendors.md "Email quirks"). The sandbox
emulates the vendor: it imports nothing from reconciler.providers, and little else.

Vendor codes the docs give: 30000 (HTTP 401), 32112 (HTTP 401, as the docs show), 32110.
The others are the sandbox's own, one per rule, listed in `CODES` and docs/sandbox.md.
"""

from __future__ import annotations

import base64
import hmac
import re
from collections.abc import Collection, Mapping
from typing import Any

from reconciler.sandbox.email_fields import (
    AB_TYPE,
    CODES,
    NORMAL_TYPE,
    EmailApiError,
    _digits_int,
    _invalid,
)

# Re-exported: tests check the model's validators against these two rules of the API.
from reconciler.sandbox.email_fields import _parse_reply_to as _parse_reply_to
from reconciler.sandbox.email_fields import _parse_sender_id as _parse_sender_id
from reconciler.sandbox.email_records import SERVER_KEYS, apply_fields, new_record, render
from reconciler.sandbox.store import EMAIL_STATUS_WAITING, Store
from reconciler.sandbox.wire import (
    ApiRequest,
    BadBody,
    Reply,
    first_query_value,
    parse_json_body,
)

__all__ = [
    "AB_TYPE",
    "CODES",
    "NORMAL_TYPE",
    "PREFIX",
    "SERVER_KEYS",
    "EmailApiError",
    "apply_fields",
    "handle",
    "new_record",
    "owns",
    "render",
]

PREFIX = "/v1/marketing/campaigns"


def owns(path: str) -> bool:
    """Whether a request path is this API's."""
    return path == PREFIX or path.startswith(PREFIX + "/")


LIST_LIMIT_DEFAULT = 10
LIST_LIMIT_MAX = 100
_QUERY_INT = re.compile(r"-?[0-9]{1,18}")


def _check_auth(request: ApiRequest, api_user: str, api_key: str) -> None:
    header = request.header("Authorization") or ""
    expected = base64.b64encode(f"{api_user}:{api_key}".encode()).decode("ascii")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not hmac.compare_digest(token.strip(), expected):
        raise EmailApiError(401, CODES["auth"], "Authentication failed")


def _body(request: ApiRequest) -> dict[str, Any]:
    try:
        return parse_json_body(request.body)
    except BadBody as exc:
        raise _invalid("bad_json", str(exc)) from None


def _int_query(request: ApiRequest, name: str, default: int, low: int, high: int | None) -> int:
    raw = first_query_value(request.query, name)
    if raw is None:
        return default
    # Plain ASCII digits only: int() would also take " 5", "1_0", "-0" and "١".
    value = _digits_int(raw)
    if value is None:
        raise _invalid("query", f"{name} must be a whole number written in digits 0-9")
    if value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f">= {low}"
        raise _invalid("query", f"{name} must be {bound}")
    return value


def _filter_int(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not _QUERY_INT.fullmatch(raw):
        raise _invalid("query", "campaign_type and status must be integers (digits 0-9)")
    return int(raw)


def _lookup(store: Store, raw_id: str) -> dict[str, Any]:
    campaign_id = _digits_int(raw_id)
    record = store.email.get(campaign_id) if campaign_id is not None else None
    if record is None:
        raise EmailApiError(404, CODES["not_found"], f"campaign {raw_id} not found")
    return record


def _list(store: Store, request: ApiRequest, quirks: Collection[str]) -> Reply:
    limit = _int_query(request, "limit", LIST_LIMIT_DEFAULT, 1, LIST_LIMIT_MAX)
    offset = _int_query(request, "offset", 0, 0, None)
    campaign_type = first_query_value(request.query, "campaign_type")
    status = first_query_value(request.query, "status")
    name = first_query_value(request.query, "name")
    wanted_type = _filter_int(campaign_type)
    wanted_status = _filter_int(status)
    records = list(store.email.values())
    if wanted_type is not None or wanted_status is not None or name is not None:
        needle = name.casefold() if name is not None else None
        records = [
            r
            for r in records
            if (wanted_type is None or r["campaign_type"] == wanted_type)
            and (wanted_status is None or r["status"] == wanted_status)
            and (needle is None or needle in r["name"].casefold())
        ]
    page = records[offset : offset + limit]
    return Reply(
        200,
        {"result": [render(r, quirks, listing=True) for r in page], "total": len(records)},
    )


def _get(record: Mapping[str, Any], quirks: Collection[str]) -> Reply:
    reply = Reply(200, {"result": render(record, quirks)})
    if "trailing_comma" in quirks:
        # The vendor's own example ends with `],\n}\n}`: a trailing comma, invalid JSON.
        text = reply.encode()
        reply.raw = text[:-2] + b",}}"
    return reply


def handle(
    store: Store,
    request: ApiRequest,
    *,
    api_user: str,
    api_key: str,
    quirks: Collection[str] = (),
) -> Reply:
    """Answer one request under PREFIX; the caller holds the store lock."""
    try:
        _check_auth(request, api_user, api_key)
        store.advance()
        rest = request.path[len(PREFIX) :].strip("/")
        if "/" in rest:
            raise EmailApiError(404, CODES["not_found"], f"no such path {request.path}")
        if not rest:
            if request.method == "GET":
                return _list(store, request, quirks)
            if request.method == "POST":
                return _create(store, request, quirks)
            raise EmailApiError(405, CODES["method"], f"{request.method} is not allowed here")
        if request.method == "GET":
            return _get(_lookup(store, rest), quirks)
        if request.method == "PUT":
            return _update(store, _lookup(store, rest), request)
        if request.method == "DELETE":
            record = _lookup(store, rest)
            del store.email[record["campaign_id"]]
            return Reply(200, {"count": 1})
        raise EmailApiError(405, CODES["method"], f"{request.method} is not allowed here")
    except EmailApiError as exc:
        return exc.reply()


def _create(store: Store, request: ApiRequest, quirks: Collection[str]) -> Reply:
    fields = apply_fields(new_record(0, {}, 0.0), _body(request))
    writable = {k: v for k, v in fields.items() if k not in SERVER_KEYS}
    record = store.add_email(new_record(store.new_email_id(), writable, store.now()))
    return Reply(200, {"result": render(record, quirks)})


def _update(store: Store, record: dict[str, Any], request: ApiRequest) -> Reply:
    if record["status"] != EMAIL_STATUS_WAITING:
        raise EmailApiError(
            400, CODES["executed"], "The current campaign has been executed and cannot be modified"
        )
    body = _body(request)
    merged = apply_fields(record, body)
    record.update(merged)
    record["update_time"] = store.now()
    store.schedule(record)
    return Reply(200, {"count": 1})
