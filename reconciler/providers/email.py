"""reconciler.providers.email: the EngageLab Email campaigns API <-> canonical campaigns.

Decoding maps every documented response variant (vendors.md "Email quirks") to the canonical
form of docs/ARCHITECTURE.md with one small function per field, so that a campaign created
from a model reads back equal to that model's canonical form minus the write-only fields:
an unchanged campaign always plans `no-op`. Encoding sends the variant the field table
marks "send". Paging, retries and errors are `http.py`'s; this module decides no policy.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote as url_quote

from pydantic import SecretStr

from reconciler import canonical as c
from reconciler.errors import (
    AuthError,
    CampaignctlError,
    ExecutedError,
    InvalidResponse,
    NotFound,
    StateError,
    ValidationFailed,
)
from reconciler.live import EMAIL_KIND, LiveCampaign
from reconciler.providers.http import (
    ApiClient,
    ErrorCodes,
    RetryConfig,
    basic_auth,
    list_all,
    quote,
    shielded,
)
from reconciler.settings import ENV_API_KEY, ENV_API_USER

__all__ = [
    "CAMPAIGNS_PATH",
    "DEFAULT_URL",
    "ERROR_CODES",
    "REGION_URLS",
    "EmailProvider",
    "campaign_path",
    "decode_ab_test",
    "decode_campaign",
    "decode_fields",
    "decode_google_track",
    "decode_send_time",
    "decode_sender_id",
    "decode_time_zone",
    "decode_to",
    "decode_warm_up",
    "encode_campaign",
    "encode_fields",
    "is_email_id",
]

#: The API's documented host (Singapore), and the regional hosts `--api-url` takes by name.
DEFAULT_URL: Final = "https://email.api.engagelab.cc"
REGION_URLS: Final[Mapping[str, str]] = {
    "sg": DEFAULT_URL,
    "tr": "https://emailapi-tr.engagelab.com",
}
CAMPAIGNS_PATH: Final = "/v1/marketing/campaigns"
#: The documented error codes (vendors.md "Email errors"); 32112 comes with HTTP 401 though it
#: is a validation error, so the code, not the status, decides.
ERROR_CODES: Final[ErrorCodes] = {
    30000: AuthError,
    32112: ValidationFailed,
    32110: ExecutedError,
}
GOOGLE_TRACK_KEYS: Final = (
    "campaign_name",
    "campaign_source",
    "campaign_medium",
    "campaign_term",
    "campaign_content",
)
WARM_UP_KEYS: Final = ("domain", "rate", "upgrade_value", "downgrade_value")
WIN_CONDITION_KEYS: Final = ("time_unit", "after_time", "compare")


# --------------------------------------------------------------------------- decoding


def _text(value: Any) -> str | None:
    """A string field: "" and null are one "unset" (docs/reference/semantics.md "Unset values")."""
    if c.is_empty(value):
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {quote(value)}")
    return value


def _scalar_text(value: Any) -> str:
    """A list item the API writes as a string or a number (a tag, a sender id)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"expected a string, got {quote(value)}")
    return str(value)


