"""build_plan lists live campaigns while the config loads, and changes nothing else (issue 17)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from builders import email_yaml
from pydantic import SecretStr

from reconciler.errors import ConfigError, ConnectionFailed
from reconciler.providers import EmailProvider
from reconciler.sandbox import Sandbox
from reconciler.settings import Settings
from reconciler.state import State, StateStore
from reconciler.workflow import build_plan

EMAIL = "/v1/marketing"


def _settings(sandbox: Sandbox, root: Path, *, api_key: str | None = None) -> Settings:
    return Settings(
        api_url=sandbox.url,
        touchpoint_api_url=sandbox.url,
        state_path=root / "state.json",
        config_dir=root / "campaigns.d",
        api_user=sandbox.api_user,
        api_key=SecretStr(api_key or sandbox.api_key),
    )


def _wait_for_requests(sandbox: Sandbox, count: int, limit_s: float = 10.0) -> bool:
    """True once the sandbox's log holds `count` email requests (bounded wait)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if sandbox.request_count(path_prefix=EMAIL) >= count:
            return True
        time.sleep(0.01)
    return False


class _ReadWaitsForTheList(StateStore):
    """A state read that notes whether the live list had been requested before it ended."""

    def __init__(self, path: Path, sandbox: Sandbox) -> None:
        super().__init__(path)
        self.sandbox = sandbox
        self.list_seen_during_read = False

    def read(self) -> State:
        self.list_seen_during_read = _wait_for_requests(self.sandbox, 1, limit_s=5.0)
        return super().read()


def test_the_live_list_is_requested_while_the_config_and_state_are_still_being_read(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = _settings(sandbox, tmp_path)
    assert settings.config_dir is not None
    settings.config_dir.mkdir()
    (settings.config_dir / "a.yaml").write_text(email_yaml("Alpha"), encoding="utf-8")
    store = _ReadWaitsForTheList(tmp_path / "state.json", sandbox)
    with build_plan(settings, store=store) as context:
        assert store.list_seen_during_read
        assert [a.name for a in context.plan.actions] == ["Alpha"]
    assert sandbox.request_count(path_prefix=EMAIL) == 1  # listed once, not twice


def test_a_config_error_wins_over_an_api_error_met_by_the_early_list(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = _settings(sandbox, tmp_path, api_key="wrong-key")
    assert settings.config_dir is not None
    settings.config_dir.mkdir()
    (settings.config_dir / "a.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError), build_plan(settings):
        pass  # pragma: no cover
    _wait_for_early_thread()


def test_an_abandoned_early_list_closes_its_providers_and_sends_nothing_more(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.seed_email_campaigns(500, name_prefix="early-")  # 5 pages
    sandbox.set_latency(300)  # page one is in flight when the config fails
    settings = _settings(sandbox, tmp_path)
    assert settings.config_dir is not None
    settings.config_dir.mkdir()
    (settings.config_dir / "a.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError), build_plan(settings):
        pass  # pragma: no cover
    _wait_for_early_thread()
    # Page one told the total; the four other pages were never requested.
    assert sandbox.request_count(path_prefix=EMAIL) <= 1


def test_an_abandoned_client_refuses_every_later_request_without_sending_it(
    sandbox: Sandbox,
) -> None:
    provider = EmailProvider(sandbox.url, sandbox.api_user, SecretStr(sandbox.api_key))
    try:
        provider.abandon()
        with pytest.raises(ConnectionFailed, match="not sent"):
            provider.list_campaigns()
    finally:
        provider.close()
    assert sandbox.request_count() == 0


def _wait_for_early_thread() -> None:
    for thread in threading.enumerate():
        if thread.name == "early-live":
            thread.join(timeout=30)
            assert not thread.is_alive()
