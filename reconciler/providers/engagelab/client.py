"""reconciler.providers.engagelab.client: the EngageLab Email campaigns API, read and written.

Routes, hosts and error codes (docs/reference/vendors.md "Email routes and auth", "Email
errors"), and the provider that lists, creates, updates and deletes campaigns in canonical
form. Each field is decoded and encoded as its declaration (`fields.py`) says; paging,
retries and errors are `providers/http.py`'s; this module decides no policy.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final, Unpack
from urllib.parse import quote as url_quote

from pydantic import SecretStr

from reconciler import canonical as c
from reconciler.errors import (
    AuthError,
    ExecutedError,
    InvalidResponse,
    NotFound,
    StateError,
    ValidationFailed,
)
from reconciler.live import EMAIL_KIND, LiveCampaign
from reconciler.providers.description import REQUIRED, HostTable
from reconciler.providers.engagelab import codec as w
from reconciler.providers.engagelab.fields import ENGAGELAB, FIELDS
from reconciler.providers.http import (
    ErrorCodes,
    TransportOptions,
    VendorApi,
    basic_auth,
    list_all,
    quote,
    shielded,
)
from reconciler.settings import ENV_API_KEY, ENV_API_USER
from reconciler.sharing import share, share_fields

__all__ = [
    "API",
    "CAMPAIGNS_PATH",
    "ERROR_CODES",
    "HOSTS",
    "EmailProvider",
    "campaign_path",
    "decode_campaign",
    "decode_fields",
    "encode_campaign",
    "encode_fields",
    "is_email_id",
]

#: The API's documented host (Singapore), and the regional hosts `--api-url` takes by name.
HOSTS: Final = HostTable(
    "https://email.api.engagelab.cc", ("sg",), {"tr": "https://emailapi-tr.engagelab.com"}
)
CAMPAIGNS_PATH: Final = "/v1/marketing/campaigns"
#: The documented error codes (vendors.md "Email errors"); 32112 comes with HTTP 401 though it
#: is a validation error, so the code, not the status, decides.
ERROR_CODES: Final[ErrorCodes] = {
    30000: AuthError,
    32112: ValidationFailed,
    32110: ExecutedError,
}
#: What the transport knows of this API: its option, error codes and hints.
API: Final = VendorApi(
    "--api-url",
    f"check {ENV_API_USER} and {ENV_API_KEY}",
    ERROR_CODES,
    {ExecutedError: ENGAGELAB.change_hint},
)

Decoder = Callable[[Mapping[str, Any], int | None], Any]


def _text_of(key: str) -> Decoder:
    return lambda raw, tz: w.text(raw.get(key))


#: One decoder per readable field (a plain string field needs none declared).
_FIELD_DECODERS: Final[dict[str, Decoder]] = {
    f.name: f.decode or _text_of(f.name) for f in FIELDS if not f.write_only
}
#: Canonical value -> the wire form the field table marks "send".
_ENCODERS: Final[dict[str, Callable[[Any], Any]]] = {f.name: f.encode for f in FIELDS}
#: What "clear this field" is on the wire: the API's PUT keeps every key a body leaves out
#: (semantics.md "Managed fields"), so a cleared field must be sent, as its empty value.
_EMPTY: Final[dict[str, Any]] = {f.name: f.empty for f in FIELDS if f.empty is not REQUIRED}


def _bad(raw: Mapping[str, Any], field: str, problem: object) -> InvalidResponse:
    if isinstance(problem, w.Undocumented):
        problem = f"{problem.text}, got {quote(problem.value)}"
    campaign = raw.get("campaign_id")
    campaign = campaign if is_email_id(campaign) else "?"
    return InvalidResponse(
        f"campaign {campaign}: field {field} has an undocumented value: {problem}",
        path=f"{CAMPAIGNS_PATH}/{campaign}",
    )


def decode_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Return a response campaign's readable fields in canonical form, empty ones dropped.

    Raises InvalidResponse naming the campaign and the field for a value no variant covers.
    """
    try:
        # `time_tone` is how the field table misspells it (vendors.md "Email quirks").
        time_zone = w.decode_time_zone(raw.get("time_zone", raw.get("time_tone")))
    except ValueError as exc:
        raise _bad(raw, "time_zone", exc) from None
    fields: dict[str, Any] = {"kind": EMAIL_KIND}
    for name, decode in _FIELD_DECODERS.items():
        try:
            fields[name] = decode(raw, time_zone)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            # Every field of an answer is untrusted: a wrong type is the answer's fault.
            raise _bad(raw, name, exc) from None
    return c.drop_empty(fields)


