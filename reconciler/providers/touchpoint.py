"""reconciler.providers.touchpoint: the touchpoint campaign API's REST mapping, in one module.

The vendor documents this API only as SDK calls (`client.campaign`, api/README.md section 2);
SPEC "Touchpoint API: the wire format" defines the REST form the sandbox serves. Every path,
body and response shape of it lives here, so a real endpoint can be mapped in this one file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pydantic import SecretStr

from reconciler import canonical as c
from reconciler.errors import InvalidResponse
from reconciler.live import MESSAGING_KIND, LiveCampaign, LiveTouchpoint
from reconciler.providers.http import ApiClient, RetryConfig, bearer_auth, list_all
from reconciler.settings import ENV_TOUCHPOINT_TOKEN

__all__ = [
    "CAMPAIGNS_PATH",
    "TOUCHPOINTS_PATH",
    "VALIDATE_PATH",
    "TouchpointProvider",
    "decode_campaign",
    "decode_touchpoint",
    "encode_touchpoint",
    "group_touchpoints",
]

CAMPAIGNS_PATH: Final = "/v1/campaigns"
TOUCHPOINTS_PATH: Final = "/v1/touchpoints"
VALIDATE_PATH: Final = "/v1/touchpoints/validate"
TOUCHPOINT_FIELDS: Final = ("name", "type", "message")


def _require_id(raw: Any, what: str) -> str:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("_id"), str) or not raw["_id"]:
        raise InvalidResponse(f"expected a {what} object with an _id, got {raw!r:.200}")
    return str(raw["_id"])


def decode_touchpoint(raw: Any) -> LiveTouchpoint:
    """Return a LiveTouchpoint for `{_id, name, type, campaign_id, created_at}`."""
    remote_id = _require_id(raw, "touchpoint")
    return LiveTouchpoint(
        remote_id=remote_id,
        name=str(raw.get("name") or ""),
        type=raw.get("type") or None,
        created_at=raw.get("created_at") or None,
    )


def decode_campaign(raw: Any, touchpoints: tuple[LiveTouchpoint, ...] = ()) -> LiveCampaign:
    """Return a LiveCampaign for `{_id, name, status, channel_type, created_at, updated_at}`.

    `fields` holds what the model's canonical form has and the API returns: kind, name and
    channel_type; touchpoint messages are write-only and never appear.
    """
    remote_id = _require_id(raw, "campaign")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidResponse(f"campaign {remote_id} has no name: {raw!r:.200}")
    fields = c.drop_empty(
        {"kind": MESSAGING_KIND, "name": name, "channel_type": raw.get("channel_type")}
    )
    return LiveCampaign(
        kind=MESSAGING_KIND,
        remote_id=remote_id,
        name=name,
        # The schema marks status optional; a campaign is created draft (SPEC).
        status=str(raw.get("status") or "draft"),
        fields=fields,
        touchpoints=touchpoints,
        extra={k: raw[k] for k in ("created_at", "updated_at") if raw.get(k)},
    )


def group_touchpoints(rows: list[Any]) -> dict[str, list[LiveTouchpoint]]:
    """Return touchpoints per campaign id, each list in the API's (creation) order."""
    grouped: dict[str, list[LiveTouchpoint]] = {}
    for raw in rows:
        touchpoint = decode_touchpoint(raw)
        campaign_id = raw.get("campaign_id")
        if isinstance(campaign_id, str):
            grouped.setdefault(campaign_id, []).append(touchpoint)
    return grouped


