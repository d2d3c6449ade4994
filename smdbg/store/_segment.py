"""Encoding one segment: buffered records -> Arrow columns -> Parquet bytes with a CRC-32
(:mod:`smdbg.store._parquet` writes and reads the bytes; its functions are re-exported here).

Pure functions apart from pyarrow; no I/O.
"""

from __future__ import annotations

import functools
import itertools
import json
import operator
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from smdbg.store._parquet import (
    ROW_GROUP_BYTES,
    Scratch,
    decode_rows,
    decode_segment,
    page_checksums_supported,
    parquet_bytes,
)
from smdbg.store.format import FORMAT_VERSION, FORMAT_VERSION_KEY, TENSOR_COLLECTIONS_KEY, WORKER_KEY, schema

__all__ = [
    "Record", "ColumnBuffer", "Scratch", "encode_segment", "segment_table", "record_nbytes", "warm_pyarrow",
    # re-exported from smdbg.store._parquet
    "decode_segment", "decode_rows", "parquet_bytes", "page_checksums_supported",
]  # fmt: skip


class Record(NamedTuple):
    """One saved value: a reduction (``value``), a raw tensor (``data`` and ``shape``), or a
    histogram (``histogram``: bin edges and counts; ``value``: the count outside the bins).
    A raw record of one rank's block of a sharded tensor has the whole tensor's ``shape`` and
    ``shard`` = the block's offset along each dimension followed by the block's shape."""

    tensor: str
    collections: tuple[str, ...]
    reduction: str
    value: float | None
    dtype: str
    shape: tuple[int, ...] | None
    data: bytes | np.ndarray | None
    histogram: tuple[np.ndarray, np.ndarray] | None = None
    shard: tuple[int, ...] | None = None  # a raw shard: its offset in the tensor, then its own shape


class ColumnBuffer:
    """Rows accumulated column by column until a segment is written."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.cols: dict[str, list[Any]] = {c: [] for c in ("step", "mode", "mode_step", "wall_time")}
        self.records: list[Record] = []
        self.nbytes = 0

    def __len__(self) -> int:
        return len(self.records)

    def extend(
        self, step: int, mode: str, mode_step: int, wall_time: float, records: Sequence[Record], nbytes: int
    ) -> None:
        n = len(records)
        self.cols["step"].extend([step] * n)
        self.cols["mode"].extend([mode] * n)
        self.cols["mode_step"].extend([mode_step] * n)
        self.cols["wall_time"].extend([wall_time] * n)
        self.records.extend(records)
        self.nbytes += nbytes

    def payload_bytes(self) -> int:
        total = 0
        for r in self.records:
            d = r.data
            if d is not None:
                total += d.nbytes if isinstance(d, np.ndarray) else len(d)
        return total

    def sort_by_tensor(self) -> None:
        """Reorder rows by tensor name (stable: each tensor's rows keep their step order)."""
        order = sorted(range(len(self.records)), key=lambda i: self.records[i].tensor)
        self.records = [self.records[i] for i in order]
        for name, col in self.cols.items():
            self.cols[name] = [col[i] for i in order]

    def step_range(self) -> tuple[int, int]:
        steps = self.cols["step"]
        return min(steps), max(steps)


@functools.cache
def warm_pyarrow() -> None:
    """Pay pyarrow's lazy imports once, in the caller's thread: the first ``pa.array`` imports
    pandas when it is installed (~0.3 s holding the GIL), which in the writer thread would stall
    training steps in the middle of a run instead of at its start."""
    import pyarrow as pa
    import pyarrow.parquet  # noqa: F401

    pa.array([0], pa.int64())



_TENSOR = operator.itemgetter(0)
_DATA = operator.itemgetter(6)


def record_nbytes(records: Sequence[Record]) -> int:
    """About how many bytes the records take (queue back-pressure, segment size)."""
    total = 96 * len(records) + sum(map(len, map(_TENSOR, records)))
    for d in map(_DATA, records):
        if d is not None:
            total += d.nbytes if isinstance(d, np.ndarray) else len(d)
    return total


def _binary_column(values: list[bytes | np.ndarray | None], scratch: Scratch | None = None) -> Any:
    """A large_binary Arrow array from byte strings / arrays, with one copy of the payload."""
    import pyarrow as pa

    if not any(map(operator.is_not, values, itertools.repeat(None))):
        # reductions only: no per-row work (the writer thread holds the GIL training needs)
        return pa.nulls(len(values), pa.large_binary())
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    valid = np.ones(len(values), dtype=bool)
    parts: list[np.ndarray] = []
    for i, v in enumerate(values):
        if v is None:
            valid[i] = False
            part = _EMPTY_BYTES
        else:
            part = (
                np.ascontiguousarray(v).reshape(-1).view(np.uint8)
                if isinstance(v, np.ndarray)
                else np.frombuffer(v, np.uint8)
            )
        parts.append(part)
        offsets[i + 1] = offsets[i] + part.size
    total = int(offsets[-1])
    data = (scratch or Scratch()).get("payload", total)
    for part, start in zip(parts, offsets[:-1].tolist()):
        if part.size:
            data[start : start + part.size] = part
    validity = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(
        pa.large_binary(),
        len(values),
        [validity, pa.py_buffer(offsets), pa.py_buffer(data[:total])],
        null_count=int((~valid).sum()),
    )


_EMPTY_BYTES = np.zeros(0, dtype=np.uint8)


def _collections_column(colls: Sequence[tuple[str, ...]]) -> Any:
    """The list<string> column, built from the few distinct tuples (no Python bytecode per row)."""
    import pyarrow as pa

    distinct = {c: i for i, c in enumerate(dict.fromkeys(colls))}
    idx = np.fromiter(map(distinct.__getitem__, colls), np.int32, len(colls))
    uniques = pa.array([list(c) for c in distinct], pa.list_(pa.string()))
    return uniques.take(pa.array(idx))


def _list_column(parts: list[np.ndarray | None], dtype: Any, pa_type: Any) -> Any:
    """A list<pa_type> Arrow array of numpy arrays (None: a null row), with one copy."""
    import pyarrow as pa

    sizes = np.fromiter((0 if p is None else len(p) for p in parts), np.int32, len(parts))
    offsets = np.zeros(len(parts) + 1, np.int32)
    np.cumsum(sizes, out=offsets[1:])
    values = [p for p in parts if p is not None]
    flat = np.concatenate(values).astype(dtype, copy=False) if values else np.zeros(0, dtype)
    mask = pa.array(np.fromiter((p is None for p in parts), bool, len(parts)))
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, pa_type), mask=mask)


