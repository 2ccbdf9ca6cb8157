"""Pydantic validation errors -> (model path, one-line message) with did-you-mean hints."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, get_args

from pydantic import BaseModel

from reconciler.loader.yaml_values import Path_
from reconciler.model import _FieldError
from reconciler.modelbase import FieldErrors


def _model_at(model: type[BaseModel], path: Path_) -> type[BaseModel] | None:
    """The model class that validates the mapping at path (for did-you-mean hints)."""
    current: type[BaseModel] = model
    for part in path:
        if isinstance(part, int):
            continue
        info = current.model_fields.get(part)
        if info is None:
            return None
        found = _find_model(info.annotation)
        if found is None:
            return None
        current = found
    return current


def _find_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _find_model(arg)
        if found is not None:
            return found
    return None


def did_you_mean(word: str, choices: list[str]) -> str:
    """` (did you mean 'x'?)` for the closest choice, or "" when none is close."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def explain_all(error: Mapping[str, Any], model: type[BaseModel]) -> list[tuple[Path_, str, bool]]:
    """Every (model path, message, point-at-the-key) in one pydantic error: a model's rules
    broken together arrive as one error holding them all (modelbase.FieldErrors)."""
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, FieldErrors):
        loc: Path_ = tuple(error.get("loc", ()))
        return [((*loc, *each.path), str(each), False) for each in cause.errors]
    return [explain(error, model)]


def explain(error: Mapping[str, Any], model: type[BaseModel]) -> tuple[Path_, str, bool]:
    """Turn one pydantic error into (model path, message, point-at-the-key)."""
    loc: Path_ = tuple(error.get("loc", ()))
    kind = error.get("type", "")
    message = str(error.get("msg", "invalid value"))
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, _FieldError):
        return (*loc, *cause.path), str(cause), False
    if kind == "extra_forbidden" and loc:
        owner = _model_at(model, loc[:-1])
        choices = sorted(owner.model_fields) if owner else []
        name = str(loc[-1])
        return loc, f"unknown field {name!r}{did_you_mean(name, choices)}", True
    if kind == "missing":
        return loc, "required field is missing", False
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    elif message.startswith("Assertion failed, "):
        message = message[len("Assertion failed, ") :]
    elif "input" in error and not isinstance(error["input"], dict | list):
        message = f"{message}, got {short(error['input'])}"
    return loc, message, False


def short(value: Any) -> str:
    """A value as an error message shows it: kind of container, or a repr cut at 40 chars."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
