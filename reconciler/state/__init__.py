"""reconciler.state: the state (which campaigns this config manages), where it is kept, its lock.

The package's modules, each one concern: `model` (the records and the pydantic model of the
state file), `journal` (one line per finished step), `lock` (the holder, SIGTERM while
holding it), `backend` (what a store of states must do), `file_backend` (a file beside the
YAML), `store` (StateStore, the facade the planner and applier use), `limits` (caps on
what is read). Every public name is importable from `reconciler.state`.
"""

from __future__ import annotations

from reconciler.atomic import real_path, write_atomic
from reconciler.state.backend import Backend, HistoryEntry
from reconciler.state.limits import (
    MAX_JSON_DEPTH,
    MAX_STATE_BYTES,
    json_too_deep,
    read_capped,
)
from reconciler.state.lock import LockInfo, Terminated
from reconciler.state.model import FORMAT_VERSION, ManagedRecord, State, utc_now
from reconciler.state.store import StateStore

__all__ = [
    "FORMAT_VERSION",
    "MAX_JSON_DEPTH",
    "MAX_STATE_BYTES",
    "Backend",
    "HistoryEntry",
    "LockInfo",
    "ManagedRecord",
    "State",
    "StateStore",
    "Terminated",
    "json_too_deep",
    "read_capped",
    "real_path",
    "utc_now",
    "write_atomic",
]
