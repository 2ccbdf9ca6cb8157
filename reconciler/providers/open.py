"""reconciler.providers.open: the providers one run needs, opened from Settings and closed together.

`open_providers` builds the ones a run needs from Settings: the touchpoint API is opened
(and IMBRACE_API_KEY required) only when a MessagingCampaign is in the config or the state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Unpack

from reconciler.providers.engagelab.client import EmailProvider
from reconciler.providers.http import TransportOptions
from reconciler.providers.imbrace.client import TouchpointProvider
from reconciler.settings import Settings

__all__ = ["EmailProvider", "Providers", "TouchpointProvider", "open_providers"]


@dataclass
class Providers:
    """The providers of one run; `touchpoint` (or `email`) is None when not needed."""

    email: EmailProvider | None
    touchpoint: TouchpointProvider | None = None

    def close(self) -> None:
        for provider in (self.email, self.touchpoint):
            if provider is not None:
                provider.close()

    def abandon(self) -> None:
        """Send no more requests through either provider (`ApiClient.abandon`)."""
        for provider in (self.email, self.touchpoint):
            if provider is not None:
                provider.abandon()

    def __enter__(self) -> Providers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_providers(
    settings: Settings,
    *,
    need_email: bool = True,
    need_touchpoint: bool,
    **transport: Unpack[TransportOptions],
) -> Providers:
    """Return the providers a run needs; MissingCredentials names any unset variable.

    Credentials are checked before any provider is built, so nothing is left open on error.
    """
    email_credentials = settings.email_credentials() if need_email else None
    token = settings.touchpoint_credentials() if need_touchpoint else None
    email = (
        EmailProvider(settings.api_url, *email_credentials, **transport)
        if email_credentials is not None
        else None
    )
    try:
        touchpoint = (
            TouchpointProvider(settings.touchpoint_api_url, token, **transport)
            if token is not None
            else None
        )
    except BaseException:
        if email is not None:
            email.close()
        raise
    return Providers(email=email, touchpoint=touchpoint)
