"""reconciler.providers.imbrace.client: the iMBrace API: hosts, routes, errors, paging, provider.

The vendor documents this API only through its SDK (PyPI `imbrace`, `client.campaign`); the
routes below are the ones that SDK calls (docs/reference/vendors.md
"Channel-service routes and auth"). Gateway hosts, routes, the auth header, paging, answer and error
shapes, error codes: a correction from the real vendor is a change to this file alone.

Read generously, write exactly: requests carry exactly the documented form; answers are
accepted in every shape of vendors.md "Reading answers" (`pagination.has_next`, limit/offset, only
`total`, or one bare page; deletes with or without a body; errors of any shape).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, Unpack
from urllib.parse import quote as url_quote

from pydantic import SecretStr

from reconciler import canonical as c
from reconciler.errors import (
    AuthError,
    ExecutedError,
    InvalidResponse,
    NotFound,
    RateLimited,
    StateError,
    ValidationFailed,
)
from reconciler.live import MESSAGING_KIND, LiveCampaign, LiveTouchpoint
from reconciler.providers.description import HostTable
from reconciler.providers.http import (
    LIST_WORKERS,
    MAX_PAGES,
    PAGE_LIMIT,
    ApiClient,
    ErrorCodes,
    TransportOptions,
    VendorApi,
    api_key_auth,
    map_concurrently,
    pages_for,
    quote,
    shielded,
)
from reconciler.providers.imbrace.fields import DEFAULT_STATUS, IMBRACE, TOUCHPOINT_FIELDS
from reconciler.providers.imbrace.quirks import canonical_message
from reconciler.settings import ENV_IMBRACE_API_KEY
from reconciler.sharing import share, share_fields

__all__ = [
    "API",
    "API_KEY_HEADER",
    "CAMPAIGNS_PATH",
    "ERROR_CODES",
    "HOSTS",
    "SERVICE_PREFIX",
    "TOUCHPOINTS_PATH",
    "VALIDATE_PATH",
    "TouchpointProvider",
    "decode_campaign",
    "decode_touchpoint",
    "encode_touchpoint",
    "group_touchpoints",
    "id_path",
    "is_imbrace_id",
    "read_page",
]

# --------------------------------------------------------------------------- vendor facts

#: The SDK's production gateway (`imbrace/environments.py`, "stable"), and the SDK's
#: environment names, accepted by `--touchpoint-api-url` as shortcuts.
HOSTS: Final = HostTable(
    "https://app-gatewayv2.imbrace.co",
    ("stable", "prodv2"),
    {
        "sandbox": "https://app-gateway.sandbox.imbrace.co",
        "develop": "https://app-gateway.dev.imbrace.co",
    },
)
#: The SDK's server-to-server credential header.
API_KEY_HEADER: Final = "x-api-key"
#: Every route sits under the gateway's channel service.
SERVICE_PREFIX: Final = "/channel-service/v1"
CAMPAIGNS_PATH: Final = f"{SERVICE_PREFIX}/campaign"
TOUCHPOINTS_PATH: Final = f"{SERVICE_PREFIX}/touchpoints"
VALIDATE_PATH: Final = f"{TOUCHPOINTS_PATH}/_validate"
#: The sandbox's error codes (vendors.md "Channel-service errors"); the vendor's are unknown (SDK
#: reports only a status and a body), so the status decides whenever the code is not here.
ERROR_CODES: Final[ErrorCodes] = {
    "unauthorized": AuthError,
    "invalid_request": ValidationFailed,
    "not_found": NotFound,
    "campaign_completed": ExecutedError,
    "rate_limited": RateLimited,
}
#: What the transport knows of this API: its option, error codes and hints.
API: Final = VendorApi(
    "--touchpoint-api-url",
    f"check {ENV_IMBRACE_API_KEY}",
    ERROR_CODES,
    {ExecutedError: IMBRACE.change_hint},
)


# --------------------------------------------------------------------------- decoding


#: What an iMBrace id may be before it goes into a URL path: opaque, no `/`, `.`, `?` or
#: `%` (the sandbox issues a prefix and 24 hex digits, the SDK documents none).
_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")


def is_imbrace_id(value: Any) -> bool:
    """True for a string that may be an iMBrace id: `[A-Za-z0-9_-]{1,64}`."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def id_path(prefix: str, remote_id: str) -> str:
    """The URL path of one object; refuses a remote id (the state's, say) that is not one.

    A state file is hand-editable and an answer untrusted: `../../_admin/reset?x=` must
    never become an authenticated PUT there. The segment is percent-encoded as well.
    """
    if not is_imbrace_id(remote_id):
        raise StateError(
            f"refusing to send the iMBrace id {quote(remote_id)}: ids are 1 to 64 letters, "
            "digits, _ or -",
            hint="a remote id comes from the API or the state file: check `campaignctl state "
            "list` and fix or remove the record",
        )
    return f"{prefix}/{url_quote(remote_id, safe='')}"


