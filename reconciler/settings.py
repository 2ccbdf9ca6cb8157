"""reconciler.settings: global options + environment -> one frozen Settings.

Credentials come from the environment only (commands.md "Credentials") and are held as SecretStr so
that no repr, log line or exception can show them.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from reconciler.errors import InsecureUrlError, MissingCredentials

if TYPE_CHECKING:
    from pydantic import SecretStr

    from reconciler.state.location import StateLocation

__all__ = [
    "DEFAULT_CONFIG_DIR",
    "DEFAULT_STATE",
    "ENV_API_KEY",
    "ENV_API_USER",
    "ENV_IMBRACE_API_KEY",
    "Settings",
    "check_url",
    "is_loopback_host",
    "resolve_url",
    "shown_url",
]

DEFAULT_CONFIG_DIR = "campaigns.d"
DEFAULT_STATE = "state/default.json"
ENV_API_USER = "ENGAGELAB_API_USER"
ENV_API_KEY = "ENGAGELAB_API_KEY"
#: The iMBrace SDK's server-to-server key, sent as `x-api-key` (commands.md "Credentials").
ENV_IMBRACE_API_KEY = "IMBRACE_API_KEY"


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


#: `scheme://userinfo@` (any scheme) or a bare `userinfo@host`: what `shown_url` masks.
_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)?[^/?#@]*@")


def shown_url(url: str) -> str:
    """The URL as an error may quote it: any `user:password@` part replaced by `***@`."""
    return _USERINFO.sub(lambda m: f"{m.group('scheme') or ''}***@", url.strip(), count=1)


def _refuse_credentials(url: str, option: str) -> None:
    # Credentials come from the environment only: a URL is printed in logs and errors.
    # Checked before anything else, whatever the scheme, and never echoed.
    if _USERINFO.match(url.strip()):
        raise InsecureUrlError(
            f"{option} must not carry credentials (user:password@); got {shown_url(url)!r}",
            where=option,
            hint="credentials come from the environment: "
            f"{ENV_API_USER} / {ENV_API_KEY}, {ENV_IMBRACE_API_KEY}",
        )


def check_url(url: str, option: str = "--api-url") -> str:
    """Return the URL without a trailing slash; refuse plain http:// to a non-loopback host.

    A URL carrying credentials (`https://user:pw@`, `ftp://u:p@`, `user@host`) is refused,
    and no error quotes them.
    """
    _refuse_credentials(url, option)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InsecureUrlError(
            f"{option} must be an http(s) URL, got {shown_url(url)!r}", where=option
        )
    if parts.username is not None or parts.password is not None:
        _refuse_credentials(f"{parts.scheme}://{parts.netloc}", option)
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise InsecureUrlError(
            f"plain http:// is refused for {parts.hostname}",
            where=option,
            hint="use https://, or http:// only to a loopback address such as 127.0.0.1",
        )
    return url.rstrip("/")


def resolve_url(
    value: str | None, *, default: str, shortcuts: Mapping[str, str], option: str
) -> str:
    """Return the checked URL an option means: unset is `default`, a shortcut name its URL.

    >>> resolve_url("sg", default="https://a.example", shortcuts={"sg": "https://b.example"},
    ...             option="--api-url")
    'https://b.example'
    """
    if value is None or not value.strip():
        return check_url(default, option)
    chosen = shortcuts.get(value.strip().lower())
    if chosen is not None:
        return check_url(chosen, option)
    _refuse_credentials(value, option)
    if "://" not in value:
        names = ", ".join(sorted(shortcuts))
        raise InsecureUrlError(
            f"{option} must be an http(s) URL or one of {names}, got {shown_url(value)!r}",
            where=option,
        )
    return check_url(value, option)


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to know about where to read and write."""

    api_url: str
    touchpoint_api_url: str
    #: The file of the chosen workspace, or a remote location (s3://, postgres://).
    state_path: Path | StateLocation | None = Path(DEFAULT_STATE)
    config_dir: Path = Path(DEFAULT_CONFIG_DIR)
    api_user: str | None = None
    api_key: SecretStr | None = None
    imbrace_api_key: SecretStr | None = None
    verbose: int = 0
    workspace: str = "default"
    #: Seconds a command waits for the state lock (--lock-timeout; 0: fail at once).
    lock_timeout: float = 0.0

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
        workspace: str | None = None,
        lock_timeout: float = 0.0,
    ) -> Settings:
        # The vendors' hosts live in their provider modules (one place per vendor fact);
        # imported here, not at the top, because the providers import this module.
        from pydantic import SecretStr  # not at the top: `--help` and validate never need it

        from reconciler.providers import email as engagelab
        from reconciler.providers import touchpoint as imbrace
        from reconciler.state.location import check_workspace, state_location

        env = os.environ if environ is None else environ
        key = env.get(ENV_API_KEY)
        imbrace_key = env.get(ENV_IMBRACE_API_KEY)
        return cls(
            api_url=resolve_url(
                api_url,
                default=engagelab.HOSTS.default,
                shortcuts=engagelab.HOSTS.shortcuts,
                option="--api-url",
            ),
            # Another vendor: never defaults to --api-url (commands.md "Environment").
            touchpoint_api_url=resolve_url(
                touchpoint_api_url,
                default=imbrace.HOSTS.default,
                shortcuts=imbrace.HOSTS.shortcuts,
                option="--touchpoint-api-url",
            ),
            state_path=None if no_state else state_location(state, workspace),
            config_dir=Path(config_dir or DEFAULT_CONFIG_DIR),
            api_user=env.get(ENV_API_USER) or None,
            api_key=SecretStr(key) if key else None,
            imbrace_api_key=SecretStr(imbrace_key) if imbrace_key else None,
            verbose=verbose,
            workspace=check_workspace(workspace or "default"),
            lock_timeout=lock_timeout,
        )

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
        """Return the iMBrace API key or raise naming IMBRACE_API_KEY."""
        if self.imbrace_api_key is None:
            raise MissingCredentials(
                f"{ENV_IMBRACE_API_KEY} not set; it is needed for MessagingCampaign documents",
                hint=f"export {ENV_IMBRACE_API_KEY}=<your iMBrace API key>, "
                "or try `campaignctl plan --sandbox`",
            )
        return self.imbrace_api_key
