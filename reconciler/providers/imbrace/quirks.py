"""reconciler.providers.imbrace.quirks: the iMBrace value variants mapped to one canonical form.

The touchpoint `message` may be written as a string (docs/reference/vendors.md
"Channel-service routes and auth"); the model and the codec both read it through here.
"""

from __future__ import annotations

from typing import Any

__all__ = ["canonical_message"]


def canonical_message(value: Any) -> Any:
    """Map a touchpoint message to an object: a string is shorthand for `{text: ...}`.

    The empty string is "unset" (semantics.md "Unset values"), not a message with empty text.
    """
    if value == "":
        return None
    if isinstance(value, str):
        return {"text": value}
    return value
