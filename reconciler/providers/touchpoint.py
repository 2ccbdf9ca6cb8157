"""reconciler.providers.touchpoint: the old path of the iMBrace provider (`providers/imbrace/`).

Kept so that `from reconciler.providers.touchpoint import TouchpointProvider` still works; the
code lives in the vendor's package (docs/reference/vendors.md "Channel-service routes and auth").
"""

from __future__ import annotations

from reconciler.providers.imbrace.client import (
    API_KEY_HEADER,
    CAMPAIGNS_PATH,
    DEFAULT_GATEWAY,
    ERROR_CODES,
    GATEWAY_ENVIRONMENTS,
    SERVICE_PREFIX,
    TOUCHPOINTS_PATH,
    VALIDATE_PATH,
    TouchpointProvider,
    decode_campaign,
    decode_touchpoint,
    encode_touchpoint,
    group_touchpoints,
    id_path,
    is_imbrace_id,
    read_page,
)

__all__ = [
    "API_KEY_HEADER",
    "CAMPAIGNS_PATH",
    "DEFAULT_GATEWAY",
    "ERROR_CODES",
    "GATEWAY_ENVIRONMENTS",
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
