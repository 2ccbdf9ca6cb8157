"""EmailProvider against the running sandbox: every operation, error code, page size, fault.

The central property is a round trip: any valid EmailCampaign created through the provider
reads back (get and list) equal to its canonical form minus the write-only fields, so an
unchanged campaign never shows a diff.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from reconciler.errors import (
    AuthError,
    ConflictError,
    ExecutedError,
    InvalidResponse,
    MissingCredentials,
    NotFound,
    OutcomeUnknown,
    RateLimited,
    ServerError,
    ValidationFailed,
)
from reconciler.model import EmailCampaign
from reconciler.providers import EmailProvider, open_providers
from reconciler.providers.engagelab.client import CAMPAIGNS_PATH
from reconciler.providers.vendors import EMAIL_WRITE_ONLY
from reconciler.settings import Settings

if TYPE_CHECKING:
    from reconciler.sandbox import Sandbox
    from reconciler.sandbox.wire import ApiRequest, Reply

RETRIES = 3


@pytest.fixture
def email(sandbox: Sandbox) -> Iterator[EmailProvider]:
    provider = EmailProvider(
        sandbox.url,
        sandbox.api_user,
        SecretStr(sandbox.api_key),
        timeout=5.0,
        retries=RETRIES,
        backoff=0.001,
    )
    yield provider
    provider.close()


def normal(name: str = "Q3 Re-engagement", **overrides: Any) -> dict[str, Any]:
    model = EmailCampaign.model_validate(
        {
            "name": name,
            "campaign_type": "normal",
            "to": {"type": "tag", "value": ["lapsed-90d"]},
            "sender_id": 53,
            "template_invoke_name": "reengage_v2",
            "subject": "We miss you",
            "reply_to": "support@example.com",
            "send_time": "2030-12-01 10:00:00",
            "time_zone": 8,
            "google_track": {"campaign_source": "newsletter", "campaign_medium": "email"},
            "warm_up": [
                {"domain": "gmail.com", "rate": 1, "upgrade_value": 0.95, "downgrade_value": 0.75}
            ],
            **overrides,
        }
    )
    return model.canonical()


def readable(canonical: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in canonical.items() if k not in EMAIL_WRITE_ONLY}


# --------------------------------------------------------------------------- operations


def test_create_returns_the_campaign_in_canonical_form(
    email: EmailProvider, sandbox: Sandbox
) -> None:
    desired = normal()
    live = email.create_campaign(desired)
    assert live.kind == "EmailCampaign" and live.name == desired["name"]
    assert live.status == 0 and live.is_pristine
    assert live.fields == readable(desired)
    stored = sandbox.email_campaign(int(live.remote_id))
    assert stored["subject"] == "We miss you"  # write-only: sent, never read back
    assert stored["campaign_type"] == 2  # the field table's "normal"


def test_get_and_list_read_back_what_create_returned(email: EmailProvider) -> None:
    live = email.create_campaign(normal())
    assert email.get_campaign(live.remote_id) == live
    assert email.list_campaigns() == [live]


def test_update_sends_only_the_given_fields(email: EmailProvider, sandbox: Sandbox) -> None:
    live = email.create_campaign(normal())
    email.update_campaign(live.remote_id, {"template_invoke_name": "v3", "time_zone": -5})
    after = email.get_campaign(live.remote_id)
    assert after.fields == {**live.fields, "template_invoke_name": "v3", "time_zone": -5}
    assert sandbox.email_campaign(int(live.remote_id))["subject"] == "We miss you"


def test_update_with_none_clears_the_field(email: EmailProvider) -> None:
    live = email.create_campaign(normal())
    email.update_campaign(live.remote_id, {"reply_to": None, "google_track": None, "warm_up": None})
    fields = email.get_campaign(live.remote_id).fields
    assert not {"reply_to", "google_track", "warm_up"} & fields.keys()
    assert fields["template_invoke_name"] == "reengage_v2"


def test_update_of_write_only_subject_reaches_the_store(
    email: EmailProvider, sandbox: Sandbox
) -> None:
    live = email.create_campaign(normal())
    email.update_campaign(live.remote_id, {"subject": "Come back"})
    assert sandbox.email_campaign(int(live.remote_id))["subject"] == "Come back"
    assert "subject" not in email.get_campaign(live.remote_id).fields


def test_attachments_are_sent_base64_and_never_read_back(
    email: EmailProvider, sandbox: Sandbox, tmp_path: Path
) -> None:
    data = bytes(range(256)) * 10
    path = tmp_path / "offer.pdf"
    path.write_bytes(data)
    attachment = {"filename": "offer.pdf", "sha256": hashlib.sha256(data).hexdigest()}
    desired = {**normal(), "attachments": [{**attachment, "path": str(path)}]}
    live = email.create_campaign(desired)
    stored = sandbox.email_campaign(int(live.remote_id))["attachments"]
    assert [a["filename"] for a in stored] == ["offer.pdf"]
    assert base64.b64decode(stored[0]["content"]) == data
    assert "attachments" not in live.fields


def test_delete_removes_the_campaign(email: EmailProvider) -> None:
    live = email.create_campaign(normal())
    email.delete_campaign(live.remote_id)
    assert email.list_campaigns() == []
    with pytest.raises(NotFound):
        email.get_campaign(live.remote_id)


def test_name_filter_is_the_vendors_substring_match(email: EmailProvider) -> None:
    for name in ("Spring sale", "Spring sale (EU)", "Autumn"):
        email.create_campaign(normal(name))
    assert [c.name for c in email.list_campaigns("Spring sale")] == [
        "Spring sale",
        "Spring sale (EU)",
    ]
    assert email.list_campaigns("nothing like it") == []


def test_status_progression_is_visible(email: EmailProvider, sandbox: Sandbox) -> None:
    live = email.create_campaign(normal())
    sandbox.set_email_status(int(live.remote_id), 2)
    assert email.get_campaign(live.remote_id).status == 2
    assert not email.get_campaign(live.remote_id).is_pristine


def test_response_quirks_decode_to_the_same_fields(email: EmailProvider, sandbox: Sandbox) -> None:
    """The vendor's example shapes: bare `to`, string sender_id, float warm-up values."""
    live = email.create_campaign(normal())
    sandbox.set_quirks("bare_to", "string_sender_id", "float_warm_up")
    assert email.get_campaign(live.remote_id) == live
    assert email.list_campaigns() == [live]


