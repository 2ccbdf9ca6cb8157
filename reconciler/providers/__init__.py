"""reconciler.providers: the vendors' descriptions (import-light) and clients (the only HTTP code).

`providers/engagelab` and `providers/imbrace` each own one vendor: field declarations and
status facts (`fields`, read by the pure core), quirks, codec, routes and client. The
clients (and with them `requests`) load only when one of the names below is first used, so
that the planner can ask a vendor description without importing network code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.providers.engagelab.client import EmailProvider
    from reconciler.providers.imbrace.client import TouchpointProvider
    from reconciler.providers.open import Providers, open_providers

__all__ = ["EmailProvider", "Providers", "TouchpointProvider", "open_providers"]

_LAZY = {
    "EmailProvider": "reconciler.providers.engagelab.client",
    "TouchpointProvider": "reconciler.providers.imbrace.client",
    "Providers": "reconciler.providers.open",
    "open_providers": "reconciler.providers.open",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
