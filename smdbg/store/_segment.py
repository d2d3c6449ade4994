"""Encoding and decoding one segment file: Arrow columns <-> Parquet bytes, with a CRC-32.

Pure functions apart from pyarrow; no I/O.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import json
import operator
import zlib
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from smdbg.exceptions import CorruptSegmentError, UnsupportedFormatVersion
from smdbg.store.format import (
    ADDED_COLUMNS,
    FORMAT_VERSION,
    FORMAT_VERSION_KEY,
    META_COLUMNS,
    TENSOR_COLLECTIONS_KEY,
    WORKER_KEY,
    schema,
)

__all__ = ["Record", "ColumnBuffer", "encode_segment", "decode_segment", "decode_rows", "parquet_bytes", "warm_pyarrow"]


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


ROW_GROUP_BYTES = 8 << 20  # raw-tensor segments are cut into row groups of about this size


_TENSOR = operator.itemgetter(0)
_DATA = operator.itemgetter(6)
_HIST = operator.itemgetter(7)
_SHARD = operator.itemgetter(8)


def record_nbytes(records: Sequence[Record]) -> int:
    """About how many bytes the records take (queue back-pressure, segment size)."""
    total = 96 * len(records) + sum(map(len, map(_TENSOR, records)))
    for d in map(_DATA, records):
        if d is not None:
            total += d.nbytes if isinstance(d, np.ndarray) else len(d)
    return total


class Scratch:
    """Memory reused from one segment to the next (no page faults, no growing copies)."""

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, size: int) -> np.ndarray:
        arr = self._arrays.get(name)
        if arr is None or arr.size < size:
            arr = self._arrays[name] = np.empty(size + size // 4 + (1 << 20), dtype=np.uint8)
        return arr


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


@functools.cache
def _page_checksum_kwargs() -> tuple[dict[str, bool], dict[str, bool]]:
    """Parquet page CRCs where pyarrow has them (>= 14): (write_table kwargs, ParquetFile kwargs).

    Older pyarrow (12, 13; the MXNet environment) writes and reads without page CRCs; the
    whole-segment CRC-32 in the file name applies either way.
    """
    import pyarrow.parquet as pq

    write = "write_page_checksum" in inspect.signature(pq.write_table).parameters
    read = "page_checksum_verification" in inspect.signature(pq.ParquetFile.__init__).parameters
    return (
        {"write_page_checksum": True} if write else {},
        {"page_checksum_verification": True} if read else {},
    )


def page_checksums_supported() -> bool:
    """Whether this pyarrow writes and verifies Parquet page checksums."""
    write, read = _page_checksum_kwargs()
    return bool(write and read)


def _collections_column(recs: Sequence[Record]) -> Any:
    """The list<string> column, built from the few distinct tuples (fast for millions of rows)."""
    import pyarrow as pa

    distinct: dict[tuple[str, ...], int] = {}
    idx = np.fromiter((distinct.setdefault(r.collections, len(distinct)) for r in recs), np.int32, len(recs))
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


def _histogram_columns(recs: Sequence[Record]) -> dict[str, Any]:
    """The ``hist_edges`` / ``hist_counts`` columns (all null, without per-row work, when the
    segment holds no histogram)."""
    import pyarrow as pa

    if not any(map(_HIST, recs)):  # no per-row Python work on the writer thread
        return {
            "hist_edges": pa.nulls(len(recs), pa.list_(pa.float64())),
            "hist_counts": pa.nulls(len(recs), pa.list_(pa.int64())),
        }
    hists = [r.histogram for r in recs]
    return {
        "hist_edges": _list_column([None if h is None else h[0] for h in hists], np.float64, pa.float64()),
        "hist_counts": _list_column([None if h is None else h[1] for h in hists], np.int64, pa.int64()),
    }


def _shard_column(recs: Sequence[Record]) -> Any:
    import pyarrow as pa

    if not any(map(_SHARD, recs)):
        return pa.nulls(len(recs), pa.list_(pa.int64()))
    return pa.array([None if r.shard is None else list(r.shard) for r in recs], pa.list_(pa.int64()))


def encode_segment(
    buf: ColumnBuffer, worker: str, compression: str = "zstd", scratch: Scratch | None = None
) -> tuple[Any, int]:
    """Parquet bytes of the buffered rows (a buffer that ``scratch`` owns until its next use)
    and their CRC-32."""
    import pyarrow as pa

    if buf.payload_bytes() >= ROW_GROUP_BYTES:
        buf.sort_by_tensor()  # a tensor's raw values become contiguous row groups
    recs = buf.records
    n = len(recs)
    arrays = {
        "step": pa.array(buf.cols["step"], pa.int64()),
        "mode": pa.array(buf.cols["mode"], pa.string()),
        "mode_step": pa.array(buf.cols["mode_step"], pa.int64()),
        "worker": pa.array([worker] * n, pa.string()),
        "tensor": pa.array([r.tensor for r in recs], pa.string()),
        "collections": _collections_column(recs),
        "reduction": pa.array([r.reduction for r in recs], pa.string()),
        "value": pa.array([r.value for r in recs], pa.float64()),
        "dtype": pa.array([r.dtype for r in recs], pa.string()),
        "shape": pa.array([None if r.shape is None else list(r.shape) for r in recs], pa.list_(pa.int64())),
        "data": _binary_column([r.data for r in recs], scratch),
        "wall_time": pa.array(buf.cols["wall_time"], pa.float64()),
        **_histogram_columns(recs),
        "shard": _shard_column(recs),
    }
    tensor_colls: dict[str, list[str]] = {}
    for r in recs:
        if r.tensor not in tensor_colls:
            tensor_colls[r.tensor] = list(r.collections)
    sch = schema().with_metadata(
        {
            FORMAT_VERSION_KEY: str(FORMAT_VERSION).encode(),
            WORKER_KEY: worker.encode(),
            TENSOR_COLLECTIONS_KEY: json.dumps(tensor_colls).encode(),
        }
    )
    table = pa.Table.from_arrays([arrays[f.name] for f in sch], schema=sch)
    return parquet_bytes(table, buf.nbytes, compression, scratch)


def parquet_bytes(
    table: Any, nbytes: int, compression: str = "zstd", scratch: Scratch | None = None
) -> tuple[Any, int]:
    """A segment table as Parquet bytes (row groups of about ROW_GROUP_BYTES of its ``nbytes``,
    dictionary-encoded strings, page checksums where supported) and their CRC-32."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sch = table.schema
    n = table.num_rows
    options: dict[str, Any] = {
        "compression": {c: (compression if c != "data" else "none") for c in sch.names},
        "use_dictionary": [c for c in sch.names if c not in ("data", "value", "wall_time")],
        "write_statistics": ["step", "mode_step"],
        "row_group_size": max(1, int(n * ROW_GROUP_BYTES / max(nbytes, 1)))
        if nbytes > ROW_GROUP_BYTES
        else max(n, 1),
        **_page_checksum_kwargs()[0],
    }
    body: Any
    if scratch is not None:
        # Write into reused memory sized for the payload plus generous metadata room.
        out = scratch.get("out", nbytes + 64 * n + (4 << 20))
        try:
            sink = pa.FixedSizeBufferWriter(pa.py_buffer(out))
            pq.write_table(table, sink, **options)
            body = memoryview(out)[: sink.tell()]  # type: ignore[arg-type]
            return body, zlib.crc32(body)
        except (pa.ArrowException, OSError):
            pass  # more metadata than estimated: fall back to a growing buffer
    grow = pa.BufferOutputStream()
    pq.write_table(table, grow, **options)
    body = grow.getvalue().to_pybytes()
    return body, zlib.crc32(body)


