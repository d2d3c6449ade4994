"""Retention and a storage budget for long runs.

* **Retention** (``keep_raw_steps=N``): when segments are compacted, the raw (non-scalar)
  tensor data of steps older than ``latest step - N`` is dropped. The rows stay (row numbers
  that live readers hold stay valid) with a null ``data``; scalars (raw rows with a ``value``,
  such as losses) and every reduction are kept. A thinned segment records the policy in its
  metadata (``smdbg.retention``) so a reader asking for a dropped tensor can say why.
* **Storage budget** (``size_budget_bytes``): a writer whose stream grows past it warns once
  (:class:`SizeBudget`); writing never stops.
"""

from __future__ import annotations

import json
import logging
import warnings
from typing import Any

import numpy as np

from smdbg.store.format import RAW
from smdbg.store.fs import StoreFS

__all__ = [
    "RETENTION_KEY",
    "check_keep_raw_steps",
    "check_size_budget",
    "thin_table",
    "retention_of",
    "SizeBudget",
]

log = logging.getLogger(__name__)

RETENTION_KEY = b"smdbg.retention"  # {"keep_raw_steps": N, "before_step": S} of a thinned segment


def check_keep_raw_steps(value: int | None) -> int | None:
    """``keep_raw_steps`` validated: None (keep every raw tensor) or an integer >= 0."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(
            f"keep_raw_steps={value!r}: expected None or an integer >= 0 (steps of raw tensors to keep)"
        )
    return int(value)


def check_size_budget(value: int | None) -> int | None:
    """``size_budget_bytes`` validated: None (no budget) or a positive integer."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"size_budget_bytes={value!r}: expected None or a positive number of bytes")
    return int(value)


def thin_table(table: Any, before_step: int) -> tuple[Any, int]:
    """``table`` with the raw data of non-scalar rows of steps ``< before_step`` set to null,
    and how many rows lost their data (0: the table is returned as it was)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    data = table.column("data")
    drop = pc.and_(
        pc.and_(pc.less(table.column("step"), before_step), pc.equal(table.column("reduction"), RAW)),
        pc.and_(pc.is_null(table.column("value")), pc.is_valid(data)),
    )
    n = int(pc.sum(pc.cast(pc.fill_null(drop, False), pa.int64())).as_py() or 0)
    if not n:
        return table, 0
    thinned = pc.if_else(pc.fill_null(drop, False), pa.scalar(None, data.type), data)
    return table.set_column(table.schema.get_field_index("data"), "data", thinned), n


def retention_meta(keep_raw_steps: int, before_step: int, earlier: bytes | None) -> bytes:
    """The ``smdbg.retention`` metadata of a thinned segment (the latest cut of its inputs)."""
    prev = json.loads(earlier) if earlier else {}
    return json.dumps(
        {"keep_raw_steps": keep_raw_steps, "before_step": max(before_step, int(prev.get("before_step", 0)))}
    ).encode()


def retention_of(fs: StoreFS, path: str) -> dict[str, Any] | None:
    """The retention policy a segment was thinned under (None: not thinned, or unreadable)."""
    import pyarrow.parquet as pq

    try:
        with fs.open_input(path) as source:
            meta = pq.ParquetFile(source).schema_arrow.metadata or {}
        raw = meta.get(RETENTION_KEY)
        return dict(json.loads(raw)) if raw else None
    except (OSError, ValueError):
        return None


def _size(n: int) -> str:
    return f"{n} bytes" if n < 1 << 20 else f"{n / 2**20:.1f} MiB"


class SizeBudget:
    """Warns once (``warnings.warn`` and the log) when a worker stream outgrows ``budget`` bytes."""

    def __init__(self, budget: int | None, trial: str, worker: str, existing: int = 0) -> None:
        self.budget = check_size_budget(budget)
        self.trial = trial
        self.worker = worker
        self.total = existing
        self.warned = False

    def add(self, nbytes: int) -> None:
        self.total += nbytes
        if self.budget is None or self.warned or self.total <= self.budget:
            return
        self.warned = True
        msg = (
            f"smdbg: the trial at {self.trial} (worker {self.worker!r}) holds {_size(self.total)}, "
            f"over its size_budget_bytes of {_size(self.budget)}; writing continues. Save fewer "
            "raw tensors, or set keep_raw_steps (retention) and compact (smdbg trial compact "
            "--keep-raw-steps N) to drop old raw tensors"
        )
        log.warning("%s", msg)
        warnings.warn(msg, stacklevel=2)
