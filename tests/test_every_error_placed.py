"""One run reports every error, each at its `file:line` (issue 15 item 10)."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import email_yaml, journey_yaml
from conftest import Workspace, run_cli

from reconciler.sandbox import Sandbox


def errors_of(capsys: pytest.CaptureFixture[str], ws: Workspace, *args: str) -> list[str]:
    code, _, err = run_cli(capsys, "validate", str(ws.config), *args)
    assert code == 1
    return err.splitlines()


def test_missing_to_sender_and_template_are_all_reported_in_one_run(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    path = workspace.write("c.yaml", "name: Spring\ncampaign_type: normal\nsubject: Hi\n")
    assert errors_of(capsys, workspace) == [
        f"error: {path}:1:1: sender_id: sender_id is required for a normal campaign",
        f"error: {path}:1:1: template_invoke_name: template_invoke_name is required for a "
        "normal campaign",
        f"error: {path}:1:1: to: required field is missing",
        "error: 3 errors in the configuration",
    ]


def test_every_broken_rule_of_a_valid_document_is_reported(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        "name: Spring\ncampaign_type: ab\nto: {type: tag, value: [a]}\n"
        "warm_up: [{domain: gmail.com, rate: 1, upgrade_value: 0.9, downgrade_value: 0.7}]\n"
        "ab_test: {percent: 10, send_times: ['2030-01-01 10:00:00'],\n"
        "  win_condition: {time_unit: hour, after_time: 4, compare: open_percent}}\n"
        "send_time: '2030-01-01 09:00:00'\n"
        "lifecycle: {ignore_changes: [sendr_id, campaign_type]}\n"
    )
    path = workspace.write("c.yaml", text)
    lines = errors_of(capsys, workspace)
    messages = [line.split(": ", 3)[-1] for line in lines if line.startswith(f"error: {path}:")]
    assert sorted(messages) == sorted(
        [
            "warm_up is only allowed when campaign_type is normal",
            "send_time is ignored by the API when ab_test tests send_times; remove it",
            "sender_id is required",
            "template_invoke_name is required",
            "unknown field 'sendr_id' (did you mean 'sender_id'?)",
            "campaign_type cannot be ignored: it decides which fields are valid",
        ]
    )


def test_a_field_with_its_own_error_is_not_also_called_missing(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.write("c.yaml", email_yaml("Spring", sender_id="0", to=None))
    lines = errors_of(capsys, workspace)
    assert [line for line in lines if "sender_id" in line] == [
        next(line for line in lines if "sender_id" in line)
    ]
    assert not any("sender_id is required" in line for line in lines)
    assert any("to: required field is missing" in line for line in lines)


def test_a_tab_in_indentation_is_named_as_a_tab(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    path = workspace.write("c.yaml", "name: X\nto:\n\ttype: tag\n")
    assert errors_of(capsys, workspace)[0] == (
        f"error: {path}:3:1: a tab in indentation at line 3: YAML indents with spaces"
    )


def test_a_missing_directory_is_named_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope"
    code, _, err = run_cli(capsys, "validate", str(missing))
    assert code == 1
    assert err.splitlines()[0] == f"error: {missing}: config directory does not exist"
    code, out, _ = run_cli(capsys, "validate", str(missing), "--format", "github")
    assert out == f"::error file={missing}::config directory does not exist\n"


def test_empty_reply_to_passes_validate_and_the_schema_alike(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    import jsonschema

    from reconciler.model import json_schema

    document = {
        "name": "Spring",
        "campaign_type": "normal",
        "to": {"type": "tag", "value": ["a"]},
        "sender_id": "53",
        "template_invoke_name": "t",
        "reply_to": "",
    }
    workspace.write("c.yaml", email_yaml("Spring", extra='reply_to: ""\n'))
    code, _, err = run_cli(capsys, "validate", str(workspace.config))
    assert (code, err) == (0, "")
    jsonschema.validate(document, json_schema("EmailCampaign"))


@pytest.fixture
def applied_journey(
    sandbox_env: Sandbox, workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> Path:
    text = journey_yaml("Journey", [("Hi", "Hello")]) + "lifecycle: {prevent_destroy: true}\n"
    path = workspace.write("journey.yaml", text)
    code, _, err = run_cli(
        capsys, "--state", str(workspace.state), "apply", str(workspace.config), "--auto-approve"
    )
    assert code == 0, err
    return path


def test_prevent_destroy_refusal_of_a_replace_names_file_and_line(
    applied_journey: Path, workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    text = applied_journey.read_text().replace("channel_type: whatsapp", "channel_type: sms")
    applied_journey.write_text(text)
    code, _, err = run_cli(capsys, "--state", str(workspace.state), "plan", str(workspace.config))
    assert code == 1
    assert f"MessagingCampaign/Journey ({applied_journey}:1:1)" in err


def test_prevent_destroy_refusal_of_a_gone_yaml_says_where_the_flag_is(
    applied_journey: Path, workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    applied_journey.unlink()
    workspace.write("other.yaml", email_yaml("Other"))
    code, _, err = run_cli(capsys, "--state", str(workspace.state), "plan", str(workspace.config))
    assert code == 1
    assert "MessagingCampaign/Journey (its YAML is gone; the state records prevent_destroy)" in err


@pytest.mark.parametrize("kind", ["EmailCampaign", "MessagingCampaign"])
@pytest.mark.parametrize("unset", [None, "", []], ids=["null", "empty-string", "empty-list"])
def test_every_unset_spelling_validate_accepts_the_schema_accepts(
    kind: str, unset: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    import jsonschema

    from reconciler.model import KINDS, json_schema
    from reconciler.providers.vendors import vendor_for

    base: dict[str, object] = (
        {"kind": kind, "name": "X", "channel_type": "sms", "touchpoints": []}
        if kind == "MessagingCampaign"
        else {
            "name": "X",
            "campaign_type": "normal",
            "to": {"type": "tag", "value": ["a"]},
            "sender_id": "53",
            "template_invoke_name": "t",
        }
    )
    schema = json_schema(kind)
    for field in sorted(vendor_for(kind).optional | {"lifecycle"}):
        if field in base:
            continue
        document = {**base, field: unset}
        KINDS[kind].model_validate(document)  # the loader accepts it ...
        jsonschema.validate(document, schema)  # ... and so does the schema
    (tmp_path / "c.yaml").write_text(
        json.dumps({**base, "reply_to": ""} if kind != "MessagingCampaign" else base)
    )
    code, _, err = run_cli(capsys, "validate", str(tmp_path))
    assert (code, err) == (0, "")


def test_every_unknown_lifecycle_field_of_a_journey_is_reported(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    journey = journey_yaml("J", []) + "lifecycle: {ignore_changes: [nme, chanel_type]}\n"
    path = workspace.write("j.yaml", journey)
    lines = errors_of(capsys, workspace)
    assert [line for line in lines if line.startswith(f"error: {path}:")] == [
        f"error: {path}:5:30: lifecycle.ignore_changes[0]: unknown field 'nme'",
        f"error: {path}:5:35: lifecycle.ignore_changes[1]: unknown field 'chanel_type' (did you "
        "mean 'channel_type'?)",
    ]


def test_another_character_that_cannot_start_a_token_is_not_called_a_tab(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    path = workspace.write("c.yaml", "name: X\nsubject: @home\n")
    (first, *_) = errors_of(capsys, workspace)
    assert first.startswith(f"error: {path}:2:10: invalid YAML: found character")
    assert "tab" not in first


def test_a_tab_inside_a_value_is_not_indentation() -> None:
    from reconciler.loader.positions import _tab_indented

    assert _tab_indented("a:\n\tb: 1\n", 1)
    assert not _tab_indented("a: x\ty\n", 0)
    assert not _tab_indented("a: 1\n", 5)
