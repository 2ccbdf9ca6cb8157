"""`campaignctl validate` output formats and directory choice, and `campaignctl schema`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.cli import cli, run
from reconciler.model import KINDS

REPO = Path(__file__).resolve().parent.parent

GOOD = """\
name: Good
campaign_type: normal
to: {type: tag, value: [x]}
sender_id: 53
template_invoke_name: tpl
send_time: "2030-01-01 10:00:00"
"""

BAD = GOOD.replace("campaign_type: normal", "campaign_type: weekly") + "subjet: hi, there\n"


def invoke(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def bad_dir(tmp_path: Path) -> Path:
    (tmp_path / "bad.yaml").write_text(BAD)
    return tmp_path


def test_text_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    code, out, err = invoke(capsys, "validate", str(tmp_path))
    assert code == 0
    assert out == f"{tmp_path}: 1 campaign valid (1 EmailCampaign)\n"
    assert err == ""


def test_text_invalid(bad_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = invoke(capsys, "validate", str(bad_dir))
    assert code == 1
    assert out == ""
    assert err.splitlines()[:3] == [
        f"error: {bad_dir}/bad.yaml:2:16: campaign_type: campaign_type must be normal or ab "
        "(or the integers 2 or 1)",
        f"error: {bad_dir}/bad.yaml:7:1: subjet: unknown field 'subjet' (did you mean 'subject'?)",
        "error: 2 errors in the configuration",
    ]


def test_json_format(bad_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = invoke(capsys, "validate", str(bad_dir), "--format", "json")
    assert code == 1
    issues = json.loads(out)
    assert [(i["line"], i["column"], i["field"], i["severity"]) for i in issues] == [
        (2, 16, "campaign_type", "error"),
        (7, 1, "subjet", "error"),
    ]
    assert issues[1]["path"] == ["subjet"]
    assert issues[1]["file"] == f"{bad_dir}/bad.yaml"


def test_json_format_valid_is_an_empty_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    code, out, _ = invoke(capsys, "validate", str(tmp_path), "--format", "json")
    assert (code, json.loads(out)) == (0, [])


def test_github_format(bad_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = invoke(capsys, "validate", "--format", "github", str(bad_dir))
    assert code == 1
    file = str(bad_dir / "bad.yaml").replace(":", "%3A").replace(",", "%2C")
    assert out.splitlines() == [
        f"::error file={file},line=2,col=16::campaign_type: campaign_type must be normal or ab "
        "(or the integers 2 or 1)",
        f"::error file={file},line=7,col=1::subjet: unknown field 'subjet' (did you mean "
        "'subject'?)",
    ]


def test_github_format_warning_and_escaping(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "old,one.yaml").write_text(GOOD.replace("2030", "2020"))
    code, out, _ = invoke(capsys, "validate", str(tmp_path), "--format", "github")
    assert code == 0
    assert out.startswith(f"::warning file={tmp_path}/old%2Cone.yaml,line=6,col=12::send_time: ")


def test_directory_argument_overrides_config_dir(
    tmp_path: Path, bad_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good"
    good.mkdir()
    (good / "good.yaml").write_text(GOOD)
    assert invoke(capsys, "--config-dir", str(bad_dir), "validate", str(good))[0] == 0
    assert invoke(capsys, "--config-dir", str(bad_dir), "validate")[0] == 1
    assert invoke(capsys, "--config-dir", str(good), "validate")[0] == 0


def test_default_directory_is_campaigns_d(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)
    code, out, _ = invoke(capsys, "validate")
    assert code == 0
    assert out.startswith("campaigns.d: ")


def test_unknown_format_is_a_usage_error_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = invoke(capsys, "validate", str(tmp_path), "--format", "xml")
    assert code == 1
    assert "'xml' is not one of" in err


def test_click_runner_exit_codes(bad_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", str(bad_dir), "--format", "json"])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_console_script_never_prints_a_traceback(bad_dir: Path) -> None:
    (bad_dir / "bomb.yaml").write_text("a: &a [*a, *a]\nb: !!python/name:os.system x\n")
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", str(bad_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert f"{bad_dir}/bomb.yaml:1:" in done.stderr


# --------------------------------------------------------------------------- schema


def schema(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, out, _ = invoke(capsys, "schema", *args)
    assert code == 0
    loaded: dict[str, Any] = json.loads(out)
    return loaded


def test_schema_is_a_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    document = schema(capsys)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    refs = {option["$ref"] for option in document["oneOf"]}
    assert refs == {"#/$defs/EmailCampaign", "#/$defs/MessagingCampaign"}
    for name in ("EmailCampaign", "MessagingCampaign", "Touchpoint", "AbTest", "WarmUp"):
        assert document["$defs"][name]["additionalProperties"] is False
    _check_refs_resolve(document, document)


def _check_refs_resolve(node: Any, root: dict[str, Any]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if ref is not None:
            assert ref.startswith("#/$defs/")
            assert ref.removeprefix("#/$defs/") in root["$defs"], ref
        for value in node.values():
            _check_refs_resolve(value, root)
    elif isinstance(node, list):
        for value in node:
            _check_refs_resolve(value, root)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_schema_of_one_kind(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    document = schema(capsys, "--kind", kind)
    assert document["$schema"].startswith("https://json-schema.org/")
    assert document["properties"]["kind"]["const"] == kind
    assert set(document["properties"]) == set(KINDS[kind].model_fields)
    _check_refs_resolve(document, document)


def test_schema_accepts_every_example_key(capsys: pytest.CaptureFixture[str]) -> None:
    """Every top-level key of the example campaigns is a property of the schema."""
    from reconciler.loader import load_directory

    document = schema(capsys)
    for campaign in load_directory(REPO / "campaigns.d").campaigns:
        props = document["$defs"][campaign.kind]["properties"]
        data = campaign.model.model_dump(exclude_none=True)
        assert set(data) <= set(props), campaign.name


def test_schema_accepts_wire_variants(capsys: pytest.CaptureFixture[str]) -> None:
    props = schema(capsys, "--kind", "EmailCampaign")["properties"]
    # Everything the loader accepts, so that editors never flag valid YAML.
    assert props["campaign_type"]["enum"] == ["normal", "ab", 2, 1, "2", "1"]
    assert {"type": "array"}.items() <= props["to"]["anyOf"][1].items()
    recipient_value = schema(capsys)["$defs"]["Recipient"]["properties"]["value"]
    assert {"type": "string"}.items() <= recipient_value["anyOf"][1].items()
    assert {"type": "integer"} in props["sender_id"]["anyOf"]
    assert {"type": "string"} in props["time_zone"]["anyOf"]


def test_schema_unknown_kind_is_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = invoke(capsys, "schema", "--kind", "SmsCampaign")
    assert code == 1
    assert "SmsCampaign" in err


def test_warnings_are_reported_with_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.yaml").write_text(GOOD.replace("2030", "2020"))
    (tmp_path / "b.yaml").write_text(BAD)
    code, out, _ = invoke(capsys, "validate", str(tmp_path), "--format", "json")
    assert code == 1
    issues = json.loads(out)
    assert [(i["file"], i["line"], i["severity"]) for i in issues] == [
        (f"{tmp_path}/a.yaml", 6, "warning"),
        (f"{tmp_path}/b.yaml", 2, "error"),
        (f"{tmp_path}/b.yaml", 7, "error"),
    ]
    code, _, err = invoke(capsys, "validate", str(tmp_path))
    assert code == 1
    assert err.startswith(f"warning: {tmp_path}/a.yaml:6:12: send_time: ")
    assert "error: 2 errors in the configuration" in err
