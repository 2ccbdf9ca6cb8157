"""TouchpointProvider against the running sandbox: SPEC "Touchpoint API: the wire format"."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from pydantic import SecretStr

from reconciler.errors import (
    AuthError,
    ConflictError,
    ExecutedError,
    NotFound,
    OutcomeUnknown,
    RateLimited,
    ValidationFailed,
)
from reconciler.live import LiveTouchpoint
from reconciler.providers import TouchpointProvider
from reconciler.providers.touchpoint import (
    CAMPAIGNS_PATH,
    TOUCHPOINTS_PATH,
    VALIDATE_PATH,
    encode_touchpoint,
)

if TYPE_CHECKING:
    from reconciler.sandbox import Sandbox

RETRIES = 3


@pytest.fixture
def tp(sandbox: Sandbox) -> Iterator[TouchpointProvider]:
    provider = TouchpointProvider(
        sandbox.url,
        SecretStr(sandbox.touchpoint_token),
        timeout=5.0,
        retries=RETRIES,
        backoff=0.001,
    )
    yield provider
    provider.close()


def step(name: str, message: object = "hello") -> dict[str, object]:
    return {"name": name, "type": "message", "message": message}


# --------------------------------------------------------------------------- operations


def test_create_campaign_is_a_draft_with_canonical_fields(tp: TouchpointProvider) -> None:
    live = tp.create_campaign("Welcome journey", "whatsapp")
    assert live.kind == "MessagingCampaign"
    assert live.remote_id.startswith("cmp_")
    assert live.status == "draft" and live.is_pristine
    assert live.fields == {
        "kind": "MessagingCampaign",
        "name": "Welcome journey",
        "channel_type": "whatsapp",
    }
    assert live.touchpoints == ()


def test_touchpoints_are_listed_per_campaign_in_creation_order(tp: TouchpointProvider) -> None:
    first = tp.create_campaign("A", "whatsapp")
    second = tp.create_campaign("B", "email")
    # Interleaved creation: grouping must not depend on the global order.
    made = {
        "a1": tp.create_touchpoint(first.remote_id, step("a1")),
        "b1": tp.create_touchpoint(second.remote_id, step("b1")),
        "a2": tp.create_touchpoint(first.remote_id, {"name": "a2", "type": "action"}),
        "a3": tp.create_touchpoint(first.remote_id, step("a3", {"text": "hi"})),
    }
    listed = {c.name: c for c in tp.list_campaigns()}
    assert [t.name for t in listed["A"].touchpoints] == ["a1", "a2", "a3"]
    assert [t.name for t in listed["B"].touchpoints] == ["b1"]
    assert listed["A"].touchpoints[1] == made["a2"]
    assert made["a2"].type == "action"
    assert tp.get_campaign(first.remote_id).touchpoints == listed["A"].touchpoints


def test_list_reads_two_paged_lists_never_a_get_per_campaign(
    tp: TouchpointProvider, sandbox: Sandbox
) -> None:
    sandbox.seed_touchpoint_campaigns(130, touchpoints=2)
    campaigns = tp.list_campaigns()
    assert len(campaigns) == 130
    assert all([t.name for t in c.touchpoints] == ["step 1", "step 2"] for c in campaigns)
    assert [c.name for c in campaigns] == sorted(c.name for c in campaigns)  # oldest first
    assert sandbox.request_count("GET", CAMPAIGNS_PATH) == 2  # 130 campaigns: 2 pages
    assert sandbox.request_count("GET", TOUCHPOINTS_PATH) == 3  # 260 touchpoints: 3 pages


@pytest.mark.parametrize(("count", "pages"), [(0, 1), (1, 1), (100, 1), (101, 2), (250, 3)])
def test_campaign_paging(tp: TouchpointProvider, sandbox: Sandbox, count: int, pages: int) -> None:
    ids = sandbox.seed_touchpoint_campaigns(count)
    assert [c.remote_id for c in tp.list_campaigns()] == ids
    assert sandbox.request_count("GET", CAMPAIGNS_PATH) == pages


def test_name_filter_keeps_substring_matches(tp: TouchpointProvider, sandbox: Sandbox) -> None:
    for name in ("Welcome", "Welcome back", "Goodbye"):
        tp.create_campaign(name, "whatsapp")
    assert [c.name for c in tp.list_campaigns("Welcome")] == ["Welcome", "Welcome back"]
    assert tp.list_campaigns("nope") == []


def test_message_is_write_only_and_a_string_is_sent_as_text(
    tp: TouchpointProvider, sandbox: Sandbox
) -> None:
    campaign = tp.create_campaign("J", "whatsapp")
    made = tp.create_touchpoint(campaign.remote_id, step("hi", "Hi there"))
    assert isinstance(made, LiveTouchpoint) and made.remote_id.startswith("tp_")
    stored = sandbox.touchpoints(campaign.remote_id)
    assert stored[0]["message"] == {"text": "Hi there"}
    assert not hasattr(made, "message")


def test_update_touchpoint_patches_only_the_given_fields(
    tp: TouchpointProvider, sandbox: Sandbox
) -> None:
    campaign = tp.create_campaign("J", "whatsapp")
    made = tp.create_touchpoint(campaign.remote_id, step("hi", "old"))
    updated = tp.update_touchpoint(made.remote_id, {"message": "new"})
    assert updated.name == "hi" and updated.remote_id == made.remote_id
    assert sandbox.touchpoints(campaign.remote_id)[0]["message"] == {"text": "new"}
    renamed = tp.update_touchpoint(made.remote_id, {"name": "hello"})
    assert renamed.name == "hello"
    assert sandbox.request_count("PATCH") == 2


def test_delete_touchpoint_and_campaign(tp: TouchpointProvider, sandbox: Sandbox) -> None:
    campaign = tp.create_campaign("J", "whatsapp")
    keep = tp.create_touchpoint(campaign.remote_id, step("keep"))
    drop = tp.create_touchpoint(campaign.remote_id, step("drop"))
    tp.delete_touchpoint(drop.remote_id)
    assert tp.list_campaigns()[0].touchpoints == (keep,)
    tp.delete_campaign(campaign.remote_id)
    assert tp.list_campaigns() == []
    assert sandbox.touchpoints() == []  # its touchpoints went with it


def test_validate_touchpoint(tp: TouchpointProvider) -> None:
    campaign = tp.create_campaign("J", "whatsapp")
    good = tp.create_touchpoint(campaign.remote_id, step("good"))
    assert tp.validate_touchpoint(good.remote_id) == (True, [])
    bad = tp.create_touchpoint(campaign.remote_id, {"name": "bad", "type": "message"})
    valid, errors = tp.validate_touchpoint(bad.remote_id)
    assert valid is False
    assert len(errors) == 1 and "non-empty message" in errors[0]


def test_encode_touchpoint_rejects_unknown_fields() -> None:
    with pytest.raises(ValueError, match="no field campaign_id"):
        encode_touchpoint({"campaign_id": "x"})
    assert encode_touchpoint({"message": "hi"}) == {"message": {"text": "hi"}}


# --------------------------------------------------------------------------- errors


def test_wrong_token_is_auth_error(sandbox: Sandbox) -> None:
    provider = TouchpointProvider(sandbox.url, SecretStr("wrong"), backoff=0.001)
    with pytest.raises(AuthError) as caught:
        provider.list_campaigns()
    assert caught.value.status == 401 and caught.value.vendor_code == "unauthorized"
    assert caught.value.hint == "check CAMPAIGNCTL_TOUCHPOINT_TOKEN"
    provider.close()


def test_empty_name_is_validation_failed(tp: TouchpointProvider) -> None:
    with pytest.raises(ValidationFailed) as caught:
        tp.create_campaign("", "whatsapp")
    assert caught.value.vendor_code == "invalid_request"


def test_unknown_ids_are_not_found(tp: TouchpointProvider) -> None:
    for call in (
        lambda: tp.get_campaign("cmp_missing"),
        lambda: tp.delete_campaign("cmp_missing"),
        lambda: tp.delete_touchpoint("tp_missing"),
        lambda: tp.update_touchpoint("tp_missing", {"name": "x"}),
        lambda: tp.validate_touchpoint("tp_missing"),
        lambda: tp.create_touchpoint("cmp_missing", step("x")),
    ):
        with pytest.raises(NotFound):
            call()


def test_touchpoint_changes_under_a_completed_campaign_are_executed_error(
    tp: TouchpointProvider, sandbox: Sandbox
) -> None:
    campaign = tp.create_campaign("J", "whatsapp")
    made = tp.create_touchpoint(campaign.remote_id, step("a"))
    sandbox.set_touchpoint_campaign_status(campaign.remote_id, "completed")
    assert tp.list_campaigns()[0].status == "completed"
    for call in (
        lambda: tp.create_touchpoint(campaign.remote_id, step("b")),
        lambda: tp.update_touchpoint(made.remote_id, {"name": "b"}),
        lambda: tp.delete_touchpoint(made.remote_id),
    ):
        with pytest.raises(ExecutedError) as caught:
            call()
        assert caught.value.status == 409 and caught.value.vendor_code == "campaign_completed"


def test_campaign_update_is_not_allowed(tp: TouchpointProvider) -> None:
    campaign = tp.create_campaign("J", "whatsapp")
    with pytest.raises(ConflictError) as caught:
        tp._client.request("PUT", f"{CAMPAIGNS_PATH}/{campaign.remote_id}", body={"name": "K"})
    assert caught.value.status == 405


# --------------------------------------------------------------------------- faults


def test_429_then_success_on_get_and_post(tp: TouchpointProvider, sandbox: Sandbox) -> None:
    sandbox.faults.add("POST", CAMPAIGNS_PATH, "429", count=1, retry_after=0)
    sandbox.faults.add("GET", CAMPAIGNS_PATH, "429", count=1, retry_after=0)
    tp.create_campaign("J", "whatsapp")
    assert [c.name for c in tp.list_campaigns()] == ["J"]
    assert sandbox.request_count("POST", CAMPAIGNS_PATH) == 2
    assert len(sandbox.touchpoint_campaigns()) == 1


def test_429_forever_is_rate_limited(tp: TouchpointProvider, sandbox: Sandbox) -> None:
    sandbox.faults.add("GET", CAMPAIGNS_PATH, "429", count=None, retry_after=0)
    with pytest.raises(RateLimited):
        tp.list_campaigns()
    assert sandbox.request_count("GET", CAMPAIGNS_PATH) == RETRIES + 1


@pytest.mark.parametrize("fault", ["500", "503", "drop_before"])
def test_5xx_then_success_for_get_patch_delete(
    tp: TouchpointProvider, sandbox: Sandbox, fault: str
) -> None:
    campaign = tp.create_campaign("J", "whatsapp")
    made = tp.create_touchpoint(campaign.remote_id, step("a"))
    for method in ("GET", "PATCH", "DELETE"):
        sandbox.faults.add(method, "/v1/", fault, count=1)
    assert tp.list_campaigns()[0].touchpoints == (made,)
    assert tp.update_touchpoint(made.remote_id, {"name": "b"}).name == "b"
    tp.delete_campaign(campaign.remote_id)
    assert sandbox.touchpoint_campaigns() == []
    assert sandbox.faults.pending() == []


def test_validation_post_is_retried_on_5xx(tp: TouchpointProvider, sandbox: Sandbox) -> None:
    campaign = tp.create_campaign("J", "whatsapp")
    made = tp.create_touchpoint(campaign.remote_id, step("a"))
    sandbox.faults.add("POST", VALIDATE_PATH, "500", count=2)
    assert tp.validate_touchpoint(made.remote_id) == (True, [])
    assert sandbox.request_count("POST", VALIDATE_PATH) == 3


@pytest.mark.parametrize("fault", ["500", "drop_after_commit"])
def test_create_with_unknown_outcome_is_never_retried(
    tp: TouchpointProvider, sandbox: Sandbox, fault: str
) -> None:
    campaign = tp.create_campaign("J", "whatsapp")
    sandbox.faults.add("POST", TOUCHPOINTS_PATH, fault, count=1)
    with pytest.raises(OutcomeUnknown):
        tp.create_touchpoint(campaign.remote_id, step("a"))
    assert len(sandbox.touchpoints(campaign.remote_id)) == (1 if fault != "500" else 0)
    sandbox.faults.add("POST", CAMPAIGNS_PATH, fault, count=1)
    with pytest.raises(OutcomeUnknown):
        tp.create_campaign("K", "whatsapp")
    names = [c["name"] for c in sandbox.touchpoint_campaigns()]
    assert names == (["J", "K"] if fault != "500" else ["J"])
