"""reconciler.workflow: the sequence every command shares, from settings to a Plan.

settings -> load config -> read state -> open providers -> read live (one paged list per
API, concurrently) -> compute the plan. Commands in ``cli`` call these and render; nothing
here prints or picks an exit code. The live lists that the settings alone say a run needs
start while the config loads (`_EarlyLive`): the network wait overlaps the loading.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from pydantic import SecretStr

from reconciler import sharing
from reconciler.live import EMAIL_KIND, MESSAGING_KIND, LiveCampaign
from reconciler.loader import LoadResult, load_directory
from reconciler.loader.prefetch import parse_ahead
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


class _EarlyLive:
    """The live lists the settings alone make certain, read on a thread while the config
    loads; the run takes them only when it turns out to need exactly those.

    Credentials decide (`needs_email`, and the iMBrace key for touchpoints), so no request
    is sent that the run would not have sent anyway. Every error (credentials, URL, API)
    is held and raised by `take`, where the run met it before, so a config or state error
    still comes first and alone. A result the run does not take is `abandon`ed: the pages
    not yet requested are never sent, and the thread closes the providers when done.
    """

    def __init__(self, settings: Settings, *, config_dir: Path) -> None:
        # A config that is not even a directory fails at once: nothing is worth sending.
        certain = config_dir.is_dir()
        self.need_email = certain and needs_email(settings, None, None)  # credentials alone
        self.need_touchpoint = certain and settings.imbrace_api_key is not None
        self._settings = settings
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._abandoned = False
        self._providers: Providers | None = None
        self._live: list[LiveCampaign] = []
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="early-live", daemon=True)

    def start(self) -> _EarlyLive:
        if self.need_email or self.need_touchpoint:
            self._thread.start()
        else:
            self._done.set()  # nothing is certain: the run lists what it finds it needs
        return self

    def _run(self) -> None:
        try:
            providers = open_providers(
                self._settings,
                need_email=self.need_email,
                need_touchpoint=self.need_touchpoint,
            )
        except BaseException as exc:  # held for `take`, raised where the run meets it
            self._error = exc
            self._done.set()
            return
        with self._lock:
            self._providers = providers
            if self._abandoned:
                providers.abandon()
        try:
            self._live = read_live(providers)
            # Taken here, while the config loads, not by the plan after the load, whose work
            # overlaps nothing: every action on a live campaign carries one.
            self._take_fingerprints()
        except BaseException as exc:
            self._error = exc
        finally:
            with self._lock:
                self._done.set()
                if self._abandoned:
                    providers.close()

    def _take_fingerprints(self) -> None:
        """Each live campaign's fingerprint, kept in it; on any error, the plan takes the
        rest itself and meets the error where it did before."""
        try:
            for campaign in self._live:
                if self._abandoned:
                    return
                _ = campaign.fingerprint
        except Exception:  # raised again by the plan's own call, in its place
            return

    def take(
        self, need_email: bool, need_touchpoint: bool
    ) -> tuple[Providers, list[LiveCampaign]] | None:
        """The open providers and the live lists, when the run needs exactly what was
        read (None otherwise: abandoned, and the run opens and lists what it needs)."""
        if (need_email, need_touchpoint) != (self.need_email, self.need_touchpoint) or not (
            need_email or need_touchpoint
        ):
            self.abandon()
            return None
        self._done.wait()
        if self._error is not None:
            if self._providers is not None:
                self._providers.close()
            raise self._error
        assert self._providers is not None
        return self._providers, self._live

    def abandon(self) -> None:
        """Give the result up: no new request is sent; the providers are closed once idle."""
        with self._lock:
            self._abandoned = True
            if self._providers is not None:
                self._providers.abandon()
                if self._done.is_set():
                    self._providers.close()


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
    # Equal values of the state, the live list and the config are held once (memory).
    with sharing.scope():
        directory = config_dir or settings.config_dir
        # Forked before the threads below start: a large config is parsed on the second core.
        end_parse_ahead = parse_ahead(Path(directory))
        # A remote state is read by a forked child (also before any thread starts), so its
        # library's import and its round trips overlap the YAML load on the other core.
        store = (store or StateStore(settings.state_path)).prefetch()
        early = _EarlyLive(settings, config_dir=directory).start()
        try:
            try:
                loaded = load_directory(directory, allow_empty=True)
            finally:
                end_parse_ahead()
            state = store.read()
            need_email = needs_email(settings, loaded, state)
            # With the key set, iMBrace is read even when nothing there is managed yet, so that
            # unmanaged campaigns are reported, as for email with its credentials.
            need_touchpoint = (
                needs_touchpoint(loaded, state) or settings.imbrace_api_key is not None
            )
            taken = early.take(need_email, need_touchpoint)
        except BaseException:
            early.abandon()
            store.drop_prefetch()  # a state never read: its reading child is ended, not left
            raise
        if taken is None:
            providers = open_providers(
                settings, need_email=need_email, need_touchpoint=need_touchpoint
            )
        else:
            providers, live = taken
        with providers:
            if taken is None:
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
