"""The vendor's own SDK (PyPI `imbrace`) as the reference client of the sandbox's iMBrace API.

SPEC "Touchpoint campaigns": the sandbox serves the channel-service routes so faithfully that
`ImbraceClient(gateway=URL, api_key=KEY)` completes every `client.campaign.*` call and every
call of `TouchpointsResource` (bound to `client.http` and the channel-service URL, as the
client binds `campaign`). One real `campaignctl sandbox` process serves the whole module;
the CLI round trips run `campaignctl` as a subprocess against it, and the SDK reads back.

The SDK retries 429 and 5xx with real sleeps of 1, 2 and 4 seconds: nothing here provokes
either, so a test that slows down has found a sandbox answer the SDK takes for an outage.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import imbrace
import pytest
from imbrace.exceptions import ApiError, AuthError
from imbrace.resources.touchpoints import TouchpointsResource
from pydantic import BaseModel, ConfigDict
from ruamel.yaml import YAML

KEY = "sdk-test-key-7c41e0"
EMAIL_USER, EMAIL_KEY = "sdk-test-user", "sdk-test-email-key"
HEX_ID = re.compile(r"[0-9a-f]{24}")
CAMPAIGN_KEYS = {"_id", "name", "status", "channel_type", "created_at", "updated_at"}
TOUCHPOINT_KEYS = {"_id", "name", "type", "campaign_id", "created_at"}
PAGINATION_KEYS = {"page", "limit", "total", "total_pages", "has_next", "has_prev"}
UNKNOWN_ID = "0" * 24
_OWN_ENV_PREFIXES = ("CAMPAIGNCTL_", "ENGAGELAB_", "IMBRACE_")

pytestmark = pytest.mark.slow


# --------------------------------------------------------------------------- fixtures


def _base_env() -> dict[str, str]:
    """The environment without the developer's campaignctl / vendor settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(_OWN_ENV_PREFIXES)}


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of one real `campaignctl sandbox --port 0` process for the module."""
    env = {
        **_base_env(),
        "IMBRACE_API_KEY": KEY,
        "ENGAGELAB_API_USER": EMAIL_USER,
        "ENGAGELAB_API_KEY": EMAIL_KEY,
    }
    stderr_path = tmp_path_factory.mktemp("sandbox") / "stderr.txt"
    with stderr_path.open("w", encoding="utf-8") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "sandbox", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
        )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        first = lines.get(timeout=30)
        assert first is not None, stderr_path.read_text(encoding="utf-8")
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", first), first
        yield first
    finally:
        proc.terminate()
        code = proc.wait(timeout=15)
        if proc.stdout is not None:
            proc.stdout.close()
    errors = stderr_path.read_text(encoding="utf-8")
    assert code == 0, errors
    assert "Traceback" not in errors and "internal error" not in errors, errors


@pytest.fixture(scope="module")
def client(url: str) -> Iterator[imbrace.ImbraceClient]:
    sdk = imbrace.ImbraceClient(gateway=url, api_key=KEY)
    yield sdk
    sdk.close()


@pytest.fixture(scope="module")
def touchpoints(client: imbrace.ImbraceClient, url: str) -> TouchpointsResource:
    """imbrace 1.3.1 ships this class but never attaches it: bind it as `campaign` is bound."""
    return TouchpointsResource(client.http, f"{url}/channel-service")


def unique(label: str) -> str:
    return f"{label} {uuid.uuid4().hex[:8]}"


@pytest.fixture
def made(client: imbrace.ImbraceClient) -> Iterator[list[str]]:
    """Campaign ids a test made; deleted afterwards, so later tests see no leftovers."""
    ids: list[str] = []
    yield ids
    for campaign_id in ids:
        try:
            client.campaign.delete(campaign_id)
        except ApiError as exc:  # already deleted by the test itself
            assert exc.status_code == 404


def new_campaign(
    client: imbrace.ImbraceClient, made: list[str], name: str, channel_type: str = "whatsapp"
) -> dict[str, Any]:
    campaign: dict[str, Any] = client.campaign.create({"name": name, "channel_type": channel_type})
    made.append(campaign["_id"])
    return campaign


def step(campaign_id: str, name: str, **overrides: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": "message",
        "campaign_id": campaign_id,
        "message": {"text": f"text of {name}"},
        **overrides,
    }


# --------------------------------------------------------------------------- client.campaign


def test_campaign_create_get_and_list_answer_the_documented_shapes(
    client: imbrace.ImbraceClient, made: list[str]
) -> None:
    name = unique("SDK campaign")
    campaign = new_campaign(client, made, name, "sms")
    assert set(campaign) == CAMPAIGN_KEYS
    assert HEX_ID.fullmatch(campaign["_id"])
    assert campaign["name"] == name and campaign["channel_type"] == "sms"
    assert campaign["status"] == "draft"
    assert campaign["created_at"].endswith("Z") and campaign["updated_at"].endswith("Z")
    assert client.campaign.get(campaign["_id"]) == campaign

    listed = client.campaign.list({"page": 1, "limit": 100})
    assert set(listed) == {"data", "pagination", "total"}
    assert set(listed["pagination"]) == PAGINATION_KEYS
    assert listed["pagination"]["page"] == 1 and listed["pagination"]["limit"] == 100
    assert listed["pagination"]["total"] == listed["total"] >= 1
    assert listed["pagination"]["has_prev"] is False
    assert all(set(c) == CAMPAIGN_KEYS for c in listed["data"])
    assert campaign in listed["data"]

    default = client.campaign.list()
    assert default["pagination"]["limit"] == 20 and default["pagination"]["page"] == 1


def test_the_sdks_own_pager_reads_every_campaign_once(
    client: imbrace.ImbraceClient, made: list[str], url: str
) -> None:
    class Campaign(BaseModel):
        model_config = ConfigDict(extra="allow")
        name: str

    prefix = unique("SDK paged")
    names = [f"{prefix} {i}" for i in range(7)]
    for name in names:
        new_campaign(client, made, name)
    paged = client.http.iterate_paged(
        "GET", f"{url}/channel-service/v1/campaign", Campaign, params={"limit": 2}
    )
    seen = [c.name for c in paged]
    assert len(seen) == len(set(seen))  # each campaign once: page boundaries are exact
    assert [n for n in seen if n.startswith(prefix)] == names  # oldest first


def test_campaign_touchpoint_calls_round_trip(
    client: imbrace.ImbraceClient, made: list[str]
) -> None:
    campaign = new_campaign(client, made, unique("SDK journey"))
    first = client.campaign.create_touchpoint(step(campaign["_id"], "Welcome"))
    second = client.campaign.create_touchpoint(
        step(campaign["_id"], "Tag", type="action", message=None)
    )
    for touchpoint in (first, second):
        assert set(touchpoint) == TOUCHPOINT_KEYS  # `message` is write-only
        assert HEX_ID.fullmatch(touchpoint["_id"])
        assert touchpoint["campaign_id"] == campaign["_id"]
    assert second["type"] == "action"
    assert client.campaign.get_touchpoint(first["_id"]) == first

    listed = client.campaign.list_touchpoints({"campaign_id": campaign["_id"]})
    assert listed == {"data": [first, second], "total": 2}

    updated = client.campaign.update_touchpoint(first["_id"], {"name": "Welcome back"})
    assert updated == {**first, "name": "Welcome back"}  # fields left out are kept
    retyped = client.campaign.update_touchpoint(first["_id"], {"message": "Hi again"})
    assert retyped == updated

    assert client.campaign.validate_touchpoint({"touchpoint_id": first["_id"]}) == {
        "valid": True,
        "errors": [],
    }
    emptied = client.campaign.update_touchpoint(first["_id"], {"message": ""})
    assert set(emptied) == TOUCHPOINT_KEYS
    invalid = client.campaign.validate_touchpoint({"touchpoint_id": first["_id"]})
    assert invalid["valid"] is False
    assert len(invalid["errors"]) == 1 and "non-empty message" in invalid["errors"][0]

    assert client.campaign.delete_touchpoint(second["_id"]) is None
    remaining = client.campaign.list_touchpoints({"campaign_id": campaign["_id"]})
    assert [tp["_id"] for tp in remaining["data"]] == [first["_id"]]
    with pytest.raises(ApiError) as gone:
        client.campaign.get_touchpoint(second["_id"])
    assert gone.value.status_code == 404


def test_campaign_delete_takes_its_touchpoints_and_answers_deleted(
    client: imbrace.ImbraceClient, made: list[str], url: str, touchpoints: TouchpointsResource
) -> None:
    campaign = new_campaign(client, made, unique("SDK delete"))
    touchpoint = client.campaign.create_touchpoint(step(campaign["_id"], "a"))
    assert client.campaign.delete(campaign["_id"]) is None
    for call in (
        lambda: client.campaign.get(campaign["_id"]),
        lambda: client.campaign.get_touchpoint(touchpoint["_id"]),
    ):
        with pytest.raises(ApiError) as gone:
            call()
        assert gone.value.status_code == 404
    assert touchpoints.list({"campaign_id": campaign["_id"]}) == {"data": [], "total": 0}

    # `campaign.delete` drops the answer; read it through the SDK's own transport.
    other = new_campaign(client, made, unique("SDK delete body"))
    answer = client.http.request("DELETE", f"{url}/channel-service/v1/campaign/{other['_id']}")
    assert answer.status_code == 200
    assert answer.json() == {"_id": other["_id"], "deleted": True}


# --------------------------------------------------------------------------- TouchpointsResource


def test_touchpoints_resource_calls_round_trip(
    client: imbrace.ImbraceClient, made: list[str], touchpoints: TouchpointsResource
) -> None:
    campaign = new_campaign(client, made, unique("SDK touchpoints"))
    created = [touchpoints.create(step(campaign["_id"], f"step {i}")) for i in range(3)]
    assert all(set(tp) == TOUCHPOINT_KEYS for tp in created)
    assert all(HEX_ID.fullmatch(tp["_id"]) for tp in created)
    assert touchpoints.get(created[1]["_id"]) == created[1]

    listed = touchpoints.list({"campaign_id": campaign["_id"]})
    assert listed == {"data": created, "total": 3}  # creation order
    page = touchpoints.list({"campaign_id": campaign["_id"], "limit": 2, "offset": 1})
    assert page == {"data": created[1:], "total": 3}
    everything = touchpoints.list({"limit": 100})
    assert set(everything) == {"data", "total"}
    assert all(set(tp) == TOUCHPOINT_KEYS for tp in everything["data"])

    updated = touchpoints.update(created[0]["_id"], {"name": "renamed", "type": "action"})
    assert updated == {**created[0], "name": "renamed", "type": "action"}
    assert touchpoints.validate({"touchpoint_id": created[0]["_id"]}) == {
        "valid": True,
        "errors": [],
    }
    bad = touchpoints.update(created[1]["_id"], {"type": "carrier-pigeon"})
    assert bad["type"] == "carrier-pigeon"
    result = touchpoints.validate({"touchpoint_id": created[1]["_id"]})
    assert result["valid"] is False and all(isinstance(e, str) for e in result["errors"])

    assert touchpoints.delete(created[2]["_id"]) == {"_id": created[2]["_id"], "deleted": True}
    remaining = touchpoints.list({"campaign_id": campaign["_id"]})
    assert [tp["_id"] for tp in remaining["data"]] == [tp["_id"] for tp in created[:2]]


# --------------------------------------------------------------------------- errors


def test_a_wrong_key_raises_the_sdks_auth_error(url: str) -> None:
    with imbrace.ImbraceClient(gateway=url, api_key="not-the-key") as wrong:
        bound = TouchpointsResource(wrong.http, f"{url}/channel-service")
        for call in (
            wrong.campaign.list,
            lambda: wrong.campaign.create({"name": "x", "channel_type": "sms"}),
            lambda: bound.list(),
            lambda: bound.validate({"touchpoint_id": UNKNOWN_ID}),
        ):
            with pytest.raises(AuthError) as caught:
                call()
            assert caught.value.status_code == 401
            assert caught.value.body is not None and "unauthorized" in caught.value.body
            assert "not-the-key" not in caught.value.body


def test_unknown_ids_raise_api_error_404(
    client: imbrace.ImbraceClient, touchpoints: TouchpointsResource
) -> None:
    for call in (
        lambda: client.campaign.get(UNKNOWN_ID),
        lambda: client.campaign.delete(UNKNOWN_ID),
        lambda: client.campaign.get_touchpoint(UNKNOWN_ID),
        lambda: client.campaign.update_touchpoint(UNKNOWN_ID, {"name": "x"}),
        lambda: client.campaign.delete_touchpoint(UNKNOWN_ID),
        lambda: client.campaign.validate_touchpoint({"touchpoint_id": UNKNOWN_ID}),
        lambda: client.campaign.create_touchpoint(step(UNKNOWN_ID, "x")),
        lambda: touchpoints.get(UNKNOWN_ID),
        lambda: touchpoints.update(UNKNOWN_ID, {"name": "x"}),
        lambda: touchpoints.delete(UNKNOWN_ID),
        lambda: touchpoints.validate({"touchpoint_id": UNKNOWN_ID}),
    ):
        with pytest.raises(ApiError) as caught:
            call()
        assert caught.value.status_code == 404
        assert '"not_found"' in str(caught.value)


def test_bad_input_raises_api_error_400(
    client: imbrace.ImbraceClient, made: list[str], touchpoints: TouchpointsResource
) -> None:
    campaign = new_campaign(client, made, unique("SDK bad input"))
    touchpoint = touchpoints.create(step(campaign["_id"], "a"))
    for call in (
        lambda: client.campaign.create({"name": "", "channel_type": "sms"}),
        lambda: client.campaign.create({"name": "no channel"}),
        lambda: touchpoints.update(touchpoint["_id"], {"campaign_id": UNKNOWN_ID}),
        lambda: touchpoints.create({"name": "x", "campaign_id": campaign["_id"]}),
        lambda: client.campaign.list({"limit": 101}),
    ):
        with pytest.raises(ApiError) as caught:
            call()
        assert caught.value.status_code == 400
        assert '"invalid_request"' in str(caught.value)


# --------------------------------------------------------------------------- CLI round trips


def campaignctl(url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `campaignctl --state state/x.json ARGS` as a user would, against the sandbox."""
    env = {
        **_base_env(),
        "CAMPAIGNCTL_API_URL": url,
        "CAMPAIGNCTL_TOUCHPOINT_API_URL": url,
        "ENGAGELAB_API_USER": EMAIL_USER,
        "ENGAGELAB_API_KEY": EMAIL_KEY,
        "IMBRACE_API_KEY": KEY,
    }
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "--state", "state/x.json", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def find_campaign(client: imbrace.ImbraceClient, name: str) -> dict[str, Any]:
    matches = [c for c in client.campaign.list({"limit": 100})["data"] if c["name"] == name]
    assert len(matches) == 1, matches
    return matches[0]


