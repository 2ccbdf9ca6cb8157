"""The pure core (planner, plan, render, canonical, model) imports no network code.

Run in a fresh interpreter, so that what other tests imported does not count. Two claims:
no HTTP library is loaded at all (requests, urllib3, http.*), and no module of ours in the
pure core imports socket, ssl or an HTTP library itself. (`socket` as such is loaded by the
standard library's email.utils, via importlib.metadata under pydantic: not ours to avoid.)
Also: the core does not pull in the modules that do I/O (provider clients, state, sandbox, ...);
it does read the vendors' descriptions, which must stay import-light.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

PURE = (
    "reconciler.planner",
    "reconciler.plan",
    "reconciler.render",
    "reconciler.canonical",
    "reconciler.model",
)
NETWORK = ("requests", "urllib3", "http", "socket", "ssl")
IO_MODULES = (
    # The vendors' descriptions (providers/<vendor>/fields.py...) are import-light and the
    # core asks them; their clients and the transport are not.
    "reconciler.providers.http",
    "reconciler.providers.open",
    "reconciler.providers.email",
    "reconciler.providers.touchpoint",
    "reconciler.providers.engagelab.client",
    "reconciler.providers.imbrace.client",
    "reconciler.state",
    "reconciler.sandbox",
    "reconciler.applier",
    "reconciler.workflow",
    "reconciler.cli",
    "reconciler.settings",
    "reconciler.loader",  # reads files; the planner only needs its type
)

_SCRIPT = textwrap.dedent(
    """
    import builtins, json, sys

    direct = []
    original = builtins.__import__

    def tracking(name, globals=None, locals=None, fromlist=(), level=0):
        importer = (globals or {}).get("__name__", "")
        if importer.startswith("reconciler") and level == 0:
            direct.append([importer, name])
        return original(name, globals, locals, fromlist, level)

    builtins.__import__ = tracking
    for module in MODULES:
        __import__(module)
    builtins.__import__ = original
    print(json.dumps({"direct": direct, "loaded": sorted(sys.modules)}))
    """
)


def _imports() -> dict[str, list[Any]]:
    script = f"MODULES = {list(PURE)!r}\n" + _SCRIPT
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    result: dict[str, list[Any]] = json.loads(done.stdout)
    return result


def test_pure_core_loads_no_http_library_and_imports_no_network_module() -> None:
    result = _imports()
    loaded = {str(m) for m in result["loaded"]}
    http_loaded = sorted(
        m for m in loaded if m.split(".")[0] in ("requests", "urllib3", "http", "httpx")
    )
    assert http_loaded == []
    direct = [(str(importer), str(name)) for importer, name in result["direct"]]
    assert direct, "the import hook saw nothing: the test itself is broken"
    ours = [(importer, name) for importer, name in direct if name.split(".")[0] in NETWORK]
    assert ours == []


def test_pure_core_does_not_load_io_modules() -> None:
    loaded = {str(m) for m in _imports()["loaded"]}
    assert {m for m in loaded if m.startswith(IO_MODULES)} == set()
    assert set(PURE) <= loaded


def test_the_vendor_descriptions_the_core_reads_are_import_light() -> None:
    loaded = {str(m) for m in _imports()["loaded"]}
    assert "reconciler.providers.vendors" in loaded
    assert {
        "reconciler.providers.engagelab.fields",
        "reconciler.providers.imbrace.fields",
    } <= loaded