def _histogram_columns(hists: Sequence[tuple[np.ndarray, np.ndarray] | None]) -> dict[str, Any]:
    """The ``hist_edges`` / ``hist_counts`` columns (all null, without per-row work, when the
    segment holds no histogram)."""
    import pyarrow as pa

    if hists.count(None) == len(hists):  # no per-row Python work on the writer thread
        return {
            "hist_edges": pa.nulls(len(hists), pa.list_(pa.float64())),
            "hist_counts": pa.nulls(len(hists), pa.list_(pa.int64())),
        }
    return {
        "hist_edges": _list_column([None if h is None else h[0] for h in hists], np.float64, pa.float64()),
        "hist_counts": _list_column([None if h is None else h[1] for h in hists], np.int64, pa.int64()),
    }


def _int_lists_column(values: Sequence[tuple[int, ...] | None]) -> Any:
    """A list<int64> column (shapes, shards): all nulls without per-row work when none is set."""
    import pyarrow as pa

    if values.count(None) == len(values):
        return pa.nulls(len(values), pa.list_(pa.int64()))
    return pa.array([None if x is None else list(x) for x in values], pa.list_(pa.int64()))


def segment_table(
    buf: ColumnBuffer, worker: str, scratch: Scratch | None = None
) -> tuple[Any, dict[str, list[str]]]:
    """The Arrow table of the buffered rows (rows of raw-heavy buffers sorted by tensor; raw
    bytes in a buffer that ``scratch`` owns until its next use) and each tensor's collections. The records are transposed into columns in C (``zip``); no
    Python bytecode runs per row for reductions, which the writer thread publishes every second
    beside a training thread that needs the GIL."""
    import pyarrow as pa

    if buf.payload_bytes() >= ROW_GROUP_BYTES:
        buf.sort_by_tensor()  # a tensor's raw values become contiguous row groups
    n = len(buf.records)
    fields = tuple(zip(*buf.records)) if n else ((),) * len(Record._fields)
    tensor, colls, reduction, value, dtype, shape, data, hists, shards = fields
    arrays = {
        "step": pa.array(buf.cols["step"], pa.int64()),
        "mode": pa.array(buf.cols["mode"], pa.string()),
        "mode_step": pa.array(buf.cols["mode_step"], pa.int64()),
        "worker": pa.array([worker] * n, pa.string()),
        "tensor": pa.array(tensor, pa.string()),
        "collections": _collections_column(colls),
        "reduction": pa.array(reduction, pa.string()),
        "value": pa.array(value, pa.float64()),
        "dtype": pa.array(dtype, pa.string()),
        "shape": _int_lists_column(shape),
        "data": _binary_column(list(data), scratch),
        "wall_time": pa.array(buf.cols["wall_time"], pa.float64()),
        **_histogram_columns(hists),
        "shard": _int_lists_column(shards),
    }
    # each tensor's collections as its first row has them (dict keeps the last value written)
    tensor_colls = {t: list(c) for t, c in dict(zip(reversed(tensor), reversed(colls))).items()}
    sch = schema().with_metadata(
        {
            FORMAT_VERSION_KEY: str(FORMAT_VERSION).encode(),
            WORKER_KEY: worker.encode(),
            TENSOR_COLLECTIONS_KEY: json.dumps(tensor_colls).encode(),
        }
    )
    return pa.Table.from_arrays([arrays[f.name] for f in sch], schema=sch), tensor_colls


def encode_segment(
    buf: ColumnBuffer, worker: str, compression: str = "zstd", scratch: Scratch | None = None
) -> tuple[Any, int]:
    """Parquet bytes of the buffered rows (a buffer that ``scratch`` owns until its next use)
    and their CRC-32."""
    table, _ = segment_table(buf, worker, scratch)
    return parquet_bytes(table, buf.nbytes, compression, scratch)