def test_invalid_json_from_the_api_is_invalid_response(
    email: EmailProvider, sandbox: Sandbox
) -> None:
    live = email.create_campaign(normal())
    sandbox.set_quirks("trailing_comma")
    with pytest.raises(InvalidResponse, match="not JSON") as caught:
        email.get_campaign(live.remote_id)
    assert caught.value.where == f"GET {CAMPAIGNS_PATH}/{live.remote_id}"


# --------------------------------------------------------------------------- error codes


def test_wrong_key_is_auth_error_30000(sandbox: Sandbox) -> None:
    provider = EmailProvider(sandbox.url, sandbox.api_user, SecretStr("wrong"), backoff=0.001)
    with pytest.raises(AuthError) as caught:
        provider.list_campaigns()
    assert (caught.value.status, caught.value.vendor_code) == (401, 30000)
    assert caught.value.hint == "check ENGAGELAB_API_USER and ENGAGELAB_API_KEY"
    provider.close()


def test_empty_name_is_validation_failed_32112_despite_http_401(email: EmailProvider) -> None:
    with pytest.raises(ValidationFailed) as caught:
        email.create_campaign({**normal(), "name": "   "})
    assert (caught.value.status, caught.value.vendor_code) == (401, 32112)


def test_update_of_an_executed_campaign_is_executed_error_32110(
    email: EmailProvider, sandbox: Sandbox
) -> None:
    live = email.create_campaign(normal())
    sandbox.set_email_status(int(live.remote_id), 1)
    with pytest.raises(ExecutedError) as caught:
        email.update_campaign(live.remote_id, {"template_invoke_name": "v3"})
    assert caught.value.vendor_code == 32110
    assert caught.value.code == "executed_cannot_update"
    # The hint is the vendor's own: which status still takes changes, from its declarations.
    assert caught.value.hint == "only a campaign in status 0 (waiting) can change"


def test_other_field_rules_are_validation_failed(email: EmailProvider) -> None:
    with pytest.raises(ValidationFailed) as caught:
        email.create_campaign({**normal(), "reply_to": "not an address"})
    assert caught.value.status == 400 and caught.value.vendor_code == 32115


