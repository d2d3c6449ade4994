"""What the trial reader reads beyond the index columns: a row's dtype, shape and collections,
and its raw tensor, read lazily per segment row group and kept in a bounded LRU.

:class:`RawRows` is the part of :class:`~smdbg.store.reader.TrialReader` that serves these; it
also follows a segment that compaction merged away into the compacted segment holding its rows
(row numbers handed out stay valid).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from smdbg.exceptions import RawTensorDropped, StoreError
from smdbg.store._compacted import moved_rows
from smdbg.store._index import RowIndex
from smdbg.store._parquet import decode_segment
from smdbg.store.format import SegmentName
from smdbg.store.fs import StoreFS
from smdbg.store.retention import retention_of

__all__ = ["Segment", "RawRows"]


@dataclass
class Segment:
    """One loaded piece of a segment file (the whole file, or some of its rows)."""

    path: str
    worker: str
    info: Any  # pyarrow.Table of dtype, shape, collections (None until first needed)
    rg_starts: list[int]  # first local row of each Parquet row group
    base: int  # first global row index
    crc: int
    rows: np.ndarray | None = None  # file row of each loaded row (None: row i is file row i)
    order: bytes | None = None  # the file's row order (``smdbg.order``), to follow it when merged


class RawRows:
    """Raw tensors and row info of loaded rows (the reader's lock is held by the caller)."""

    fs: StoreFS
    segments: list[Segment]
    index: RowIndex
    data_cache_bytes: int
    _data_cache: OrderedDict[tuple[int, int], Any]
    _data_cache_size: int
    _hist_cache: dict[int, Any]  # segment -> its hist_edges/hist_counts columns

    def _repoint(self, seg_idx: int) -> None:
        """A segment read before was merged away by compaction: find its rows in the compacted
        segment that holds them (row numbers handed out stay valid)."""
        seg = self.segments[seg_idx]
        wdir, base = seg.path.rsplit("/", 1)
        name = SegmentName.parse(base)
        rows = seg.rows
        if rows is None:  # every row of the file was loaded, in file order
            rows = np.arange(self._segment_rows(seg_idx), dtype=np.int64)
        moved = None if name is None else moved_rows(self.fs, wdir, name, rows, seg.order)
        if moved is None:
            raise StoreError(f"segment {self.fs.url(seg.path)} was removed and no compacted segment holds it")
        seg.path, _, footer, seg.rows = moved
        seg.order, seg.rg_starts, seg.info = footer.order, footer.rg_starts, None
        for key in [k for k in self._data_cache if k[0] == seg_idx]:
            self._data_cache_size -= int(self._data_cache.pop(key).nbytes)
        self._hist_cache.pop(seg_idx, None)

    def _segment_rows(self, seg_idx: int) -> int:
        """How many rows of a segment were loaded."""
        end = self.segments[seg_idx + 1].base if seg_idx + 1 < len(self.segments) else self.index.nrows
        return end - self.segments[seg_idx].base

    def _read_columns(
        self, seg_idx: int, columns: Sequence[str], row_groups: Sequence[int] | None = None
    ) -> Any:
        """Columns of a segment verified at open, read with ranged I/O (only what is asked for)."""
        for attempt in range(3):
            seg = self.segments[seg_idx]
            try:
                with self.fs.open_input(seg.path) as source:
                    table, _ = decode_segment(
                        self.fs.url(seg.path), source, None, columns, row_groups=row_groups
                    )
                return table
            except FileNotFoundError:
                if attempt == 2 or row_groups is not None:
                    raise  # row groups are numbered in the old file: the caller asks again
                self._repoint(seg_idx)
        raise AssertionError("unreachable")

    def _segment_info(self, seg_idx: int) -> Any:
        """The dtype, shape, collections and shard columns of a segment (read once, when first needed)."""
        seg = self.segments[seg_idx]
        if seg.info is None:
            seg.info = self._read_columns(seg_idx, ("dtype", "shape", "collections", "shard"))
        return seg.info

    def _cache_data(self, key: tuple[int, int], data: Any) -> None:
        size = int(data.nbytes)
        if size > self.data_cache_bytes:
            return
        self._data_cache[key] = data
        self._data_cache_size += size
        while self._data_cache_size > self.data_cache_bytes and len(self._data_cache) > 1:
            _, old = self._data_cache.popitem(last=False)
            self._data_cache_size -= int(old.nbytes)

    def _seg_of_row(self, row: int) -> tuple[int, int]:
        """(segment, row in its file) of a global row (rows handed out are always loaded)."""
        _, seg_idx, local = self.index.locate(row)
        seg = self.segments[seg_idx]
        return seg_idx, local if seg.rows is None else int(seg.rows[local])

    def _row_info(self, row: int) -> dict[str, Any]:
        t = self._segment_info(self._seg_of_row(row)[0])  # (may follow the segment into a merge)
        seg_idx, local = self._seg_of_row(row)
        return {
            "dtype": t.column("dtype")[local].as_py(),
            "shape": t.column("shape")[local].as_py(),
            "collections": t.column("collections")[local].as_py(),
            "shard": t.column("shard")[local].as_py(),
        }

    def _no_raw(self, row: int, seg_idx: int, local: int) -> Exception:
        """The error for a row without raw data: dropped by retention, or never there."""
        path = self.segments[seg_idx].path
        policy = retention_of(self.fs, path)
        if policy is None:
            return StoreError(f"row {local} of {self.fs.url(path)} holds no raw tensor")
        tensor, step = self.index.tensor_and_step(row)
        return RawTensorDropped(tensor, step, int(policy.get("keep_raw_steps", -1)))

    def _row_array(self, row: int) -> np.ndarray:
        info = self._row_info(row)  # first: a row's info stays true if its file moves next
        data = None
        while data is None:
            seg_idx, local = self._seg_of_row(row)
            starts = self.segments[seg_idx].rg_starts
            rg = int(np.searchsorted(starts, local, side="right")) - 1
            key = (seg_idx, rg)
            data = self._data_cache.get(key)
            if data is not None:
                self._data_cache.move_to_end(key)
                break
            try:  # one row group of one segment: a tensor's rows are grouped together
                data = self._read_columns(seg_idx, ("data",), row_groups=[rg]).column("data")
            except FileNotFoundError:
                self._repoint(seg_idx)  # raises StoreError when nothing holds the rows
                continue
            self._cache_data(key, data)
        buf = data[local - starts[rg]].as_buffer()
        if buf is None:
            raise self._no_raw(row, seg_idx, local)
        arr = np.frombuffer(buf, dtype=np.dtype(info["dtype"]))
        shard = info["shard"]
        if shard is not None:  # one rank's block of a sharded tensor: its own shape
            block: np.ndarray = arr.reshape(shard[len(shard) // 2 :])
            return block
        return arr.reshape(info["shape"] or ())

    def _row_histogram(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        table = None
        while table is None:
            seg_idx, local = self._seg_of_row(row)
            table = self._hist_cache.get(seg_idx)
            if table is None:
                try:
                    table = self._read_columns(seg_idx, ("hist_edges", "hist_counts"))
                except FileNotFoundError:
                    self._repoint(seg_idx)
                    continue
                if len(self._hist_cache) > 64:
                    self._hist_cache.clear()
                self._hist_cache[seg_idx] = table
        edges, counts = table.column("hist_edges")[local], table.column("hist_counts")[local]
        if not edges.is_valid or not counts.is_valid:
            raise StoreError(f"row {local} of {self.fs.url(self.segments[seg_idx].path)} holds no histogram")
        return (
            np.asarray(edges.values.to_numpy(zero_copy_only=False), dtype=np.float64),
            np.asarray(counts.values.to_numpy(zero_copy_only=False), dtype=np.int64),
        )