def _require_id(raw: Any, what: str) -> str:
    if not isinstance(raw, Mapping) or c.is_empty(raw.get("_id")):
        raise InvalidResponse(f"expected a {what} object with an _id, got {quote(raw)}")
    if not is_imbrace_id(raw["_id"]):
        raise InvalidResponse(
            f"a {what}'s _id must be 1 to 64 letters, digits, _ or -, got {quote(raw['_id'])}"
        )
    return str(raw["_id"])


def _optional_text(raw: Mapping[str, Any], key: str, what: str, remote_id: str) -> str | None:
    """A string field of an answer, None when absent or empty; any other type is refused."""
    value = raw.get(key)
    if c.is_empty(value):
        return None
    if not isinstance(value, str):
        raise InvalidResponse(
            f"{what} {remote_id}: field {key} must be a string, got {quote(value)}"
        )
    return value


def _timestamp(raw: Mapping[str, Any], key: str) -> str | None:
    # Display only: a timestamp of another shape is dropped, never trusted.
    value = raw.get(key)
    return value if isinstance(value, str) and value else None


def decode_touchpoint(raw: Any) -> LiveTouchpoint:
    """Return a LiveTouchpoint for `{_id, name, type, campaign_id, created_at}`."""
    remote_id = _require_id(raw, "touchpoint")
    return LiveTouchpoint(
        remote_id=remote_id,
        name=_optional_text(raw, "name", "touchpoint", remote_id) or "",
        type=_optional_text(raw, "type", "touchpoint", remote_id),
        created_at=_timestamp(raw, "created_at"),
    )


def decode_campaign(raw: Any, touchpoints: tuple[LiveTouchpoint, ...] = ()) -> LiveCampaign:
    """Return a LiveCampaign for `{_id, name, status, channel_type, created_at, updated_at}`.

    `fields` holds what the model's canonical form has and the API returns: kind, name and
    channel_type; touchpoint messages are write-only and never appear.
    """
    remote_id = _require_id(raw, "campaign")
    name = _optional_text(raw, "name", "campaign", remote_id)
    if name is None:
        raise InvalidResponse(f"campaign {remote_id} has no name: {quote(raw)}")
    channel_type = _optional_text(raw, "channel_type", "campaign", remote_id)
    fields = c.drop_empty({"kind": MESSAGING_KIND, "name": name, "channel_type": channel_type})
    share_fields(fields)
    return LiveCampaign(
        kind=MESSAGING_KIND,
        remote_id=share(remote_id),
        name=fields["name"],
        status=_optional_text(raw, "status", "campaign", remote_id) or DEFAULT_STATUS,
        fields=fields,
        touchpoints=touchpoints,
    )