@pytest.mark.parametrize("operation", ["get", "update", "delete"])
def test_unknown_id_is_not_found(email: EmailProvider, operation: str) -> None:
    with pytest.raises(NotFound) as caught:
        if operation == "get":
            email.get_campaign("424242")
        elif operation == "update":
            email.update_campaign("424242", {"reply_to": "a@b.co"})
        else:
            email.delete_campaign("424242")
    assert caught.value.status == 404


def test_method_not_allowed_is_conflict_error(email: EmailProvider) -> None:
    with pytest.raises(ConflictError) as caught:
        email._client.request("PATCH", f"{CAMPAIGNS_PATH}/1", body={})
    assert caught.value.status == 405


def test_open_providers_requires_the_email_credentials() -> None:
    with pytest.raises(MissingCredentials, match="ENGAGELAB_API_USER and ENGAGELAB_API_KEY"):
        open_providers(
            Settings(api_url="http://127.0.0.1:9", touchpoint_api_url="http://127.0.0.1:9"),
            need_touchpoint=False,
        )


def test_open_providers_opens_only_what_is_needed(sandbox: Sandbox) -> None:
    settings = Settings(
        api_url=sandbox.url,
        touchpoint_api_url=sandbox.url,
        api_user=sandbox.api_user,
        api_key=SecretStr(sandbox.api_key),
    )
    with open_providers(settings, need_touchpoint=False) as providers:
        assert providers.touchpoint is None and providers.email is not None
        assert providers.email.list_campaigns() == []
    with pytest.raises(MissingCredentials, match="IMBRACE_API_KEY"):
        open_providers(settings, need_touchpoint=True)
    token_only = Settings(
        api_url=sandbox.url, touchpoint_api_url=sandbox.url, imbrace_api_key=SecretStr("t")
    )
    providers = open_providers(token_only, need_email=False, need_touchpoint=True)
    assert providers.email is None and providers.touchpoint is not None
    providers.close()


# --------------------------------------------------------------------------- paging


@pytest.mark.parametrize(("count", "requests"), [(0, 1), (1, 1), (100, 1), (101, 2), (250, 3)])
def test_paging(email: EmailProvider, sandbox: Sandbox, count: int, requests: int) -> None:
    ids = sandbox.seed_email_campaigns(count, name_prefix="p-")
    campaigns = email.list_campaigns()
    assert [c.remote_id for c in campaigns] == [str(i) for i in ids]
    assert len({c.name for c in campaigns}) == count
    assert sandbox.request_count("GET", CAMPAIGNS_PATH) == requests


