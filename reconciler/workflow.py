"""reconciler.workflow: the sequence every command shares, from settings to a Plan.

settings -> load config -> read state -> open providers -> read live (one paged list per
API, concurrently) -> compute the plan. Commands in ``cli`` call these and render; nothing
here prints or picks an exit code.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from pydantic import SecretStr

from reconciler.live import EMAIL_KIND, MESSAGING_KIND, LiveCampaign
from reconciler.loader import LoadResult, load_directory
from reconciler.plan import Plan
from reconciler.planner import compute_plan
from reconciler.providers import Providers, open_providers
from reconciler.settings import Settings
from reconciler.state import State, StateStore

__all__ = [
    "PlanContext",
    "build_plan",
    "needs_email",
    "needs_touchpoint",
    "read_live",
    "sandbox_settings",
]

log = logging.getLogger(__name__)


@dataclass
class PlanContext:
    """Everything a plan was computed from; apply and drift reuse it."""

    settings: Settings
    loaded: LoadResult
    store: StateStore
    state: State
    providers: Providers
    live: list[LiveCampaign]
    plan: Plan


def _uses_kind(kind: str, loaded: LoadResult | None, state: State | None) -> bool:
    in_config = loaded is not None and any(c.kind == kind for c in loaded.campaigns)
    in_state = state is not None and any(r.kind == kind for r in state.campaigns.values())
    return in_config or in_state


def needs_touchpoint(loaded: LoadResult | None, state: State | None) -> bool:
    """True when a MessagingCampaign is in the config or the state (semantics.md "Touchpoints")."""
    return _uses_kind(MESSAGING_KIND, loaded, state)


def needs_email(settings: Settings, loaded: LoadResult | None, state: State | None) -> bool:
    """True when an EmailCampaign is in the config or the state, or email credentials are set.

    With credentials, live email campaigns are read even when none is managed, so that
    unmanaged ones are reported; a team with only MessagingCampaigns needs no email account.
    """
    has_credentials = settings.api_user is not None or settings.api_key is not None
    return has_credentials or _uses_kind(EMAIL_KIND, loaded, state)


def read_live(providers: Providers) -> list[LiveCampaign]:
    """List every live campaign of both APIs (each a paged list), the two concurrently."""
    listers = [providers.email.list_campaigns] if providers.email is not None else []
    if providers.touchpoint is not None:
        listers.append(providers.touchpoint.list_campaigns)
    if len(listers) == 1:
        return list(listers[0]())
    with ThreadPoolExecutor(max_workers=len(listers)) as pool:
        results = [pool.submit(lister) for lister in listers]
        return [campaign for future in results for campaign in future.result()]


@contextlib.contextmanager
def build_plan(
    settings: Settings,
    *,
    config_dir: Path | None = None,
    prune: bool = False,
    targets: Sequence[str] = (),
    allow_delete_executed: bool = False,
    store: StateStore | None = None,
    excludes: Sequence[str] = (),
) -> Iterator[PlanContext]:
    """Load, read state and live, compute the plan, and yield it with the open providers.

    A context manager: the providers are closed when the block ends, however it ends (an
    exception, a return, Ctrl-C), so no command can leave a session open.
    """
    directory = config_dir or settings.config_dir
    loaded = load_directory(directory, allow_empty=True)
    store = store or StateStore(settings.state_path)
    state = store.read()
    providers = open_providers(
        settings,
        need_email=needs_email(settings, loaded, state),
        # With the key set, iMBrace is read even when nothing there is managed yet, so that
        # unmanaged campaigns are reported, as for email with its credentials.
        need_touchpoint=needs_touchpoint(loaded, state) or settings.imbrace_api_key is not None,
    )
    with providers:
        live = read_live(providers)
        plan = compute_plan(
            loaded.campaigns,
            state if settings.state_path is not None else None,
            live,
            prune=prune,
            targets=tuple(targets),
            excludes=tuple(excludes),
            allow_delete_executed=allow_delete_executed,
            config_dir=str(directory),
        )
        if loaded.warnings:
            # The config's warnings (a send_time in the past...) travel with the plan, so
            # that its JSON and the PR comment carry them too, not only a terminal's stderr.
            config_warnings = tuple(str(issue) for issue in loaded.warnings)
            plan = replace(plan, warnings=config_warnings + plan.warnings)
        yield PlanContext(settings, loaded, store, state, providers, live, plan)


@contextlib.contextmanager
def sandbox_settings(settings: Settings) -> Iterator[Settings]:
    """Start the embedded sandbox (seeded empty) and yield settings that point at it.

    For `--sandbox`: a new user sees a real plan with no account. State stays in memory, so a
    state file of a real account is never read against the emulator, nor written.
    """
    from reconciler.sandbox import Sandbox

    with Sandbox(port=0) as sandbox:
        yield replace(
            settings,
            api_url=sandbox.url,
            touchpoint_api_url=sandbox.url,
            state_path=None,
            api_user=sandbox.api_user,
            api_key=SecretStr(sandbox.api_key),
            imbrace_api_key=SecretStr(sandbox.imbrace_api_key),
        )