def decode_segment(
    path: str,
    body: Any,
    expected_crc: int | None,
    columns: Sequence[str] = META_COLUMNS,
    read_dictionary: Sequence[str] = (),
    row_groups: Sequence[int] | None = None,
) -> tuple[Any, dict[bytes, Any]]:
    """The Arrow table of a segment's ``columns`` (of some ``row_groups`` only, if given) and the
    file's key-value metadata, plus ``b"row_groups"``: the number of rows of each row group.

    ``expected_crc=None`` skips the CRC check (for re-reads of a file verified before).
    Raises CorruptSegmentError / UnsupportedFormatVersion naming ``path``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if expected_crc is not None:
        crc = zlib.crc32(body)
        if crc != expected_crc:
            raise CorruptSegmentError(
                path, f"CRC-32 is {crc:08x}, the name says {expected_crc:08x} (truncated or altered)"
            )
    try:
        source = body if hasattr(body, "read") else pa.BufferReader(body)  # a file, or bytes
        pf = pq.ParquetFile(source, read_dictionary=list(read_dictionary), **_page_checksum_kwargs()[1])
        meta = pf.schema_arrow.metadata or {}
        version = int(meta.get(FORMAT_VERSION_KEY, b"0"))
        if version > FORMAT_VERSION:
            raise UnsupportedFormatVersion(path, version, FORMAT_VERSION)
        present = set(pf.schema_arrow.names)
        missing = [c for c in columns if c not in present and c in ADDED_COLUMNS]
        if missing:  # an earlier version's segment: columns added since read as nulls
            columns = [c for c in columns if c not in missing]
        # use_threads=False: pyarrow's pool tasks would hold `body` (Python-owned memory) and may
        # release it after the interpreter began finalizing, which aborts the process.
        info: dict[bytes, Any] = dict(meta)
        info[b"row_groups"] = [pf.metadata.row_group(i).num_rows for i in range(pf.metadata.num_row_groups)]
        if row_groups is not None:
            table = pf.read_row_groups(list(row_groups), columns=list(columns), use_threads=False)
        else:
            table = pf.read(columns=list(columns), use_threads=False)
        for c in missing:
            table = table.append_column(schema().field(c), pa.nulls(table.num_rows, schema().field(c).type))
        return table, info
    except UnsupportedFormatVersion:
        raise
    except Exception as e:  # pyarrow raises several types for damaged files
        raise CorruptSegmentError(path, f"does not parse as a Parquet segment ({e})") from e


def decode_rows(
    path: str, body: Any, rows: np.ndarray, columns: Sequence[str], read_dictionary: Sequence[str] = (),
    expected_crc: int | None = None,
) -> tuple[Any, np.ndarray, dict[bytes, Any]]:  # fmt: skip
    """The row groups of a segment (bytes, or a file for ranged reads) that hold ``rows`` (sorted
    file row numbers): (their ``columns``, where ``rows`` are in that table, metadata as
    :func:`decode_segment`'s plus ``b"whole"``: every row group was needed, so the table is the
    whole file's, and for a file ``b"bytes_read"``: the compressed size of the chunks read). Page checksums are verified where supported, the CRC-32 of bytes when
    ``expected_crc`` is given. IndexError: a row past the file's end."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if expected_crc is not None and zlib.crc32(body) != expected_crc:
        raise CorruptSegmentError(
            path, f"CRC-32 is {zlib.crc32(body):08x}, the name says {expected_crc:08x} (truncated or altered)"
        )
    try:
        source = body if hasattr(body, "read") else pa.BufferReader(body)
        pf = pq.ParquetFile(source, read_dictionary=list(read_dictionary), **_page_checksum_kwargs()[1])
        meta = pf.schema_arrow.metadata or {}
        counts = [pf.metadata.row_group(i).num_rows for i in range(pf.metadata.num_row_groups)]
    except Exception as e:  # pyarrow raises several types for damaged files
        raise CorruptSegmentError(path, f"does not parse as a Parquet segment ({e})") from e
    version = int(meta.get(FORMAT_VERSION_KEY, b"0"))
    if version > FORMAT_VERSION:
        raise UnsupportedFormatVersion(path, version, FORMAT_VERSION)
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    if len(rows) and (int(rows[0]) < 0 or int(rows[-1]) >= int(starts[-1])):
        raise IndexError(f"rows up to {int(rows[-1])} asked of {path}, which holds {int(starts[-1])}")
    group_of = np.searchsorted(starts, rows, side="right") - 1
    groups = np.unique(group_of)
    whole = len(groups) == len(counts)
    first_row = np.concatenate([[0], np.cumsum(np.asarray(counts)[groups])]).astype(np.int64)
    pos = np.searchsorted(groups, group_of)
    local = rows - starts[group_of] + first_row[pos]
    try:
        table = (
            pf.read(columns=list(columns), use_threads=False)
            if whole
            else pf.read_row_groups(groups.tolist(), columns=list(columns), use_threads=False)
        )
    except Exception as e:  # noqa: BLE001 - a page checksum or decoding failure
        raise CorruptSegmentError(path, f"does not parse as a Parquet segment ({e})") from e
    info: dict[bytes, Any] = dict(meta)
    info[b"row_groups"] = counts
    info[b"whole"] = whole
    info[b"bytes_read"] = None if not hasattr(body, "read") else sum(
        pf.metadata.row_group(g).column(c).total_compressed_size
        for g in groups.tolist()
        for c in range(pf.metadata.num_columns)
        if pf.metadata.row_group(g).column(c).path_in_schema.split(".")[0] in columns
    )  # fmt: skip
    return table, local, info
