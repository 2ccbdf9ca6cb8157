"""reconciler.modelbase: the pydantic building blocks every kind's model and vendor types share.

Strict immutable models, the unset spellings (docs/reference/semantics.md "Unset values"),
names, lifecycle, where a campaign was declared, and the error that pins a cross-field rule
to one field so the loader can report its line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr

__all__ = [
    "MAX_NAME",
    "AttachmentResolver",
    "FieldError",
    "FieldErrors",
    "Lifecycle",
    "Name",
    "NonBlankStr",
    "NonEmptyStr",
    "ResolvedFile",
    "Source",
    "StrictModel",
    "did_you_mean",
    "drop_unset",
    "empty_is_none",
    "not_blank",
    "raise_all",
]

MAX_NAME = 64


@dataclass(frozen=True, slots=True)
class Source:
    """Where a campaign was declared: file and 1-based line and column."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class ResolvedFile:
    """An attachment file as the loader found it: absolute path, size and content hash."""

    path: str
    size: int
    sha256: str


#: Called by Attachment validation with the YAML's `path`; returns the resolved file or
#: raises ValueError (outside the config dir, missing...). The loader passes it in the
#: validation context as "resolve_attachment"; without it, attachments stay unresolved.
AttachmentResolver = Callable[[str], ResolvedFile]


def is_unset_spelling(value: Any) -> bool:
    """semantics.md "Unset values": absent, null, "" and [] are one value for an optional
    field (exactly these types: a str or list subclass is a value)."""
    return value is None or ((type(value) is str or type(value) is list) and not value)


def drop_unset(data: Any, optional: frozenset[str]) -> Any:
    """Return a YAML mapping without its optional keys spelled unset (null, "" or [])."""
    if not isinstance(data, dict):
        return data
    # Run on every campaign loaded: one call per optional key, no generator per key.
    return {k: v for k, v in data.items() if k not in optional or not is_unset_spelling(v)}


#: One set object for each distinct `model_fields_set` (see StrictModel.model_post_init).
_FIELD_SETS: dict[frozenset[str], set[str]] = {}


class StrictModel(BaseModel):
    """Base: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)

    def model_post_init(self, context: Any, /) -> None:
        """Share the set of fields given among instances that were given the same ones.

        pydantic keeps a set per instance (about 300 bytes); a 50,000-campaign directory
        loads 212,500 model instances, so the sets alone took 62 MB, a third of what
        `validate` held. The instances are frozen, so nothing adds to a set after this
        (`model_copy` copies it before an update).
        """
        given = self.__pydantic_fields_set__
        shared = _FIELD_SETS.setdefault(frozenset(given), given)
        if shared is not given:
            object.__setattr__(self, "__pydantic_fields_set__", shared)


NonEmptyStr = Annotated[StrictStr, Field(min_length=1)]


NOT_BLANK_PATTERN = r"\S"


def not_blank(value: str) -> str:
    # The API strips before checking, so "  " is as empty to it as "" (sandbox: 32103...).
    if not value.strip():
        raise ValueError("must not be blank (only whitespace)")
    return value


#: A string the API accepts as non-empty: at least one non-whitespace character.
NonBlankStr = Annotated[
    StrictStr,
    Field(min_length=1, json_schema_extra={"pattern": NOT_BLANK_PATTERN}),
    AfterValidator(not_blank),
]

#: vendors.md "Campaign fields", reply_to: one address. The API's own check (HTTP 400, code 32115):
#: local@domain.tld, no whitespace and exactly one "@", so "a@b.co, c@d.co" is refused.
Name = Annotated[StrictStr, Field(min_length=1, max_length=MAX_NAME)]


class Lifecycle(StrictModel):
    """Terraform-style lifecycle: fields never diffed after create, and delete protection."""

    ignore_changes: list[NonEmptyStr] = Field(
        default_factory=list, description="Fields sent on create and never diffed afterwards."
    )
    prevent_destroy: bool = Field(
        default=False, description="Any plan that would delete or replace this is an error."
    )


class FieldError(ValueError):
    """A cross-field rule broken at one field: the loader reports it at that field's line.

    The field's path below the model that raised it is `field`, then `index` (a list
    item), then `rest`: e.g. ("lifecycle", "ignore_changes", 2).
    """

    def __init__(
        self,
        field: str,
        message: str,
        index: int | None = None,
        *,
        rest: tuple[str | int, ...] = (),
    ) -> None:
        super().__init__(message)
        self.field = field
        self.index = index
        self.rest = rest

    @property
    def path(self) -> tuple[str | int, ...]:
        head: tuple[str | int, ...] = (
            (self.field,) if self.index is None else (self.field, self.index)
        )
        return head + self.rest


class FieldErrors(ValueError):
    """Several cross-field rules broken at once: all are reported in one run, each at its
    field's line (a model validator can raise only one exception)."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


def raise_all(errors: list[FieldError]) -> None:
    """Raise the one error, or all of them together; nothing when the list is empty."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise FieldErrors(errors)


def did_you_mean(word: str, choices: Any) -> str:
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def empty_is_none(value: Any) -> Any:
    """An optional string given as "" is unset (semantics.md "Unset values")."""
    return None if value == "" else value