def test_pages_after_the_first_are_fetched_concurrently(
    email: EmailProvider, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.seed_email_campaigns(1000)
    # Every page after the first is held until all 9 are at the sandbox together: fetched
    # one at a time, the barrier times out and breaks, and the list fails. No clock decides.
    barrier = threading.Barrier(9, timeout=20)
    real_serve = sandbox.serve

    def serve_in_step(request: ApiRequest) -> Reply:
        if request.query.get("offset", ["0"]) != ["0"]:
            barrier.wait()
        return real_serve(request)

    monkeypatch.setattr(sandbox, "serve", serve_in_step)
    assert len(email.list_campaigns()) == 1000
    assert sandbox.request_count("GET") == 10
    assert sandbox.request_count("GET", status=200) == 10


# --------------------------------------------------------------------------- faults


def test_429_then_success_on_get(email: EmailProvider, sandbox: Sandbox) -> None:
    sandbox.seed_email_campaigns(3)
    sandbox.faults.add("GET", CAMPAIGNS_PATH, "429", count=2, retry_after=0)
    assert len(email.list_campaigns()) == 3
    assert sandbox.request_count("GET", status=429) == 2
    assert sandbox.request_count("GET", status=200) == 1


def test_429_then_success_on_post_creates_once(email: EmailProvider, sandbox: Sandbox) -> None:
    sandbox.faults.add("POST", CAMPAIGNS_PATH, "429", count=1, retry_after=0)
    email.create_campaign(normal())
    assert sandbox.request_count("POST") == 2
    assert len(sandbox.email_campaigns()) == 1


def test_retry_after_is_honoured(email: EmailProvider, sandbox: Sandbox) -> None:
    sandbox.faults.add("GET", CAMPAIGNS_PATH, "429", count=1, retry_after=1)
    email.list_campaigns()
    refused, retried = sandbox.log.entries
    assert (refused.status, retried.status) == (429, 200)
    # The sandbox's own readings: the retry reached it at least Retry-After after the 429.
    assert retried.received - refused.received >= 1.0


def test_429_that_outlives_the_retries_is_rate_limited(
    email: EmailProvider, sandbox: Sandbox
) -> None:
    sandbox.faults.add("POST", CAMPAIGNS_PATH, "429", count=None, retry_after=0)
    with pytest.raises(RateLimited) as caught:
        email.create_campaign(normal())
    assert caught.value.retry_after == 0
    assert sandbox.request_count("POST") == RETRIES + 1
    assert sandbox.email_campaigns() == []


@pytest.mark.parametrize("fault", ["500", "503", "drop_before"])
def test_5xx_or_drop_then_success_for_get_put_delete(
    email: EmailProvider, sandbox: Sandbox, fault: str
) -> None:
    live = email.create_campaign(normal())
    path = f"{CAMPAIGNS_PATH}/{live.remote_id}"
    sandbox.faults.add("GET", CAMPAIGNS_PATH, fault, count=1)
    sandbox.faults.add("PUT", path, fault, count=1)
    sandbox.faults.add("DELETE", path, fault, count=1)
    assert email.list_campaigns() == [live]
    email.update_campaign(live.remote_id, {"template_invoke_name": "v3"})
    assert email.get_campaign(live.remote_id).fields["template_invoke_name"] == "v3"
    email.delete_campaign(live.remote_id)
    assert sandbox.email_campaigns() == []
    if fault != "drop_before":  # a dropped request is not in the sandbox's log
        for method in ("GET", "PUT", "DELETE"):
            assert sandbox.request_count(method, status=int(fault)) == 1
    assert sandbox.faults.pending() == []


def test_put_dropped_after_commit_is_retried_safely(email: EmailProvider, sandbox: Sandbox) -> None:
    live = email.create_campaign(normal())
    sandbox.faults.add("PUT", CAMPAIGNS_PATH, "drop_after_commit", count=1)
    email.update_campaign(live.remote_id, {"template_invoke_name": "v3"})
    assert email.get_campaign(live.remote_id).fields["template_invoke_name"] == "v3"
    assert sandbox.request_count("PUT", status=200) == 1


def test_delete_dropped_after_commit_is_retried_and_reports_not_found(
    email: EmailProvider, sandbox: Sandbox
) -> None:
    """The retry finds the campaign gone; the applier reads NotFound on delete as done."""
    live = email.create_campaign(normal())
    sandbox.faults.add("DELETE", CAMPAIGNS_PATH, "drop_after_commit", count=1)
    with pytest.raises(NotFound):
        email.delete_campaign(live.remote_id)
    assert sandbox.email_campaigns() == []
    assert sandbox.request_count("DELETE", status=404) == 1


def test_500_that_outlives_the_retries_is_server_error(
    email: EmailProvider, sandbox: Sandbox
) -> None:
    sandbox.faults.add("GET", CAMPAIGNS_PATH, "500", count=None)
    with pytest.raises(ServerError):
        email.list_campaigns()
    assert sandbox.request_count("GET", status=500) == RETRIES + 1


@pytest.mark.parametrize("fault", ["500", "503"])
def test_5xx_on_post_is_outcome_unknown_never_retried(
    email: EmailProvider, sandbox: Sandbox, fault: str
) -> None:
    sandbox.faults.add("POST", CAMPAIGNS_PATH, fault, count=1)
    with pytest.raises(OutcomeUnknown) as caught:
        email.create_campaign(normal())
    assert caught.value.status == int(fault)
    assert sandbox.request_count("POST") == 1  # no blind retry


def test_post_dropped_after_commit_is_outcome_unknown_and_the_campaign_exists(
    email: EmailProvider, sandbox: Sandbox
) -> None:
    sandbox.faults.add("POST", CAMPAIGNS_PATH, "drop_after_commit", count=1)
    with pytest.raises(OutcomeUnknown, match="connection dropped"):
        email.create_campaign(normal("Dropped"))
    assert len(sandbox.email_campaigns()) == 1  # committed, and only once
    assert sandbox.request_count("POST") == 1
    # What the applier does next: look it up by name, and adopt the exact match.
    assert [c.name for c in email.list_campaigns("Dropped")] == ["Dropped"]


def test_post_dropped_before_is_outcome_unknown_too(email: EmailProvider, sandbox: Sandbox) -> None:
    sandbox.faults.add("POST", CAMPAIGNS_PATH, "drop_before", count=1)
    with pytest.raises(OutcomeUnknown):
        email.create_campaign(normal())
    assert sandbox.email_campaigns() == []


# --------------------------------------------------------------------------- round trip

_NAMES = itertools.count()
_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
    min_size=1,
    max_size=20,
).filter(lambda s: s.strip() != "")
_sender = st.integers(min_value=1, max_value=10**6).map(str)
_future = st.datetimes(min_value=datetime(2027, 1, 1), max_value=datetime(2099, 12, 31)).map(
    lambda d: d.strftime("%Y-%m-%d %H:%M:%S")
)
_rate = st.floats(min_value=0.01, max_value=1.0, allow_nan=False).map(lambda v: round(v, 4))
_to = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["list", "tag", "segment"]),
        "value": st.lists(_text, min_size=1, max_size=3),
    }
)
_google_track = st.dictionaries(
    st.sampled_from(
        ["campaign_name", "campaign_source", "campaign_medium", "campaign_term", "campaign_content"]
    ),
    st.text(min_size=1, max_size=64).filter(lambda s: s.strip() != ""),
    max_size=5,
)
_warm_up = st.lists(
    st.fixed_dictionaries(
        {
            "domain": _text,
            "rate": st.integers(min_value=1, max_value=20),
            "upgrade_value": _rate,
            "downgrade_value": _rate,
        }
    ),
    max_size=3,
)
_optional = {
    "reply_to": st.emails(),
    "google_track": _google_track,
    "subject": _text,
}


