"""Where each vendor's API is: defaults, shortcut names, and the two never mixed (issue 11)."""

from __future__ import annotations

import pytest

from reconciler.errors import InsecureUrlError, MissingCredentials
from reconciler.settings import Settings


def settings(**options: str | None) -> Settings:
    values: dict[str, object] = {
        "api_url": None,
        "touchpoint_api_url": None,
        "state": None,
        "no_state": False,
        "config_dir": None,
    }
    values.update(options)
    return Settings.from_options(environ={}, **values)  # type: ignore[arg-type]


def test_each_vendor_has_its_own_default_host() -> None:
    chosen = settings()
    assert chosen.api_url == "https://email.api.engagelab.cc"
    assert chosen.touchpoint_api_url == "https://app-gatewayv2.imbrace.co"


def test_the_touchpoint_url_never_defaults_to_the_email_url() -> None:
    chosen = settings(api_url="http://127.0.0.1:8400")
    assert chosen.touchpoint_api_url == "https://app-gatewayv2.imbrace.co"


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("stable", "https://app-gatewayv2.imbrace.co"),
        ("prodv2", "https://app-gatewayv2.imbrace.co"),
        ("sandbox", "https://app-gateway.sandbox.imbrace.co"),
        ("develop", "https://app-gateway.dev.imbrace.co"),
        ("Develop", "https://app-gateway.dev.imbrace.co"),
    ],
)
def test_the_sdk_environment_names_are_gateway_shortcuts(name: str, url: str) -> None:
    assert settings(touchpoint_api_url=name).touchpoint_api_url == url


@pytest.mark.parametrize(
    ("name", "url"),
    [("sg", "https://email.api.engagelab.cc"), ("tr", "https://emailapi-tr.engagelab.com")],
)
def test_engagelab_regions_are_api_url_shortcuts(name: str, url: str) -> None:
    assert settings(api_url=name).api_url == url


def test_an_unknown_name_is_refused_listing_the_names() -> None:
    with pytest.raises(InsecureUrlError) as caught:
        settings(touchpoint_api_url="staging")
    assert "develop, prodv2, sandbox, stable" in str(caught.value)
    assert caught.value.where == "--touchpoint-api-url"


def test_an_empty_variable_means_the_default() -> None:
    # A CI recipe sets CAMPAIGNCTL_TOUCHPOINT_API_URL from a repository variable left unset.
    assert settings(touchpoint_api_url="").touchpoint_api_url == "https://app-gatewayv2.imbrace.co"


def test_the_missing_key_names_imbrace_api_key() -> None:
    with pytest.raises(MissingCredentials) as caught:
        settings().touchpoint_credentials()
    assert "IMBRACE_API_KEY" in str(caught.value)
    assert "TOUCHPOINT_TOKEN" not in str(caught.value) + str(caught.value.hint)


def test_the_key_is_read_from_imbrace_api_key_only() -> None:
    base = {"api_url": None, "touchpoint_api_url": None, "state": None, "no_state": False}
    old = Settings.from_options(
        config_dir=None, environ={"CAMPAIGNCTL_TOUCHPOINT_TOKEN": "k"}, **base
    )
    assert old.imbrace_api_key is None
    new = Settings.from_options(config_dir=None, environ={"IMBRACE_API_KEY": "k"}, **base)
    assert new.imbrace_api_key is not None and new.imbrace_api_key.get_secret_value() == "k"