def group_touchpoints(rows: list[Any]) -> dict[str, list[LiveTouchpoint]]:
    """Return touchpoints per campaign id, each list in the API's (creation) order."""
    grouped: dict[str, list[LiveTouchpoint]] = {}
    seen: set[str] = set()
    for raw in rows:
        touchpoint = decode_touchpoint(raw)
        campaign_id = raw.get("campaign_id")
        if is_imbrace_id(campaign_id) and touchpoint.remote_id not in seen:
            seen.add(touchpoint.remote_id)
            grouped.setdefault(campaign_id, []).append(touchpoint)
    return grouped


def encode_touchpoint(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Return the wire body for touchpoint fields; a string message becomes `{text: ...}`.

    Raises ValueError for a key the API does not accept (a caller's bug).
    """
    unknown = sorted(set(fields) - {f.name for f in TOUCHPOINT_FIELDS})
    if unknown:
        raise ValueError(f"the touchpoint API has no field {', '.join(unknown)}")
    body = dict(fields)
    if "message" in body and body["message"] is not None:
        body["message"] = canonical_message(body["message"])
    return body


# --------------------------------------------------------------------------- paging


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def read_page(body: Any, path: str) -> tuple[list[Any], Mapping[str, Any] | None, int | None]:
    """Return (items, pagination or None, total or None) of one list answer.

    Every shape of vendors.md "Reading answers": `{"data": [...], "pagination": {...}, "total": N}`,
    `{"data": [...], "total": N}`, `{"data": [...]}`, or a bare JSON array.
    """
    if isinstance(body, list):
        return body, None, None
    items = body.get("data") if isinstance(body, Mapping) else None
    if isinstance(body, Mapping) and "data" in body and items is None:
        items = []
    if not isinstance(items, list):
        raise InvalidResponse(
            f'expected {{"data": [...]}}, got {quote(body)}', method="GET", path=path
        )
    pagination = body.get("pagination")
    return (
        items,
        pagination if isinstance(pagination, Mapping) else None,
        _int(body.get("total")),
    )


def _too_many(path: str, pages: int) -> InvalidResponse:
    return InvalidResponse(
        f"the API reports {pages} pages, more than {MAX_PAGES} can be listed",
        method="GET",
        path=path,
    )


class _Lister:
    """Reads one list route to the end, whatever paging the answer shows.

    `documented` is the route's own paging (`"page"`: page/limit; `"offset"`: limit/offset):
    its requests carry exactly those parameters. When an answer shows the other kind, the
    follow-up requests carry both `page` and `offset`, consistent, so either server reads
    them right.
    """

    def __init__(
        self, client: ApiClient, path: str, params: Mapping[str, Any], documented: str
    ) -> None:
        self.client, self.path, self.params, self.documented = client, path, params, documented

    def fetch(self, page: int, offset: int, style: str) -> tuple[list[Any], Any]:
        query: dict[str, Any] = {**self.params, "limit": PAGE_LIMIT}
        if style in ("page", "both"):
            query["page"] = page
        if style in ("offset", "both"):
            query["offset"] = offset
        body = self.client.request("GET", self.path, params=query)
        items, pagination, total = read_page(body, self.path)
        return items, (pagination, total)

    def all(self) -> list[Any]:
        first, (pagination, total) = self.fetch(1, 0, self.documented)
        if pagination is not None:
            return first + self._by_page(pagination, len(first))
        if total is not None:
            return first + self._by_offset(total, len(first))
        return first  # neither: the answer is the whole list

    def _style(self, kind: str) -> str:
        return kind if self.documented == kind else "both"

    def _by_page(self, pagination: Mapping[str, Any], page_size: int) -> list[Any]:
        if not pagination.get("has_next") or page_size == 0:
            return []
        style = self._style("page")
        size = _int(pagination.get("limit")) or page_size
        total_pages = _int(pagination.get("total_pages"))
        out: list[Any] = []
        page = 2
        if total_pages is not None and total_pages >= 2:
            # The page count is known: fetch the rest side by side (plan latency).
            if total_pages > MAX_PAGES:
                raise _too_many(self.path, total_pages)
            pages = list(range(2, total_pages + 1))
            results = map_concurrently(
                lambda p: self.fetch(p, (p - 1) * size, style), pages, LIST_WORKERS
            )
            for items, _ in results:
                out.extend(items)
            last_pagination = results[-1][1][0]
            if not (last_pagination and last_pagination.get("has_next")):
                return out
            page = total_pages + 1
        # Follow has_next one page at a time, bounded; an empty page ends a server that lies.
        while page <= MAX_PAGES:
            items, (next_pagination, _) = self.fetch(page, (page - 1) * size, style)
            out.extend(items)
            if not items or not (next_pagination and next_pagination.get("has_next")):
                return out
            page += 1
        raise _too_many(self.path, page)

    def _by_offset(self, total: int, page_size: int) -> list[Any]:
        if page_size == 0 or total <= page_size:
            return []
        # The server may cap the page below what was asked: step by what it sent. The
        # page count is checked by arithmetic before any list is built from `total`.
        pages = pages_for(total, page_size)
        if pages > MAX_PAGES:
            raise _too_many(self.path, pages)
        offsets = list(range(page_size, total, page_size))
        style = self._style("offset")
        results = map_concurrently(
            lambda o: self.fetch(o // page_size + 1, o, style)[0], offsets, LIST_WORKERS
        )
        return [item for items in results for item in items]


def list_generously(
    client: ApiClient, path: str, params: Mapping[str, Any], *, documented: str
) -> list[Any]:
    """Return every item of an iMBrace list route, in the API's order."""
    return _Lister(client, path, params, documented).all()


# --------------------------------------------------------------------------- provider


class TouchpointProvider:
    """iMBrace campaigns and their ordered touchpoints, over the SDK's channel-service routes.

    >>> tp = TouchpointProvider(HOSTS.default, SecretStr("key"))  # doctest: +SKIP
    >>> tp.list_campaigns()  # doctest: +SKIP
    """

    def __init__(
        self,
        gateway_url: str,
        api_key: SecretStr,
        **transport: Unpack[TransportOptions],
    ) -> None:
        self._client = API.client(gateway_url, api_key_auth(api_key, API_KEY_HEADER), **transport)
        # Validation changes nothing, so its POST may be retried like a GET.
        self._client.mount_safe_post(VALIDATE_PATH)
        self.base_url = self._client.base_url

    def __repr__(self) -> str:
        return f"TouchpointProvider({self.base_url!r}, api_key='**********')"

    def _list(self, path: str, params: Mapping[str, Any], documented: str) -> list[Any]:
        return list_generously(self._client, path, params, documented=documented)

    @shielded
    def list_campaigns(self, name: str | None = None) -> list[LiveCampaign]:
        """Return every campaign with its touchpoints in creation order.

        Two paged lists (campaigns, then all touchpoints), never a GET per campaign. `name`
        keeps the campaigns whose name contains it, as the email API's filter does.
        """
        campaigns = self._list(CAMPAIGNS_PATH, {}, "page")
        if name:
            campaigns = [raw for raw in campaigns if name in str(_mapping(raw).get("name", ""))]
        if not campaigns:
            return []
        grouped = group_touchpoints(self._list(TOUCHPOINTS_PATH, {}, "offset"))
        out: list[LiveCampaign] = []
        seen: set[str] = set()
        for raw in campaigns:
            remote_id = _require_id(raw, "campaign")
            if remote_id not in seen:
                seen.add(remote_id)
                out.append(decode_campaign(raw, tuple(grouped.get(remote_id, ()))))
        return out

    @shielded
    def get_campaign(self, remote_id: str) -> LiveCampaign:
        """Return one campaign with its touchpoints; NotFound when it does not exist."""
        raw = self._client.request("GET", id_path(CAMPAIGNS_PATH, remote_id))
        rows = self._list(TOUCHPOINTS_PATH, {"campaign_id": remote_id}, "offset")  # id checked
        return decode_campaign(raw, tuple(group_touchpoints(rows).get(remote_id, ())))

    @shielded
    def create_campaign(self, name: str, channel_type: str) -> LiveCampaign:
        """Create a draft campaign; an unknown outcome raises OutcomeUnknown."""
        body = {"name": name, "channel_type": channel_type}
        live = decode_campaign(self._client.request("POST", CAMPAIGNS_PATH, body=body))
        _check_created("campaign", name, live.name, live.remote_id, CAMPAIGNS_PATH)
        return live

    @shielded
    def delete_campaign(self, remote_id: str) -> None:
        """Delete a campaign and, with it, its touchpoints (200 or 204, any body)."""
        self._client.request("DELETE", id_path(CAMPAIGNS_PATH, remote_id))

    @shielded
    def create_touchpoint(self, campaign_id: str, tp: Mapping[str, Any]) -> LiveTouchpoint:
        """Append a touchpoint (`name`, `type`, `message`) to a campaign.

        409 campaign_completed raises ExecutedError.
        """
        id_path(CAMPAIGNS_PATH, campaign_id)  # checked: it names the campaign to change
        body = {**encode_touchpoint(tp), "campaign_id": campaign_id}
        live = decode_touchpoint(self._client.request("POST", TOUCHPOINTS_PATH, body=body))
        if live.name:  # an answer without the name is read generously
            _check_created(
                "touchpoint", str(tp.get("name")), live.name, live.remote_id, TOUCHPOINTS_PATH
            )
        return live

    @shielded
    def update_touchpoint(self, remote_id: str, fields: Mapping[str, Any]) -> LiveTouchpoint:
        """PUT any of `name`, `type`, `message`; the API keeps the fields left out."""
        path = id_path(TOUCHPOINTS_PATH, remote_id)
        return decode_touchpoint(self._client.request("PUT", path, body=encode_touchpoint(fields)))

    @shielded
    def delete_touchpoint(self, remote_id: str) -> None:
        """Remove a touchpoint (200 or 204, any body)."""
        self._client.request("DELETE", id_path(TOUCHPOINTS_PATH, remote_id))

    @shielded
    def validate_touchpoint(self, remote_id: str) -> tuple[bool, list[str]]:
        """Return (valid, the API's error sentences) for a touchpoint."""
        id_path(TOUCHPOINTS_PATH, remote_id)  # checked: it is sent to the API
        body = self._client.request(
            "POST", VALIDATE_PATH, body={"touchpoint_id": remote_id}, idempotent=True
        )
        valid = body.get("valid") if isinstance(body, Mapping) else None
        errors = body.get("errors") if isinstance(body, Mapping) else None
        if not isinstance(valid, bool) or not isinstance(errors, list | None):
            raise InvalidResponse(
                f'expected {{"valid": bool, "errors": [...]}}, got {quote(body)}',
                method="POST",
                path=VALIDATE_PATH,
            )
        # The API's sentences reach the output: mask anything of ours a server echoed.
        return valid, [self._client.redact(str(e)) for e in errors or ()]

    def abandon(self) -> None:
        """Send no more requests (`ApiClient.abandon`)."""
        self._client.abandon()

    def close(self) -> None:
        self._client.close()


def _check_created(what: str, sent: str, answered: str, remote_id: str, path: str) -> None:
    """A create answered with another object's name is refused: never record it as ours."""
    if answered != sent:
        raise InvalidResponse(
            f"the API answered the create of {what} {sent!r} with {what} {remote_id} "
            f"named {answered!r}; nothing recorded",
            method="POST",
            path=path,
            hint="look it up in the iMBrace console, then rerun",
        )


def _mapping(raw: Any) -> Mapping[str, Any]:
    return raw if isinstance(raw, Mapping) else {}
