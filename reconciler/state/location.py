"""reconciler.state.location: `--state` + `--workspace` -> where the state is, and its backend.

`--state` is a path (the file backend), `s3://BUCKET/KEY[?endpoint=URL&region=R]` or
`postgres://USER@HOST[:PORT]/DB[?schema=NAME]` (also `postgresql://`). Credentials never
come from the URL: a password in it is refused (the URL is printed in messages and logs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from reconciler.errors import StateError
from reconciler.state.backend import Backend

__all__ = [
    "DEFAULT_WORKSPACE",
    "REMOTE_SCHEMES",
    "StateLocation",
    "check_workspace",
    "open_backend",
    "open_state",
    "parse_duration",
    "state_location",
]

DEFAULT_WORKSPACE = "default"
DEFAULT_STATE = "state/default.json"
REMOTE_SCHEMES = ("s3", "postgres", "postgresql")
_WORKSPACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h)?")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def check_workspace(name: str) -> str:
    """The workspace name, or a StateError: letters, digits, `-`, `_`; 1-63 characters."""
    if not _WORKSPACE.fullmatch(name):
        raise StateError(
            f"invalid workspace name {name!r}",
            where="--workspace",
            hint="use letters, digits, '-' and '_' (at most 63), starting with a letter or digit",
        )
    return name


def parse_duration(text: str, option: str = "--lock-timeout") -> float:
    """`90s`, `2m`, `1h`, `500ms` or plain seconds -> seconds."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise StateError(
            f"{option} takes a duration such as 90s, 2m or 1h, got {text!r}", where=option
        )
    return float(match.group(1)) * _UNIT_S[match.group(2) or "s"]


@dataclass(frozen=True)
class StateLocation:
    """A remote state: the URL as given (checked: no credentials) and the workspace."""

    url: str
    workspace: str = DEFAULT_WORKSPACE

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme.lower()

    @property
    def display(self) -> str:
        """The URL without its query (endpoints, options), with the workspace if not default."""
        parts = urlsplit(self.url)
        shown = f"{parts.scheme}://{parts.netloc}{parts.path}"
        schema = parse_qs(parts.query).get("schema")
        if schema:
            shown += f"?schema={schema[0]}"
        if self.workspace != DEFAULT_WORKSPACE:
            shown += f" (workspace {self.workspace})"
        return shown

    def __str__(self) -> str:
        return self.display


def state_location(state: str | Path | None, workspace: str | None = None) -> Path | StateLocation:
    """Where the state of `workspace` is: a file path, or a checked remote location.

    The default path `state/default.json` becomes `state/NAME.json` for workspace NAME; any
    other path P becomes `P.stem.NAME P.suffix` beside it (P itself is `default`).
    """
    name = check_workspace(workspace or DEFAULT_WORKSPACE)
    text = str(state) if state is not None else DEFAULT_STATE
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in REMOTE_SCHEMES:
        return StateLocation(_check_url(text), name)
    if scheme:
        raise StateError(
            f"--state takes a path, s3://BUCKET/KEY or postgres://USER@HOST/DB, got a "
            f"{scheme}:// URL",
            where="--state",
        )
    path = Path(text)
    if name == DEFAULT_WORKSPACE:
        return path
    if text == DEFAULT_STATE:
        return path.with_name(f"{name}.json")
    return path.with_name(f"{path.stem}.{name}{path.suffix}")


def workspace_pattern(path: Path, state: str | None) -> tuple[Path, str, Path]:
    """(directory, file-name template with `{}`, the default workspace's file) for a path."""
    if state is None or str(state) == DEFAULT_STATE:
        default = Path(DEFAULT_STATE)
        return default.parent, "{}.json", default
    given = Path(state)
    return given.parent, f"{given.stem}.{{}}{given.suffix}", given


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    query = parse_qs(parts.query)
    if parts.password is not None or "password" in query:
        raise StateError(
            "a password inside the --state URL is refused (URLs are printed in messages)",
            where="--state",
            hint="give it in PGPASSWORD, a ~/.pgpass file or a service file"
            if scheme != "s3"
            else "S3 credentials come from AWS_* variables or an AWS profile",
        )
    if scheme == "s3":
        if parts.username is not None:
            raise StateError("an s3:// URL takes no user", where="--state")
        if not parts.hostname or not parts.path.strip("/"):
            raise StateError("--state s3:// needs s3://BUCKET/KEY", where="--state")
        for endpoint in query.get("endpoint", []):
            if urlsplit(endpoint).password is not None or "@" in urlsplit(endpoint).netloc:
                raise StateError("the S3 endpoint URL must not carry credentials", where="--state")
        unknown = sorted(set(query) - {"endpoint", "region"})
        if unknown:
            raise StateError(
                f"unknown s3:// option {', '.join(unknown)} (known: endpoint, region)",
                where="--state",
            )
    elif not parts.path.strip("/"):
        raise StateError("--state postgres:// needs a database: postgres://USER@HOST/DB")
    return url


def open_state(state: str | None, workspace: str | None = None) -> Backend:
    """The backend of `--state` and `--workspace` as given (it can list the workspaces)."""
    return open_backend(state_location(state, workspace), state)


def open_backend(location: Path | StateLocation, state: str | None = None) -> Backend:
    """The backend for a location (the remote ones import boto3 / psycopg only here)."""
    if isinstance(location, Path):
        from reconciler.state.file_backend import FileBackend

        return FileBackend(location, workspace_pattern=workspace_pattern(location, state))
    try:
        if location.scheme == "s3":
            from reconciler.state.s3_backend import S3Backend

            return S3Backend(location)
        from reconciler.state.pg_backend import PostgresBackend

        return PostgresBackend(location)
    except ModuleNotFoundError as exc:
        raise StateError(
            f"the {location.scheme}:// state backend needs {exc.name}, which is not installed",
            where=location.display,
            hint="pip install 'campaignctl[remote]'",
        ) from None
