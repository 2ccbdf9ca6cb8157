"""reconciler.sandbox: a local emulator of both campaign APIs, on loopback.

Part of the package, not of the tests (docs/sandbox.md): `campaignctl sandbox` runs it in the
foreground, `plan --sandbox` in-process, and the test suite through tests/conftest.py. It
imports nothing from reconciler.providers, so a client bug cannot agree with itself.
"""

from __future__ import annotations

from reconciler.sandbox.faults import FAULT_KINDS, FaultRule, parse_fault_spec
from reconciler.sandbox.server import KNOWN_QUIRKS, Sandbox

__all__ = ["FAULT_KINDS", "KNOWN_QUIRKS", "FaultRule", "Sandbox", "parse_fault_spec"]
