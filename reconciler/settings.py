"""reconciler.settings: global options + environment -> one frozen Settings.

Credentials come from the environment only (SPEC "Commands") and are held as SecretStr so
that no repr, log line or exception can show them.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import SecretStr

from reconciler.errors import InsecureUrlError, MissingCredentials

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_CONFIG_DIR",
    "DEFAULT_STATE",
    "ENV_API_KEY",
    "ENV_API_USER",
    "ENV_TOUCHPOINT_TOKEN",
    "Settings",
    "check_url",
    "is_loopback_host",
]

DEFAULT_API_URL = "https://email.api.engagelab.cc"
DEFAULT_CONFIG_DIR = "campaigns.d"
DEFAULT_STATE = "state/default.json"
ENV_API_USER = "ENGAGELAB_API_USER"
ENV_API_KEY = "ENGAGELAB_API_KEY"
ENV_TOUCHPOINT_TOKEN = "CAMPAIGNCTL_TOUCHPOINT_TOKEN"


def is_loopback_host(host: str | None) -> bool:
    """Return True for localhost and any loopback address (127.0.0.0/8, ::1)."""
    if not host:
        return False
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str, option: str = "--api-url") -> str:
    """Return the URL without a trailing slash; refuse plain http:// to a non-loopback host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InsecureUrlError(f"{option} must be an http(s) URL, got {url!r}", where=option)
    if parts.username is not None or parts.password is not None:
        # Credentials come from the environment only: a URL is printed in logs and errors.
        raise InsecureUrlError(
            f"{option} must not carry credentials (user:password@)",
            where=option,
            hint="export ENGAGELAB_API_USER / ENGAGELAB_API_KEY instead",
        )
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise InsecureUrlError(
            f"plain http:// is refused for {parts.hostname}",
            where=option,
            hint="use https://, or http:// only to a loopback address such as 127.0.0.1",
        )
    return url.rstrip("/")


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to know about where to read and write."""

    api_url: str = DEFAULT_API_URL
    touchpoint_api_url: str | None = None
    state_path: Path | None = Path(DEFAULT_STATE)
    config_dir: Path = Path(DEFAULT_CONFIG_DIR)
    api_user: str | None = None
    api_key: SecretStr | None = None
    touchpoint_token: SecretStr | None = None
    verbose: int = 0

    @classmethod
    def from_options(
        cls,
        *,
        api_url: str | None,
        touchpoint_api_url: str | None,
        state: str | None,
        no_state: bool,
        config_dir: str | None,
        verbose: int = 0,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        env = os.environ if environ is None else environ
        key = env.get(ENV_API_KEY)
        token = env.get(ENV_TOUCHPOINT_TOKEN)
        return cls(
            api_url=check_url(api_url or DEFAULT_API_URL),
            touchpoint_api_url=(
                check_url(touchpoint_api_url, "--touchpoint-api-url")
                if touchpoint_api_url
                else None
            ),
            state_path=None if no_state else Path(state or DEFAULT_STATE),
            config_dir=Path(config_dir or DEFAULT_CONFIG_DIR),
            api_user=env.get(ENV_API_USER) or None,
            api_key=SecretStr(key) if key else None,
            touchpoint_token=SecretStr(token) if token else None,
            verbose=verbose,
        )

    @property
    def effective_touchpoint_url(self) -> str:
        return self.touchpoint_api_url or self.api_url

    def email_credentials(self) -> tuple[str, SecretStr]:
        """Return (api_user, api_key) or raise naming the missing variables."""
        missing = [
            name
            for name, value in ((ENV_API_USER, self.api_user), (ENV_API_KEY, self.api_key))
            if not value
        ]
        if missing or self.api_user is None or self.api_key is None:
            raise MissingCredentials(
                f"{' and '.join(missing)} not set",
                hint="export the EngageLab API user and key, or try `campaignctl plan --sandbox`",
            )
        return self.api_user, self.api_key

    def touchpoint_credentials(self) -> SecretStr:
        """Return the touchpoint API token or raise naming CAMPAIGNCTL_TOUCHPOINT_TOKEN."""
        if self.touchpoint_token is None:
            raise MissingCredentials(
                f"{ENV_TOUCHPOINT_TOKEN} not set; it is needed for MessagingCampaign documents",
                hint=f"export {ENV_TOUCHPOINT_TOKEN}=<token>",
            )
        return self.touchpoint_token
