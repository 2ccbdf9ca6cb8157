"""reconciler.sandbox.admin: the unauthenticated `/_admin` API, mirroring `Sandbox`'s methods.

No auth: the server listens on loopback only. A web page the user opens can send requests
to 127.0.0.1 too. It cannot set `Content-Type: application/json` without a CORS preflight
(which this server never grants), and a DNS-rebinding page is refused by its Host or Origin
header. The calls are listed in docs/sandbox.md.
"""

from __future__ import annotations

import ipaddress
import math
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from reconciler.sandbox import email_api, touchpoint_api
from reconciler.sandbox.wire import ApiRequest, BadBody, Reply, parse_json_body

if TYPE_CHECKING:
    from reconciler.sandbox.server import Sandbox

__all__ = ["PREFIX", "AdminError", "answer"]

PREFIX = "/_admin"
_LOOPBACK_NAMES = frozenset({"localhost"})
_ERROR_CODES = {
    400: "invalid_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    415: "unsupported_media_type",
}


class AdminError(Exception):
    """An admin call refused: its HTTP status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status

    def reply(self) -> Reply:
        code = _ERROR_CODES.get(self.status, "error")
        return Reply(self.status, {"error": {"code": code, "message": str(self)}})


def answer(sandbox: Sandbox, request: ApiRequest) -> Reply:
    """Answer one `/_admin/...` call, a refused one with its error reply."""
    try:
        return _answer(sandbox, request)
    except AdminError as exc:
        return exc.reply()


def _answer(sandbox: Sandbox, request: ApiRequest) -> Reply:
    _check_admin_caller(request)
    parts = [p for p in request.path[len(PREFIX) :].split("/") if p]
    if request.method == "GET" and parts == ["stats"]:
        return Reply(200, sandbox.stats())
    if request.method != "POST":
        raise AdminError(405, f"{request.method} is not allowed on {request.path}")
    body = _admin_body(request)
    match parts:
        case ["reset"]:
            sandbox.reset()
            return Reply(200, {"ok": True})
        case ["tick"]:
            try:
                moved = sandbox.tick(_number(body.get("seconds", 0), "seconds"))
            except ValueError as exc:
                raise AdminError(400, str(exc)) from None
            return Reply(200, {"moved": moved})
        case ["latency"]:
            ms = _number(body.get("ms", 0), "ms")
            jitter = _number(body.get("jitter_ms", 0), "jitter_ms")
            try:
                sandbox.set_latency(ms, jitter)
            except ValueError as exc:
                raise AdminError(400, str(exc)) from None
            return Reply(200, {"ms": ms, "jitter_ms": jitter})
        case ["faults"]:
            return _faults(sandbox, body)
        case ["quirks"]:
            return _quirks(sandbox, body)
        case ["email", "seed"]:
            return _seed_email(sandbox, body)
        case ["email", "campaigns", raw_id]:
            return _edit_email(sandbox, raw_id, body)
        case ["touchpoint", "campaigns", campaign_id]:
            return _edit_touchpoint(sandbox, campaign_id, body)
    raise AdminError(404, f"no such admin call {request.path}")


def _quirks(sandbox: Sandbox, body: dict[str, Any]) -> Reply:
    quirks = body.get("quirks", [])
    if not isinstance(quirks, list) or not all(isinstance(q, str) for q in quirks):
        raise AdminError(400, "quirks must be a list of names")
    try:
        sandbox.set_quirks(*quirks)
    except ValueError as exc:
        raise AdminError(400, str(exc)) from None
    return Reply(200, {"quirks": sorted(sandbox.quirks)})


def _seed_email(sandbox: Sandbox, body: dict[str, Any]) -> Reply:
    count = body.get("count", 0)
    prefix = body.get("name_prefix", "seed-")
    if not isinstance(prefix, str):
        raise AdminError(400, "name_prefix must be a string")
    try:
        ids = sandbox.seed_email_campaigns(count, name_prefix=prefix)
    except ValueError as exc:
        raise AdminError(400, str(exc)) from None
    return Reply(200, {"created": len(ids)})


def _edit_touchpoint(sandbox: Sandbox, campaign_id: str, body: dict[str, Any]) -> Reply:
    # The Mapping form, not edit_touchpoint_campaign(campaign_id, **body): a body key
    # "campaign_id" or "self" would collide with its parameters.
    try:
        record = sandbox.edit_touchpoint_fields(campaign_id, body)
    except ValueError as exc:
        raise AdminError(400, str(exc)) from None
    if record is None:
        raise AdminError(404, f"touchpoint campaign {campaign_id} not found")
    return Reply(200, touchpoint_api.render_campaign(record))


def _edit_email(sandbox: Sandbox, raw_id: str, body: dict[str, Any]) -> Reply:
    # An id longer than 64 bits is simply not there (and int() of 5000 digits raises).
    if not (raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 20):
        raise AdminError(404, f"email campaign {raw_id} not found")
    try:
        record = sandbox.edit_email_fields(int(raw_id), body)
    except ValueError as exc:
        raise AdminError(400, str(exc)) from None
    if record is None:
        raise AdminError(404, f"email campaign {raw_id} not found")
    return Reply(200, {"result": email_api.render(record, sandbox.quirks)})


def _faults(sandbox: Sandbox, body: dict[str, Any]) -> Reply:
    try:
        if body.get("clear"):
            sandbox.faults.clear()
        if "spec" in body:
            sandbox.add_faults(str(body["spec"]))
        if "fault" in body:
            sandbox.faults.add(
                str(body.get("method", "*")),
                str(body.get("path_prefix", "/")),
                str(body["fault"]),
                count=body.get("count", 1),
                retry_after=body.get("retry_after", 1),
            )
    except (TypeError, ValueError) as exc:
        raise AdminError(400, str(exc)) from None
    return Reply(200, {"pending": sandbox.faults.pending()})


def _is_loopback_host(host: str) -> bool:
    """Whether a Host/Origin host names this machine (DNS rebinding uses any other name)."""
    host = host.strip().lower().removeprefix("[").removesuffix("]")
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(url: str) -> str:
    try:
        return urlsplit(url.strip()).hostname or ""
    except ValueError:  # "[::1" and the like
        return ""


def _check_admin_caller(request: ApiRequest) -> None:
    host_header = request.header("Host")
    if host_header is not None and not _is_loopback_host(_url_host(f"//{host_header.strip()}")):
        raise AdminError(403, "the admin API answers only to a loopback Host (127.0.0.1)")
    origin = request.header("Origin")
    if origin is not None and not _is_loopback_host(_url_host(origin)):
        raise AdminError(403, "the admin API does not answer web pages (Origin is not loopback)")


def _admin_body(request: ApiRequest) -> dict[str, Any]:
    # Required even with an empty body: a page's form or no-cors fetch can send text/plain or
    # form types to 127.0.0.1 without a preflight, but never application/json.
    media_type = (request.header("Content-Type") or "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise AdminError(
            415, "admin POSTs need Content-Type: application/json (curl -H / requests json=)"
        )
    if not request.body.strip():
        return {}
    try:
        return parse_json_body(request.body)
    except BadBody as exc:
        raise AdminError(400, str(exc)) from None


def _number(value: Any, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise AdminError(400, f"{name} must be a finite number >= 0")
    return float(value)
