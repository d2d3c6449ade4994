"""Control files in a trial: stop requests (written by rule actions, read by hooks)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from typing import Any

from smdbg.store.format import CONTROL_DIR, STOP_FILE
from smdbg.store.fs import StoreFS, open_fs

__all__ = ["request_stop", "read_stop_request"]


def _fs(trial: str | os.PathLike[str] | StoreFS) -> StoreFS:
    return trial if isinstance(trial, StoreFS) else open_fs(trial)


def request_stop(trial: str | os.PathLike[str] | StoreFS, reason: str, **details: Any) -> dict[str, Any]:
    """Ask the hooks writing ``trial`` to stop training at their next step boundary."""
    doc = {"reason": reason, "time": time.time(), **details}
    _fs(trial).write_atomic(f"{CONTROL_DIR}/{STOP_FILE}", json.dumps(doc, default=str).encode())
    return doc


def read_stop_request(trial: str | os.PathLike[str] | StoreFS) -> Mapping[str, Any] | None:
    """The stop request of ``trial``, or None."""
    try:
        return dict(json.loads(_fs(trial).read_bytes(f"{CONTROL_DIR}/{STOP_FILE}")))
    except FileNotFoundError:
        return None