@st.composite
def email_campaigns(draw: st.DrawFn) -> dict[str, Any]:
    """A valid EmailCampaign's YAML form: normal or A/B, each A/B dimension, future times.

    `time_zone` is always set: the API reports a zone for every campaign (default +8), and
    the planner leaves a field alone that the YAML does not set.
    """
    doc: dict[str, Any] = {
        "name": f"rt-{next(_NAMES)}-{draw(_text)}"[:64],
        "to": draw(_to),
        "time_zone": draw(st.integers(min_value=-12, max_value=14)),
    }
    for key, strategy in _optional.items():
        if draw(st.booleans()):
            doc[key] = draw(strategy)
    if draw(st.booleans()):
        doc |= {
            "campaign_type": "normal",
            "sender_id": draw(_sender),
            "template_invoke_name": draw(_text),
            "send_time": draw(_future),
            "warm_up": draw(_warm_up),
        }
        return doc
    dimension = draw(st.sampled_from(["template_invoke_names", "sender_ids", "send_times"]))
    item = {"template_invoke_names": _text, "sender_ids": _sender, "send_times": _future}
    doc["campaign_type"] = "ab"
    doc["ab_test"] = {
        "percent": draw(st.integers(min_value=1, max_value=100)),
        "win_condition": draw(
            st.sampled_from(["hour", "day"]).flatmap(
                lambda unit: st.fixed_dictionaries(
                    {
                        "time_unit": st.just(unit),
                        "after_time": st.integers(0, 23 if unit == "hour" else 10),
                        "compare": st.sampled_from(["open_percent", "delivered_percent"]),
                    }
                )
            )
        ),
        dimension: draw(st.lists(item[dimension], min_size=1, max_size=3)),
    }
    if dimension != "sender_ids":
        doc["sender_id"] = draw(_sender)
    if dimension != "template_invoke_names":
        doc["template_invoke_name"] = draw(_text)
    else:
        doc["subject"] = draw(_text)
    if dimension != "send_times":
        doc["send_time"] = draw(_future)
    return doc


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(doc=email_campaigns())
def test_any_valid_campaign_reads_back_as_its_canonical_form(
    email: EmailProvider, doc: dict[str, Any]
) -> None:
    desired = EmailCampaign.model_validate(doc).canonical()
    expected = readable(desired)
    created = email.create_campaign(desired)
    try:
        assert created.fields == expected
        assert email.get_campaign(created.remote_id).fields == expected
        listed = [c for c in email.list_campaigns() if c.remote_id == created.remote_id]
        assert [c.fields for c in listed] == [expected]
    finally:
        email.delete_campaign(created.remote_id)
