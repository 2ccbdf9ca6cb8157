"""reconciler.providers.imbrace.types: the value shapes of an iMBrace campaign (pydantic).

A touchpoint: an ordered step whose identity is its name within the campaign, and whose
`message` is write-only (docs/reference/vendors.md "Resources").
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from reconciler import canonical as c
from reconciler.modelbase import FieldError, Name, StrictModel, drop_unset
from reconciler.providers.imbrace.quirks import canonical_message

__all__ = ["Touchpoint"]


class Touchpoint(StrictModel):
    """An ordered step of a MessagingCampaign; its identity is its name within the campaign."""

    name: Name
    type: Literal["message", "action"]
    message: dict[str, Any] | None = Field(
        default=None,
        description="A string (shorthand for {text: ...}) or an object; write-only.",
        json_schema_extra={"anyOf": [{"type": "string"}, {"type": "object"}, {"type": "null"}]},
    )

    @model_validator(mode="before")
    @classmethod
    def _unset(cls, data: Any) -> Any:
        return drop_unset(data, frozenset({"message"}))

    @field_validator("message", mode="before")
    @classmethod
    def _message(cls, value: Any) -> Any:
        return canonical_message(value)

    @model_validator(mode="after")
    def _message_rule(self) -> Touchpoint:
        if self.type == "message":
            text = (self.message or {}).get("text")
            if not isinstance(text, str) or not text.strip():
                raise FieldError("message", "a message touchpoint needs a non-empty message text")
        return self

    def canonical(self) -> dict[str, Any]:
        return c.drop_empty(self.model_dump(exclude_none=True))
