"""reconciler.errors: the exception tree of campaignctl.

A leaf module: it imports nothing from ``reconciler`` so that any module may raise any
error without import cycles. ``cli.main`` alone turns these into ``error: <what> (<where>)``
lines, a hint line and an exit code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ApiError",
    "AuthError",
    "CampaignctlError",
    "ConfigError",
    "ConfigIssue",
    "ConflictError",
    "ConnectionFailed",
    "ExecutedError",
    "InsecureUrlError",
    "InvalidResponse",
    "MissingCredentials",
    "NotFound",
    "OutcomeUnknown",
    "PlanError",
    "RateLimited",
    "RequestRefused",
    "ServerError",
    "StalePlan",
    "StateError",
    "StateLocked",
    "UnsafePlan",
    "ValidationFailed",
]


class CampaignctlError(Exception):
    """Root of every error campaignctl raises on purpose."""

    code = "campaignctl_error"

    def __init__(self, message: str, where: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.where})" if self.where else self.message


# --------------------------------------------------------------------------- config


@dataclass(frozen=True, order=True)
class ConfigIssue:
    """One problem in the YAML: where it is (1-based line/column; 0 for a directory) and what
    is wrong."""

    file: str
    line: int
    column: int
    path: tuple[str | int, ...] = ()
    message: str = ""
    severity: str = field(default="error", compare=False)

    @property
    def field_path(self) -> str:
        """The field path as `a.b[1].c`, empty for the document itself."""
        out = ""
        for part in self.path:
            if isinstance(part, int):
                out += f"[{part}]"
            else:
                out += f".{part}" if out else str(part)
        return out

    def __str__(self) -> str:
        # Line 0: a place with no lines (a directory), named alone, never `dir:1:1`.
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        return (
            f"{where}: {self.field_path}: {self.message}"
            if self.path
            else f"{where}: {self.message}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": list(self.path),
            "field": self.field_path,
            "message": self.message,
            "severity": self.severity,
        }


class ConfigError(CampaignctlError):
    """The desired-state directory is invalid; ``issues`` lists every problem found."""

    code = "invalid_config"

    def __init__(self, issues: list[ConfigIssue], hint: str | None = None) -> None:
        self.issues = sorted(issues)
        count = len(self.issues)
        super().__init__(
            f"{count} error{'s' if count != 1 else ''} in the configuration", hint=hint
        )


# --------------------------------------------------------------------------- settings


class MissingCredentials(CampaignctlError):
    """A credential that this run needs is not set in the environment."""

    code = "missing_credentials"


class InsecureUrlError(CampaignctlError):
    """Plain http:// to a host that is not loopback."""

    code = "insecure_url"


# --------------------------------------------------------------------------- API


class ApiError(CampaignctlError):
    """An API call failed; carries method, path, HTTP status and the vendor's code."""

    code = "api_error"

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        path: str = "",
        status: int | None = None,
        vendor_code: int | str | None = None,
        hint: str | None = None,
    ) -> None:
        where = f"{method} {path}".strip() or None
        super().__init__(message, where=where, hint=hint)
        self.method = method
        self.path = path
        self.status = status
        self.vendor_code = vendor_code


class RequestRefused(ApiError):
    """The server refused the request before doing anything: retrying is safe."""

    code = "request_refused"


class AuthError(RequestRefused):
    """Credentials rejected (HTTP 401, vendor code 30000 or `unauthorized`)."""

    code = "auth_failed"


class ValidationFailed(RequestRefused):
    """The API rejected the body (e.g. 32112 empty name, 400 invalid_request)."""

    code = "api_validation_failed"


class NotFound(RequestRefused):
    """The object does not exist (HTTP 404)."""

    code = "not_found"


class ExecutedError(RequestRefused):
    """The campaign already ran and cannot change (32110, or 409 campaign_completed)."""

    code = "executed_cannot_update"


class ConflictError(RequestRefused):
    """Any other 4xx the API answered: nothing was done."""

    code = "api_conflict"


class RateLimited(RequestRefused):
    """HTTP 429 that outlived the retries."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ConnectionFailed(RequestRefused):
    """The API could not be reached (refused, DNS, TLS, connect timeout): nothing was sent."""

    code = "connection_failed"


class ServerError(ApiError):
    """HTTP 5xx that outlived the retries of a request that is safe to repeat."""

    code = "server_error"


class OutcomeUnknown(ApiError):
    """A write was sent but no answer came (timeout, dropped connection, 5xx on POST).

    The object may or may not exist now: look it up by name before doing anything else.
    """

    code = "outcome_unknown"


class InvalidResponse(ApiError):
    """The API answered something that is not the documented JSON."""

    code = "invalid_response"


# --------------------------------------------------------------------------- state & plan


class StateError(CampaignctlError):
    """The state file is unreadable, corrupt, or of a future format."""

    code = "state_error"


class StateLocked(StateError):
    """Another run holds the state lock."""

    code = "state_locked"

    def __init__(self, message: str, *, lock_id: str, holder: dict[str, Any], **kw: Any) -> None:
        super().__init__(message, **kw)
        self.lock_id = lock_id
        self.holder = holder


class PlanError(CampaignctlError):
    """The plan cannot be computed (e.g. two live campaigns share a name)."""

    code = "plan_error"


class UnsafePlan(PlanError):
    """The plan deletes or replaces more than the safety threshold allows without --force."""

    code = "unsafe_plan"


class StalePlan(PlanError):
    """A saved plan no longer matches live state or the state file."""

    code = "stale_plan"

    def __init__(self, message: str, *, stale: list[str] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.stale = stale or []
