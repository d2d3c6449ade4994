"""Helpers for rule tests: write small real trials with the store's BackgroundWriter."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from smdbg.store import BackgroundWriter, Record
from smdbg.trials import Trial, create_trial

Step = tuple[int, str, int, Sequence[Record]]


def red(name: str, coll: str, key: str, value: float) -> Record:
    """A reduction record."""
    return Record(name, (coll,), key, float(value), "float32", None, None)


def raw(name: str, coll: str, array: np.ndarray | float) -> Record:
    """A raw tensor record (scalars also carry their value)."""
    a = np.asarray(array)
    scalar = float(a.reshape(-1)[0]) if a.size == 1 else None
    return Record(name, (coll,), "raw", scalar, str(a.dtype), tuple(a.shape), np.ascontiguousarray(a))


def write_trial(
    path: str | os.PathLike[str], steps: Iterable[Step], end: bool = True, worker: str = "worker_0"
) -> str:
    """Write ``steps`` (global step, mode, mode step, records) as one worker's trial."""
    w = BackgroundWriter(path, worker, flush_secs=60, fsync=False)
    w.write_trial_metadata({"framework": "test", "num_workers": 1})
    last = -1
    for step, mode, mode_step, records in steps:
        w.add(step, mode, mode_step, list(records))
        w.set_progress(step + 1, mode, mode_step + 1)
        last = step
    w.set_progress(last + 1)
    if end:
        w.close()
    else:
        w.flush()
    return str(path)


def train_steps(n: int, make: Callable[[int], Sequence[Record]], start: int = 0) -> list[Step]:
    return [(s, "TRAIN", s, make(s)) for s in range(start, start + n)]


def open_trial(tmp_path, steps: Iterable[Step], end: bool = True, name: str = "trial") -> Trial:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    write_trial(path, steps, end=end)
    return create_trial(path)