def _int(value: Any) -> Any:
    """An integer that some responses may carry as a digit string."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value


def decode_time_zone(value: Any) -> int | None:
    """`time_zone`: responses give "+8", requests "8", the table an int; all -> 8."""
    return None if c.is_empty(value) else c.canonical_time_zone(value)


def decode_send_time(raw: Mapping[str, Any], time_zone: int | None) -> str | None:
    """`send_time` from `run_time` (`2022-10-26T17:10:20+0800`), local to the campaign's zone.

    Responses carry `run_time`; a `send_time` key, should one appear, wins as it does on
    requests. Both documented date forms are accepted.
    """
    value = raw.get("send_time")
    if c.is_empty(value):
        value = raw.get("run_time")
    return None if c.is_empty(value) else c.canonical_send_time(value, time_zone)


def decode_to(value: Any) -> dict[str, Any] | None:
    """`to`: a one-element list (documented) or a bare object (one example) -> the object."""
    if c.is_empty(value):
        return None
    entry = c.canonical_to(value)
    if (
        not isinstance(entry, Mapping)
        or not isinstance(entry.get("value"), list)
        or not isinstance(entry.get("type"), str)
    ):
        raise ValueError(f"expected one {{type, value}} entry, got {quote(value)}")
    return {"type": entry["type"], "value": [_scalar_text(v) for v in entry["value"]]}


def decode_sender_id(value: Any) -> str | None:
    """`sender_id`: an int in responses, a string in requests -> the string."""
    return None if c.is_empty(value) else c.canonical_sender_id(_scalar_text(value))


def decode_google_track(value: Any) -> dict[str, str] | None:
    """`google_track`: null, {} and the all-"" object all mean none; else its non-empty keys."""
    if isinstance(value, Mapping):
        value = {k: _text(v) for k, v in value.items() if k in GOOGLE_TRACK_KEYS}
    result = c.canonical_google_track(value)
    if result is not None and not isinstance(result, Mapping):
        raise ValueError(f"expected an object, got {quote(value)}")
    return dict(result) if isinstance(result, Mapping) else result


def decode_warm_up(value: Any) -> list[dict[str, Any]] | None:
    """`warm_up`: null and [] mean none; "0.95" and 0.95 are one value; rate an int."""
    entries = c.canonical_warm_up(value)
    if entries is None:
        return None
    if not isinstance(entries, list):
        raise ValueError(f"expected a list of warm-up rules, got {quote(value)}")
    out = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise ValueError(f"expected a warm-up rule object, got {quote(entry)}")
        rule = {k: entry[k] for k in WARM_UP_KEYS if k in entry}
        if "rate" in rule:
            rule["rate"] = _int(rule["rate"])
        for key, item in rule.items():
            if isinstance(item, bool) or not isinstance(item, str | int | float | None):
                raise ValueError(f"warm_up {key} must be a string or a number, got {quote(item)}")
        out.append(rule)
    return out


def decode_ab_test(value: Any, time_zone: int | None) -> dict[str, Any] | None:
    """`ab_test`: null/{} mean none; tested lists in canonical form, empty lists dropped."""
    if c.is_empty(value):
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f"expected an object, got {quote(value)}")
    out: dict[str, Any] = {}
    if not c.is_empty(value.get("percent")):
        out["percent"] = _whole(value["percent"], "percent")
    condition = value.get("win_condition")
    if isinstance(condition, Mapping):
        out["win_condition"] = {k: condition[k] for k in WIN_CONDITION_KEYS if k in condition}
        if "after_time" in out["win_condition"]:
            after = out["win_condition"]["after_time"]
            out["win_condition"]["after_time"] = _whole(after, "after_time")
        for key in ("time_unit", "compare"):
            if key in out["win_condition"]:
                out["win_condition"][key] = _scalar_text(out["win_condition"][key])
    elif not c.is_empty(condition):
        raise ValueError(f"win_condition must be an object, got {quote(condition)}")
    per_item: dict[str, Callable[[Any], Any]] = {
        "template_invoke_names": _scalar_text,
        "sender_ids": lambda v: c.canonical_sender_id(_scalar_text(v)),
        "send_times": lambda v: c.canonical_send_time(_scalar_text(v), time_zone),
        "subjects": _scalar_text,
    }
    for key, convert in per_item.items():
        items = value.get(key)
        if not c.is_empty(items):
            if not isinstance(items, list):
                raise ValueError(f"{key} must be a list, got {quote(items)}")
            out[key] = [convert(item) for item in items]
    return out or None


def _whole(value: Any, what: str) -> int:
    number = _int(value)
    if isinstance(number, bool) or not isinstance(number, int):
        raise ValueError(f"{what} must be an integer, got {quote(value)}")
    return number


#: One decoder per readable field; each takes the raw campaign and its decoded time zone.
_FIELD_DECODERS: Final[dict[str, Callable[[Mapping[str, Any], int | None], Any]]] = {
    "name": lambda raw, tz: _text(raw.get("name")),
    "campaign_type": lambda raw, tz: c.canonical_campaign_type(raw.get("campaign_type")),
    "to": lambda raw, tz: decode_to(raw.get("to")),
    "reply_to": lambda raw, tz: _text(raw.get("reply_to")),
    "sender_id": lambda raw, tz: decode_sender_id(raw.get("sender_id")),
    "template_invoke_name": lambda raw, tz: _text(raw.get("template_invoke_name")),
    "send_time": lambda raw, tz: decode_send_time(
        {k: _text(raw.get(k)) for k in ("send_time", "run_time")}, tz
    ),
    "time_zone": lambda raw, tz: tz,
    "google_track": lambda raw, tz: decode_google_track(raw.get("google_track")),
    "warm_up": lambda raw, tz: decode_warm_up(raw.get("warm_up")),
    "ab_test": lambda raw, tz: decode_ab_test(raw.get("ab_test"), tz),
}

#: Response keys that are not managed fields; kept in `LiveCampaign.extra` for display.
_EXTRA_KEYS: Final = (
    "campaign_id",
    "from_email",
    "from_name",
    "create_time",
    "update_time",
    "run_time",
    "complete_time",
)


def _bad(raw: Mapping[str, Any], field: str, problem: object) -> InvalidResponse:
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
        time_zone = decode_time_zone(raw.get("time_zone", raw.get("time_tone")))
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


def _plain(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


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
    status = _int(raw.get("status"))
    if not isinstance(status, int) or isinstance(status, bool):
        raise _bad(raw, "status", repr(raw.get("status")))
    return LiveCampaign(
        kind=EMAIL_KIND,
        remote_id=str(raw["campaign_id"]),
        name=fields["name"],
        status=status,
        fields=fields,
        # Display only, still untrusted: only plain values are kept.
        extra={k: raw[k] for k in _EXTRA_KEYS if _plain(raw.get(k))},
    )


# --------------------------------------------------------------------------- encoding


def _read_attachment(attachment: Mapping[str, Any]) -> dict[str, str]:
    """Return `{filename, content}` with the file's bytes base64-encoded.

    The bytes must still hash to what validation recorded: what the state says was sent
    is what was sent.
    """
    path = Path(str(attachment["path"]))
    filename = str(attachment.get("filename") or path.name)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CampaignctlError(
            f"cannot read attachment {filename}: {exc.strerror or exc}", where=str(path)
        ) from None
    expected = str(attachment.get("sha256") or "").removeprefix("sha256:")
    if expected and hashlib.sha256(data).hexdigest() != expected:
        raise CampaignctlError(
            f"attachment {filename} changed since it was validated",
            where=str(path),
            hint="run plan again",
        )
    return {"filename": filename, "content": base64.b64encode(data).decode("ascii")}


def _encode_to(value: Any) -> list[dict[str, Any]]:
    entry = c.canonical_to(value)
    return [dict(entry)] if isinstance(entry, Mapping) else list(value)


def _encode_list_of_objects(value: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [dict(item) for item in value]


#: Canonical value -> the wire form the field table marks "send".
_ENCODERS: Final[dict[str, Callable[[Any], Any]]] = {
    "name": str,
    "campaign_type": lambda v: c.CAMPAIGN_TYPE_WIRE[c.canonical_campaign_type(v)],
    "to": _encode_to,
    "reply_to": str,
    "sender_id": lambda v: str(c.canonical_sender_id(v)),
    "template_invoke_name": str,
    "subject": str,
    "send_time": lambda v: c.canonical_send_time(v),
    "time_zone": c.canonical_time_zone,
    "attachments": lambda v: [_read_attachment(a) for a in v],
    "google_track": lambda v: dict(v),
    "warm_up": _encode_list_of_objects,
    "ab_test": lambda v: dict(v),
}

#: What "clear this field" is on the wire: the API's PUT keeps every key a body leaves out
#: (semantics.md "Managed fields"), so a cleared field must be sent, as its empty value. For
#: google_track that is the vendor's own empty form (all five keys ""), and time_zone goes
#: back to the API's default (`canonical.VENDOR_DEFAULTS`, where the planner reads it too).
_EMPTY: Final[dict[str, Any]] = {
    "reply_to": "",
    "sender_id": "",
    "template_invoke_name": "",
    "subject": "",
    "send_time": "",
    "time_zone": c.VENDOR_DEFAULTS[EMAIL_KIND]["time_zone"],
    "attachments": [],
    "google_track": dict.fromkeys(GOOGLE_TRACK_KEYS, ""),
    "warm_up": [],
    "ab_test": None,
}


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
        *,
        timeout: float = 30.0,
        retries: int = 5,
        backoff: float = 0.5,
    ) -> None:
        self._client = ApiClient(
            base_url,
            basic_auth(api_user, api_key),
            timeout=timeout,
            retry=RetryConfig(retries=retries, backoff=backoff),
            auth_hint=f"check {ENV_API_USER} and {ENV_API_KEY}",
            error_codes=ERROR_CODES,
        )
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