def encode_touchpoint(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Return the wire body for touchpoint fields; a string message becomes `{text: ...}`.

    Raises ValueError for a key the API does not accept (a caller's bug).
    """
    unknown = sorted(set(fields) - set(TOUCHPOINT_FIELDS))
    if unknown:
        raise ValueError(f"the touchpoint API has no field {', '.join(unknown)}")
    body = dict(fields)
    if "message" in body and body["message"] is not None:
        body["message"] = c.canonical_message(body["message"])
    return body


class TouchpointProvider:
    """Multichannel campaigns and their ordered touchpoints over SPEC's REST form.

    >>> tp = TouchpointProvider(url, SecretStr("token"))  # doctest: +SKIP
    >>> tp.list_campaigns()  # doctest: +SKIP
    """

    def __init__(
        self,
        base_url: str,
        token: SecretStr,
        *,
        timeout: float = 30.0,
        retries: int = 5,
        backoff: float = 0.5,
    ) -> None:
        self._client = ApiClient(
            base_url,
            bearer_auth(token),
            timeout=timeout,
            retry=RetryConfig(retries=retries, backoff=backoff),
            auth_hint=f"check {ENV_TOUCHPOINT_TOKEN}",
            option="--touchpoint-api-url",
        )
        # Validation changes nothing, so its POST may be retried like a GET.
        self._client.mount_safe_post(VALIDATE_PATH)
        self.base_url = self._client.base_url

    def __repr__(self) -> str:
        return f"TouchpointProvider({self.base_url!r}, token='**********')"

    def list_campaigns(self, name: str | None = None) -> list[LiveCampaign]:
        """Return every campaign with its touchpoints in creation order.

        Two paged lists (campaigns, then all touchpoints), never a GET per campaign. `name`
        keeps the campaigns whose name contains it, as the email API's filter does.
        """
        campaigns = list_all(self._client, CAMPAIGNS_PATH, {}, items_key="data")
        if name:
            campaigns = [raw for raw in campaigns if name in str(_mapping(raw).get("name", ""))]
        if not campaigns:
            return []
        grouped = group_touchpoints(list_all(self._client, TOUCHPOINTS_PATH, {}, items_key="data"))
        out: list[LiveCampaign] = []
        seen: set[str] = set()
        for raw in campaigns:
            remote_id = _require_id(raw, "campaign")
            if remote_id not in seen:
                seen.add(remote_id)
                out.append(decode_campaign(raw, tuple(grouped.get(remote_id, ()))))
        return out

    def get_campaign(self, remote_id: str) -> LiveCampaign:
        """Return one campaign with its touchpoints; NotFound when it does not exist."""
        raw = self._client.request("GET", f"{CAMPAIGNS_PATH}/{remote_id}")
        rows = list_all(
            self._client, TOUCHPOINTS_PATH, {"campaign_id": remote_id}, items_key="data"
        )
        return decode_campaign(raw, tuple(group_touchpoints(rows).get(remote_id, ())))

    def create_campaign(self, name: str, channel_type: str) -> LiveCampaign:
        """Create a draft campaign; an unknown outcome raises OutcomeUnknown."""
        body = {"name": name, "channel_type": channel_type}
        return decode_campaign(self._client.request("POST", CAMPAIGNS_PATH, body=body))

    def delete_campaign(self, remote_id: str) -> None:
        """Delete a campaign and, with it, its touchpoints."""
        self._client.request("DELETE", f"{CAMPAIGNS_PATH}/{remote_id}")

    def create_touchpoint(self, campaign_id: str, tp: Mapping[str, Any]) -> LiveTouchpoint:
        """Append a touchpoint (`name`, `type`, `message`) to a campaign.

        409 campaign_completed raises ExecutedError.
        """
        body = {**encode_touchpoint(tp), "campaign_id": campaign_id}
        return decode_touchpoint(self._client.request("POST", TOUCHPOINTS_PATH, body=body))

    def update_touchpoint(self, remote_id: str, fields: Mapping[str, Any]) -> LiveTouchpoint:
        """PATCH any of `name`, `type`, `message`; PATCH is retried like PUT."""
        path = f"{TOUCHPOINTS_PATH}/{remote_id}"
        return decode_touchpoint(
            self._client.request("PATCH", path, body=encode_touchpoint(fields))
        )

    def delete_touchpoint(self, remote_id: str) -> None:
        """Remove a touchpoint."""
        self._client.request("DELETE", f"{TOUCHPOINTS_PATH}/{remote_id}")

    def validate_touchpoint(self, remote_id: str) -> tuple[bool, list[str]]:
        """Return (valid, the API's error sentences) for a touchpoint."""
        body = self._client.request(
            "POST", VALIDATE_PATH, body={"touchpoint_id": remote_id}, idempotent=True
        )
        valid = body.get("valid") if isinstance(body, Mapping) else None
        errors = body.get("errors") if isinstance(body, Mapping) else None
        if not isinstance(valid, bool) or not isinstance(errors, list | None):
            raise InvalidResponse(
                f'expected {{"valid": bool, "errors": [...]}}, got {body!r:.200}',
                method="POST",
                path=VALIDATE_PATH,
            )
        return valid, [str(e) for e in errors or ()]

    def close(self) -> None:
        self._client.close()


def _mapping(raw: Any) -> Mapping[str, Any]:
    return raw if isinstance(raw, Mapping) else {}