def test_a_campaign_applied_from_yaml_reads_back_through_the_sdk(
    client: imbrace.ImbraceClient, made: list[str], url: str, tmp_path: Path
) -> None:
    name = unique("Applied journey")
    config = tmp_path / "campaigns.d"
    config.mkdir()
    (config / "journey.yaml").write_text(
        "kind: MessagingCampaign\n"
        f"name: {name}\n"
        "channel_type: line\n"
        "touchpoints:\n"
        "  - name: Welcome Message\n"
        "    type: message\n"
        '    message: {text: "Hi! Welcome to our service."}\n'
        "  - name: Day 3 nudge\n"
        "    type: message\n"
        "    message: Still there? Reply HELP for a quick tour.\n"
        "  - name: Tag engaged users\n"
        "    type: action\n"
        "  - name: A last word\n"
        "    type: message\n"
        "    message: Bye.\n",
        encoding="utf-8",
    )
    applied = campaignctl(url, tmp_path, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Traceback" not in applied.stderr

    campaign = find_campaign(client, name)
    made.append(campaign["_id"])
    assert campaign["channel_type"] == "line" and campaign["status"] == "draft"
    listed = client.campaign.list_touchpoints({"campaign_id": campaign["_id"]})
    assert [(tp["name"], tp["type"]) for tp in listed["data"]] == [
        ("Welcome Message", "message"),
        ("Day 3 nudge", "message"),
        ("Tag engaged users", "action"),
        ("A last word", "message"),
    ]
    # `message` is write-only; the vendor's own check says each one arrived.
    for tp in listed["data"]:
        verdict = client.campaign.validate_touchpoint({"touchpoint_id": tp["_id"]})
        assert verdict == {"valid": True, "errors": []}, tp["name"]

    again = campaign_plan(url, tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr


def campaign_plan(url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return campaignctl(url, cwd, "plan", "--detailed-exitcode")


def test_a_campaign_made_through_the_sdk_imports_to_an_empty_plan(
    client: imbrace.ImbraceClient, made: list[str], url: str, tmp_path: Path
) -> None:
    name = unique("SDK made journey")
    campaign = new_campaign(client, made, name, "whatsapp")
    client.campaign.create_touchpoint(step(campaign["_id"], "Hello", message="Hello there"))
    client.campaign.create_touchpoint(step(campaign["_id"], "Follow up", type="action"))
    (tmp_path / "campaigns.d").mkdir()

    imported = campaignctl(url, tmp_path, "import", "--name", name)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    files = sorted((tmp_path / "campaigns.d").rglob("*.yaml"))
    assert len(files) == 1, files
    document = YAML(typ="safe").load(files[0].read_text(encoding="utf-8"))
    assert document["kind"] == "MessagingCampaign"
    assert document["name"] == name and document["channel_type"] == "whatsapp"
    assert [(tp["name"], tp["type"]) for tp in document["touchpoints"]] == [
        ("Hello", "message"),
        ("Follow up", "action"),
    ]
    # The API never returns a message: import marks the place instead of inventing one.
    assert document["touchpoints"][0]["message"].startswith("PLACEHOLDER")
    assert "message" not in document["touchpoints"][1]
    state = (tmp_path / "state" / "x.json").read_text(encoding="utf-8")
    assert campaign["_id"] in state and KEY not in state

    planned = campaign_plan(url, tmp_path)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "Traceback" not in planned.stderr
    # Nothing was written to the vendor by import or plan.
    listed = client.campaign.list_touchpoints({"campaign_id": campaign["_id"]})
    assert [tp["name"] for tp in listed["data"]] == ["Hello", "Follow up"]
    assert client.campaign.get(campaign["_id"]) == campaign
