"""reconciler.providers.email: the old path of the EngageLab provider (`providers/engagelab/`).

Kept so that `from reconciler.providers.email import EmailProvider` (and the codec's names)
still work; the code lives in the vendor's package (docs/reference/vendors.md "EngageLab Email").
"""

from __future__ import annotations

from reconciler.providers.engagelab.client import (
    CAMPAIGNS_PATH,
    DEFAULT_URL,
    ERROR_CODES,
    REGION_URLS,
    EmailProvider,
    campaign_path,
    decode_campaign,
    decode_fields,
    encode_campaign,
    encode_fields,
    is_email_id,
)
from reconciler.providers.engagelab.codec import (
    decode_ab_test,
    decode_google_track,
    decode_send_time,
    decode_sender_id,
    decode_time_zone,
    decode_to,
    decode_warm_up,
)

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
