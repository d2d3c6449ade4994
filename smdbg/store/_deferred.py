"""Segments a reader knows from a manifest entry but has not read (or read only in part).

Opening a trial takes steps, modes and tensor names from the manifests; a segment's rows are
read on the first query that needs them, and a query about one tensor reads only that tensor's
rows (``tensor_rows`` of the entry) of the segments that hold it.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from smdbg.store.format import SegmentName
from smdbg.store.manifest import decode_blocks, decode_runs

__all__ = ["Deferred", "deferred_of"]

log = logging.getLogger(__name__)


@dataclass
class Deferred:
    """A segment known from its manifest entry: what the entry says, and what was read of it."""

    name: SegmentName
    steps: np.ndarray  # distinct global steps
    modes: dict[int, np.ndarray]  # mode code -> distinct mode steps
    rows: int  # rows in the file
    tensors: frozenset[str]
    tensor_rows: dict[str, Any] | None  # tensor -> block runs (None: an entry without them)
    loaded: dict[str, np.ndarray] = field(default_factory=dict)  # tensor -> file rows read

    def rows_of(self, tensor: str) -> np.ndarray | None:
        """The file rows of ``tensor`` (sorted), or None when the entry cannot say (old entry,
        or a malformed run: a warning)."""
        if self.tensor_rows is None:
            return None
        try:
            rows = decode_blocks(self.tensor_rows[tensor])
            if len(rows) and (int(rows[-1]) >= self.rows or np.any(np.diff(rows) <= 0)):
                raise ValueError(f"rows outside 0..{self.rows - 1} or out of order")
            return rows
        except (KeyError, TypeError, ValueError) as e:
            disagree(f"the manifest entry of {self.name} has unusable rows for {tensor!r} ({e})")
            self.tensor_rows = None
            return None

    def rest(self) -> np.ndarray | None:
        """The file rows not read yet (None: none were read, so all of them)."""
        if not self.loaded:
            return None
        done = np.concatenate(list(self.loaded.values()))
        keep = np.ones(self.rows, dtype=bool)
        keep[done] = False
        return np.flatnonzero(keep)


def disagree(what: str) -> None:
    msg = f"{what}; reading the segment whole instead"
    log.warning("%s", msg)
    warnings.warn(msg, stacklevel=5)


def deferred_of(name: SegmentName, entry: dict[str, Any], mode_code: dict[str, int]) -> Deferred:
    """A :class:`Deferred` from a manifest entry (``tensor_rows`` only if it is a mapping)."""
    modes = {mode_code.get(m, 3): decode_runs(r) for m, r in (entry.get("mode_steps") or {}).items()}
    rows = int(entry.get("rows") or 0)
    tensor_rows = entry.get("tensor_rows")
    if tensor_rows is not None:
        try:  # the runs must cover the segment's rows exactly once
            total = sum(int(r[1]) * int(r[2]) for runs in tensor_rows.values() for r in runs)
            if total != rows or set(tensor_rows) != set(entry.get("tensors", ())):
                raise ValueError(f"its tensors' rows add up to {total}, the segment has {rows}")
        except (AttributeError, TypeError, ValueError, IndexError) as e:
            disagree(f"the manifest entry of {name} has unusable tensor rows ({e})")
            tensor_rows = None
    return Deferred(
        name,
        decode_runs(entry.get("steps") or []),
        modes,
        rows,
        frozenset(entry.get("tensors", ())),
        tensor_rows,
    )
