"""A SIGTERM that a library caught and reported as an error of its own (pydantic builds a
model's schema through Python callbacks and turns any error there into a SchemaError) still
ends the run as interrupted (130), never as an internal error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic_core import SchemaError

from reconciler.cli import run
from reconciler.state.lock import Terminated


def _sigterm_reported_as_a_schema_error(*args: Any, **kwargs: Any) -> Any:
    try:
        raise Terminated  # what the lock's SIGTERM handler raises, met inside pydantic
    except Terminated as exc:
        raise SchemaError(f"Error building `model` serializer: Terminated: {exc}") from None


def _a_bug(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("boom")


def test_a_sigterm_turned_into_another_error_still_ends_as_interrupted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "c").mkdir()
    monkeypatch.setattr(
        "reconciler.cli.cmd_validate.load_directory", _sigterm_reported_as_a_schema_error
    )
    assert run(["validate", str(tmp_path / "c")]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "internal" not in err
    # The next run starts afresh: a real bug is still reported as one.
    monkeypatch.setattr("reconciler.cli.cmd_validate.load_directory", _a_bug)
    assert run(["validate", str(tmp_path / "c")]) == 1
    assert "unexpected RuntimeError: boom (internal)" in capsys.readouterr().err
