"""A step's saved values as store records: built by pure functions, handed over as one batch.

A framework hook computes, per saved tensor, an :data:`Emitted` tuple (name, plan, raw host copy
or None, reductions, shape, dtype). :func:`to_records` turns those into store records and
returns them; :class:`StepRecords` gathers one step's records under the step's identity, fixed
when it is created, and :meth:`StepRecords.finish` hands them out as a :class:`StepBatch` for
the record sinks. Nothing here reads or changes hook state.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from smdbg.hooks._plan import TensorPlan
from smdbg.reductions import Histogram
from smdbg.store import Record

__all__ = ["SCALAR_PREFIX", "Emitted", "ShardBlock", "StepBatch", "StepRecords", "to_records"]

#: ``save_scalar(name, v)`` stores ``scalar/<name>`` (smdebug's prefix).
SCALAR_PREFIX = "scalar/"

#: One saved tensor: (name, plan, raw host copy or None, reductions, shape, dtype); a histogram
#: is among the reductions as ``{"histogram": Histogram(...)}``; the raw copy of a shard is a
#: :class:`ShardBlock`.
Emitted = tuple[
    str, TensorPlan, "np.ndarray[Any, Any] | ShardBlock | None", Mapping[str, "float | Histogram"],
    tuple[int, ...], str,
]

class ShardBlock(NamedTuple):
    """The raw host copy of one rank's block of a sharded tensor (an :data:`Emitted` host value):
    the block and its offset along each dimension; the Emitted shape is the whole tensor's."""

    data: np.ndarray[Any, Any]
    offset: tuple[int, ...]


_DTYPE_NAMES: dict[Any, str] = {}  # numpy dtype -> its name (str(dtype) is slow per record)
_new_tuple = tuple.__new__  # Record(...) without the namedtuple's Python-level __new__ (~0.3 us per record)


def to_records(items: Iterable[Emitted], out: list[Record] | None = None) -> list[Record]:
    """The records of saved tensors, appended to ``out`` (a new list if None), which is returned.

    One record per reduction (``value``), one ``raw`` record per raw host copy (``data``; a
    numeric single value also in ``value``), one ``histogram`` record per histogram (edges and
    counts; ``value``: the count outside the bins). Shapes are kept with reductions only where
    the plan says so.
    """
    recs: list[Record] = [] if out is None else out
    append = recs.append
    for name, plan, host, reductions, shape, dtype in items:
        colls = plan.collections
        keep_shape = shape if plan.save_shape else None
        for key, value in reductions.items():  # tuple.__new__: no Python-level __new__ frame
            if type(value) is Histogram:
                hist = (value.edges, value.counts)
                append(_new_tuple(Record, (name, colls, key, float(value.outside), dtype, keep_shape, None, hist, None)))
            else:
                append(_new_tuple(Record, (name, colls, key, value, dtype, keep_shape, None, None, None)))
        if isinstance(host, ShardBlock):
            block = host.data
            where = host.offset + tuple(block.shape)
            append(Record(name, colls, "raw", None, str(block.dtype), shape, block, None, where))
        elif host is not None:
            scalar = float(host.reshape(-1)[0]) if host.size == 1 and host.dtype.kind in "biuf" else None
            dt = _DTYPE_NAMES.get(host.dtype)
            if dt is None:
                dt = _DTYPE_NAMES[host.dtype] = str(host.dtype)
            append(Record(name, colls, "raw", scalar, dt, host.shape, host))
    return recs


@dataclass(frozen=True)
class StepBatch:
    """The records of one finished step, as every record sink receives them (not changed after).

    ``metric_times`` names the values saved with ``save_scalar`` (with the timestamp the script
    gave, or None): the tracker mirror logs those besides losses and metrics.
    """

    step: int
    mode: str
    mode_step: int
    records: list[Record]
    wall_time: float
    metric_times: Mapping[str, float | None] = field(default_factory=dict)


class StepRecords:
    """Gathers the records of one step (whose identity is fixed at creation)."""

    __slots__ = ("step", "mode", "mode_step", "records", "metric_times")

    def __init__(self, step: int, mode: str, mode_step: int) -> None:
        self.step = step
        self.mode = mode
        self.mode_step = mode_step
        self.records: list[Record] = []
        self.metric_times: dict[str, float | None] = {}

    def add(self, items: Iterable[Emitted]) -> None:
        to_records(items, self.records)

    def add_metric(self, item: Emitted, timestamp: float | None) -> None:
        """A value of ``save_scalar``: stored like any tensor, and mirrored to a tracker."""
        to_records((item,), self.records)
        self.metric_times[item[0]] = timestamp

    def finish(self) -> StepBatch:
        return StepBatch(self.step, self.mode, self.mode_step, self.records, time.time(), self.metric_times)