def is_email_id(value: Any) -> bool:
    """True for what the API issues as a campaign id: a positive int (never a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


_STATE_ID = re.compile(r"[1-9][0-9]{0,18}")


def campaign_path(remote_id: str) -> str:
    """The URL path of one campaign; refuses a remote id (the state's, say) that is not one.

    A state file is hand-editable: `../../_admin/reset?x=` must never become a path. The
    segment is also percent-encoded, as defence in depth.
    """
    if not isinstance(remote_id, str) or not _STATE_ID.fullmatch(remote_id):
        raise StateError(
            f"refusing to send the email campaign id {quote(remote_id)}: the API's ids are "
            "positive integers",
            hint="a remote id comes from the API or the state file: check `campaignctl state "
            "list` and fix or remove the record",
        )
    return f"{CAMPAIGNS_PATH}/{url_quote(remote_id, safe='')}"


def decode_campaign(raw: Any) -> LiveCampaign:
    """Return a LiveCampaign for one campaign object of a response."""
    if not isinstance(raw, Mapping) or c.is_empty(raw.get("campaign_id")):
        raise InvalidResponse(f"expected a campaign object with a campaign_id, got {quote(raw)}")
    if not is_email_id(raw["campaign_id"]):
        # It goes into URL paths: only the positive integer the API documents is an id.
        raise InvalidResponse(
            f"campaign_id must be a positive integer, got {quote(raw['campaign_id'])}",
            path=CAMPAIGNS_PATH,
        )
    fields = decode_fields(raw)
    if "name" not in fields:
        raise _bad(raw, "name", "empty")
    status = w.digits_to_int(raw.get("status"))
    if not isinstance(status, int) or isinstance(status, bool):
        raise _bad(raw, "status", repr(raw.get("status")))
    share_fields(fields)
    return LiveCampaign(
        kind=EMAIL_KIND,
        remote_id=share(str(raw["campaign_id"])),
        name=fields["name"],
        status=status,
        fields=fields,
    )


def encode_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Return the wire body for canonical field values; None means "clear this field".

    Raises ValueError for a field the API does not have, or for clearing a required one
    (name, campaign_type, to): both are bugs of the caller, not user errors.
    """
    body: dict[str, Any] = {}
    for key, value in fields.items():
        if key not in _ENCODERS:
            raise ValueError(f"the email API has no field {key!r}")
        if value is None or c.is_empty(value):
            if key not in _EMPTY:
                raise ValueError(f"{key} is required and cannot be cleared")
            body[key] = _EMPTY[key]
        else:
            body[key] = _ENCODERS[key](value)
    return body


def encode_campaign(desired: Mapping[str, Any]) -> dict[str, Any]:
    """Return the create body for a canonical campaign (`EmailCampaign.canonical()`)."""
    return encode_fields({k: v for k, v in desired.items() if k in _ENCODERS and v is not None})


# --------------------------------------------------------------------------- provider


class EmailProvider:
    """The EngageLab Email marketing campaigns API, read and written in canonical form.

    >>> email = EmailProvider(url, "user", SecretStr("key"))  # doctest: +SKIP
    >>> [c.name for c in email.list_campaigns()]  # doctest: +SKIP
    """

    def __init__(
        self,
        base_url: str,
        api_user: str,
        api_key: SecretStr,
        **transport: Unpack[TransportOptions],
    ) -> None:
        self._client = API.client(base_url, basic_auth(api_user, api_key), **transport)
        self.base_url = self._client.base_url
        self.api_user = api_user

    def __repr__(self) -> str:
        return f"EmailProvider({self.base_url!r}, api_user={self.api_user!r}, api_key='**********')"

    @shielded
    def list_campaigns(self, name: str | None = None) -> list[LiveCampaign]:
        """Return every campaign (the vendor's `name` filter matches substrings), API order.

        One paged read: page one with limit 100, then the other pages concurrently.
        """
        params = {"name": name} if name else {}
        rows = list_all(self._client, CAMPAIGNS_PATH, params, items_key="result")
        seen: set[str] = set()
        out = []
        for row in rows:
            campaign = decode_campaign(row)
            # A campaign created while paging shifts the offsets: never report one twice.
            if campaign.remote_id not in seen:
                seen.add(campaign.remote_id)
                out.append(campaign)
        return out

    @shielded
    def get_campaign(self, remote_id: str) -> LiveCampaign:
        """Return one campaign; NotFound when it does not exist."""
        path = campaign_path(remote_id)
        return decode_campaign(_result(self._client.request("GET", path), "GET", path))

    @shielded
    def create_campaign(self, desired: Mapping[str, Any]) -> LiveCampaign:
        """Create a campaign from its canonical dict and return it as the API reports it.

        An unknown outcome (5xx, timeout, dropped connection) raises OutcomeUnknown: the
        caller looks the campaign up by name before trying again.
        """
        sent = encode_campaign(desired)
        body = self._client.request("POST", CAMPAIGNS_PATH, body=sent)
        live = decode_campaign(_result(body, "POST", CAMPAIGNS_PATH))
        if live.name != sent.get("name"):
            # Never record another campaign as the one just created.
            raise InvalidResponse(
                f"the API answered the create of {sent.get('name')!r} with campaign "
                f"{live.remote_id} named {live.name!r}; nothing recorded",
                method="POST",
                path=CAMPAIGNS_PATH,
                hint="look the campaign up in the vendor's console, then rerun",
            )
        return live

    @shielded
    def update_campaign(self, remote_id: str, fields: Mapping[str, Any]) -> None:
        """Send only the given fields (canonical values; None clears). 32110: ExecutedError."""
        path = campaign_path(remote_id)
        _expect_count(self._client.request("PUT", path, body=encode_fields(fields)), "PUT", path)

    @shielded
    def delete_campaign(self, remote_id: str) -> None:
        """Delete a campaign; NotFound when it does not exist."""
        path = campaign_path(remote_id)
        _expect_count(self._client.request("DELETE", path), "DELETE", path)

    def abandon(self) -> None:
        """Send no more requests (`ApiClient.abandon`)."""
        self._client.abandon()

    def close(self) -> None:
        self._client.close()


def _result(body: Any, method: str, path: str) -> Any:
    if not isinstance(body, Mapping) or "result" not in body:
        raise InvalidResponse(
            f'expected {{"result": {{campaign}}}}, got {quote(body)}', method=method, path=path
        )
    return body["result"]


def _expect_count(body: Any, method: str, path: str) -> None:
    """`{"count": 1}` is success; `{"count": 0}` means nothing matched the id."""
    count = body.get("count") if isinstance(body, Mapping) else None
    if count == 0:
        raise NotFound("not found: the API changed nothing (count 0)", method=method, path=path)
    if not isinstance(count, int):
        raise InvalidResponse(
            f'expected {{"count": 1}}, got {quote(body)}', method=method, path=path
        )
