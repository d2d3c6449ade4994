"""Reading a trial: lists segments (never steps), loads new ones incrementally, keeps an index.

The index holds one row per saved value in numpy arrays (step, mode, mode_step, worker,
tensor, reduction, value), grouped per tensor, so a tensor's whole history of one reduction is
a slice of one column. Raw tensor bytes are read lazily per segment and kept in a bounded LRU.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from smdbg.exceptions import CorruptSegmentError, RawTensorDropped, StoreError, UnsupportedFormatVersion
from smdbg.modes import ModeKeys
from smdbg.store._arrays import EMPTY, INDEX_ARRAYS, codes_of, concat, distinct, group, numpy_of, source_size
from smdbg.store._arrays import Codes as _Codes
from smdbg.store._compacted import Reset, SeqCover, choose_segments, find_moved, uncovered_rows
from smdbg.store._range import StepRange
from smdbg.store._segment import decode_segment, page_checksums_supported
from smdbg.store.format import (
    DICTIONARY_COLUMNS,
    END_FILE,
    EVENTS_DIR,
    FORMAT_VERSION,
    INDEX_COLUMNS,
    PROGRESS_FILE,
    TENSOR_COLLECTIONS_KEY,
    TRIAL_FILE,
    WORKER_KEY,
    SegmentName,
)
from smdbg.store.fs import StoreFS, open_fs
from smdbg.store.lease import abnormal_end
from smdbg.store.manifest import decode_runs, listed_entries
from smdbg.store.retention import retention_of

__all__ = ["TrialReader", "MODE_NAMES"]

log = logging.getLogger(__name__)
MODE_NAMES: tuple[str, ...] = tuple(m.name for m in ModeKeys)
_MODE_CODE = {name: i for i, name in enumerate(MODE_NAMES)}
_INT_COLS = ("step", "mode_step")


@dataclass
class _Segment:
    path: str
    worker: str
    info: Any  # pyarrow.Table of dtype, shape, collections (None until first needed)
    rg_starts: list[int]  # first local row of each Parquet row group
    base: int  # first global row index
    crc: int
    rows: np.ndarray | None = None  # file row of each loaded row (when only some were taken in)
    offset: int = 0  # where those rows start in the file (moved into a compacted segment)


class TrialReader:
    """Incremental reader of one trial. Thread-safe; ``refresh()`` picks up new segments."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        on_corrupt: str = "warn",
        data_cache_bytes: int = 512 << 20,
        full_check_bytes: int | None = 16 << 20,
        storage_options: Mapping[str, Any] | None = None,
        step_range: StepRange | Sequence[int | None] | None = None,
    ) -> None:
        if on_corrupt not in ("warn", "raise"):
            raise ValueError(f"on_corrupt={on_corrupt!r}: expected 'warn' or 'raise'")
        self.fs: StoreFS = path if isinstance(path, StoreFS) else open_fs(path, **dict(storage_options or {}))
        self.on_corrupt = on_corrupt
        # smdebug's range_steps: only global steps begin <= step < end are loaded (None: all).
        self.step_range = StepRange.parse(step_range)
        self.data_cache_bytes = data_cache_bytes
        self.full_check_bytes = full_check_bytes
        self._lock = threading.RLock()
        self.tensors = _Codes()
        self.reductions = _Codes()
        self.workers = _Codes()
        self._modes = _Codes()
        self.progress: dict[str, dict[str, Any]] = {}
        self.ended: dict[str, dict[str, Any]] = {}
        self.metadata: dict[str, Any] = {}
        self.worker_dirs: list[str] = []
        self._lease_warned: set[str] = set()
        self._reset_state()

    def _reset_state(self) -> None:
        """Forget every segment read (string codes stay: they only ever grow)."""
        self.segments: list[_Segment] = []
        self._known: set[str] = set()
        self._corrupt: dict[str, str] = {}
        # Index columns, one array per loaded (non-empty) segment, concatenated only on demand.
        self._chunks: dict[str, list[np.ndarray]] = {c: [] for c in INDEX_ARRAYS}
        self._chunk_of_seg: dict[int, int] = {}
        self._bases: list[int] = []  # first global row of each segment
        self._cols: dict[str, np.ndarray] | None = None
        # tensor code -> [(chunk position, local rows)], and the gathered per-tensor columns.
        self._tensor_parts: dict[int, list[tuple[int, np.ndarray]]] = {}
        self._tensor_cols: dict[int, dict[str, np.ndarray]] = {}
        # Distinct steps per chunk: (global steps, {mode code: mode steps}).
        self._chunk_steps: list[tuple[np.ndarray, dict[int, np.ndarray]]] = []
        self._steps_cache: dict[int | None, np.ndarray] = {}
        self.tensor_collections: dict[str, set[str]] = {}
        self.nrows = 0
        self._data_cache: OrderedDict[tuple[int, int], Any] = OrderedDict()
        self._data_cache_size = 0
        self._hist_cache: dict[int, Any] = {}  # segment -> its hist_edges/hist_counts columns
        # Per worker dir: the segment sequence numbers taken in (compaction-safe reading).
        self._covers: dict[str, SeqCover] = {}
        # Segments known from a manifest, not read yet: path -> (name, global steps, mode steps).
        self._deferred: dict[str, tuple[SegmentName, np.ndarray, dict[int, np.ndarray]]] = {}
        self._manifest_seen: set[str] = set()

    # -- loading ------------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.fs.exists(TRIAL_FILE) or bool(self.fs.list_dir(EVENTS_DIR))

    def refresh(self) -> int:
        """Load segments published since the last call; returns how many rows were added."""
        with self._lock:
            self._read_metadata()
            dirs = sorted(d for d in self.fs.list_dir(EVENTS_DIR) if not d.startswith("."))
            self.worker_dirs = dirs
            # Progress and end markers are read before listing segments: whatever they cover
            # was published before them, so the listing below includes it.
            for d in dirs:
                self._read_marker(f"{EVENTS_DIR}/{d}/{PROGRESS_FILE}", self.progress, d)
                self._read_marker(f"{EVENTS_DIR}/{d}/{END_FILE}", self.ended, d)
                if d not in self.ended and (dead := abnormal_end(self.fs, d, self._lease_warned)):
                    self.ended[d] = {**dead, "last_step": self.progress.get(d, {}).get("step", -1)}
            added = 0
            for _ in range(8):
                try:
                    # A segment that vanished between listing and reading was compacted: its
                    # rows are in a segment published before it was removed; list again.
                    vanished = False
                    for d in dirs:
                        n, v = self._refresh_worker(d)
                        added, vanished = added + n, vanished or v
                    if not vanished:
                        break
                except Reset:
                    log.info("re-reading %s: compaction replaced segments partly read", self.fs.url())
                    self._reset_state()
                    added = 0
            if added:
                self._cols = None
                self._steps_cache.clear()
            return added

    def _refresh_worker(self, d: str) -> tuple[int, bool]:
        """Take in one worker's new segments: (rows added, whether a listed segment vanished)."""
        wdir = f"{EVENTS_DIR}/{d}"
        names = [s for n in self.fs.list_dir(wdir) if (s := SegmentName.parse(n)) is not None]
        cover = self._covers.setdefault(d, SeqCover())
        new = [s for s in names if f"{wdir}/{s}" not in self._known and f"{wdir}/{s}" not in self._corrupt]
        entries: dict[str, Any] = {}
        if new and (d not in self._manifest_seen or len(new) >= 32):
            self._manifest_seen.add(d)
            entries, colls = listed_entries(self.fs, wdir, names)
            for tensor, c in colls.items():
                self.tensor_collections.setdefault(tensor, set()).update(c)
        added, vanished = 0, False
        for s in choose_segments(new):
            path = f"{wdir}/{s}"
            rng = self.step_range
            if cover.covers(s.seq, s.seq_last):
                self._known.add(path)  # a compacted segment's inputs, or one already read
            elif rng is not None and rng.disjoint(s.first_step, s.last_step) and not cover.overlaps(s.seq, s.seq_last):
                self._known.add(path)  # outside range_steps: never read
                cover.add(s.seq, s.seq_last)
            elif (
                str(s) in entries
                and not cover.overlaps(s.seq, s.seq_last)
                and (rng is None or rng.contains(s.first_step, s.last_step))
            ):
                self._defer(path, s, entries[str(s)])
                cover.add(s.seq, s.seq_last)
            else:
                n = self._load_segment(path, s, cover)
                if n is None:
                    vanished = True
                else:
                    added += n
        return added, vanished

    def _defer(self, path: str, name: SegmentName, entry: dict[str, Any]) -> None:
        """Know a segment from its manifest entry; its rows are read when first needed."""
        for t in entry.get("tensors", ()):
            self.tensors.code(t)
        for r in entry.get("reductions", ()):
            self.reductions.code(r)
        self.workers.code(entry["worker"])
        modes = {_MODE_CODE.get(m, 3): decode_runs(r) for m, r in (entry.get("mode_steps") or {}).items()}
        self._deferred[path] = (name, decode_runs(entry.get("steps") or []), modes)
        self._known.add(path)
        self._steps_cache.clear()

    def _load_deferred(self) -> None:
        """Read the segments known only from a manifest (before any query on rows)."""
        if not self._deferred:
            return
        for path, (name, _, _) in list(self._deferred.items()):
            del self._deferred[path]
            if self._load_rows(path, name, None) is not None:
                continue
            # Compacted since the manifest was read: its rows are in a compacted segment.
            moved = find_moved(self.fs, path.rsplit("/", 1)[0], name)
            if moved is None:
                raise StoreError(f"segment {self.fs.url(path)} was removed and no compacted segment holds it")
            cpath, cname, _, (first, end) = moved
            self._load_rows(cpath, cname, np.arange(first, end, dtype=np.int64), known=False)
        self._cols = None
        self._steps_cache.clear()

    @property
    def corrupt(self) -> dict[str, str]:
        """Segments that could not be read (path -> reason). Segments known from a manifest are
        verified when first read: asking reads them."""
        with self._lock:
            self._load_deferred()
            return self._corrupt

    def abnormal_ends(self) -> dict[str, str]:
        """Worker streams that ended abnormally (a write error at close, or a writer that died:
        its lease went stale), with the reason."""
        with self._lock:
            return {
                d: str(e.get("reason", "ended abnormally"))
                for d, e in self.ended.items()
                if e.get("abnormal")
            }

    def _read_metadata(self) -> None:
        try:
            data = json.loads(self.fs.read_bytes(TRIAL_FILE))
        except FileNotFoundError:
            return
        except (ValueError, OSError) as e:
            log.warning("cannot read %s: %s", self.fs.url(TRIAL_FILE), e)
            return
        version = int(data.get("format_version", 0))
        if version > FORMAT_VERSION:
            raise UnsupportedFormatVersion(self.fs.url(TRIAL_FILE), version, FORMAT_VERSION)
        self.metadata = data

    def _read_marker(self, path: str, into: dict[str, dict[str, Any]], worker_dir: str) -> None:
        try:
            into[worker_dir] = json.loads(self.fs.read_bytes(path))
        except FileNotFoundError:
            pass
        except (ValueError, OSError) as e:
            log.warning("cannot read %s: %s", self.fs.url(path), e)

    def _load_segment(self, path: str, name: SegmentName, cover: SeqCover) -> int | None:
        """Read a new segment; of a compacted one only the rows of inputs not read before.
        None: it vanished (compacted) since the listing."""
        keep = None
        if cover.overlaps(name.seq, name.seq_last):
            keep = uncovered_rows(self.fs, path, cover)
            if keep is None:
                return None
        n = self._load_rows(path, name, keep)
        if n is not None:
            cover.add(name.seq, name.seq_last)
        return n

    def _repoint(self, seg_idx: int) -> None:
        """A segment read before was merged away by compaction: find its rows in the compacted
        segment that holds them (row numbers handed out stay valid)."""
        seg = self.segments[seg_idx]
        wdir, base = seg.path.rsplit("/", 1)
        name = SegmentName.parse(base)
        moved = None if name is None else find_moved(self.fs, wdir, name)
        if moved is None:
            raise StoreError(f"segment {self.fs.url(seg.path)} was removed and no compacted segment holds it")
        seg.path, _, footer, (first, _) = moved
        seg.offset, seg.rg_starts, seg.info = seg.offset + first, footer.rg_starts, None
        for key in [k for k in self._data_cache if k[0] == seg_idx]:
            self._data_cache_size -= int(self._data_cache.pop(key).nbytes)
        self._hist_cache.pop(seg_idx, None)

    def _load_rows(
        self, path: str, name: SegmentName, keep: np.ndarray | None, known: bool = True
    ) -> int | None:
        """Read a segment's index columns (only rows ``keep``, if given); None if it vanished."""
        try:
            table, meta = self._open_segment(path, name)
        except (CorruptSegmentError, UnsupportedFormatVersion) as e:
            self._corrupt[path] = str(e)
            if self.on_corrupt == "raise":
                raise
            log.error("%s", e)
            warnings.warn(str(e), stacklevel=3)
            return 0
        except FileNotFoundError:
            return None
        if keep is not None:
            import pyarrow as pa

            table = table.take(pa.array(keep))
        if self.step_range is not None:
            inside = self.step_range.mask(numpy_of(table.column("step")))
            if not inside.all():
                import pyarrow as pa

                table = table.filter(pa.array(inside))
                keep = np.flatnonzero(inside) if keep is None else keep[inside]
        n = int(table.num_rows)
        seg_idx = len(self.segments)
        worker = meta.get(WORKER_KEY, path.split("/")[-2].encode()).decode()
        rg_rows = meta.get(b"row_groups") or [n]
        rg_starts = np.concatenate([[0], np.cumsum(rg_rows)[:-1]]).astype(np.int64).tolist()
        self.segments.append(_Segment(path, worker, None, rg_starts, self.nrows, name.crc32, keep))
        if known:
            self._known.add(path)
        if not n:
            return 0
        ch = self._chunks
        pos = len(self._bases)
        self._chunk_of_seg[seg_idx] = pos
        self._bases.append(self.nrows)
        for c in _INT_COLS:
            ch[c].append(numpy_of(table.column(c)))
        mcodes = codes_of(table.column("mode"), self._modes)
        mode = np.array([_MODE_CODE.get(m, 3) for m in self._modes.names], dtype=np.int8)[mcodes]
        ch["mode"].append(mode)
        ch["worker"].append(np.full(n, self.workers.code(worker), np.int32))
        ch["reduction"].append(codes_of(table.column("reduction"), self.reductions))
        tcodes = codes_of(table.column("tensor"), self.tensors)
        ch["tensor"].append(tcodes)
        ch["value"].append(numpy_of(table.column("value")).astype(np.float64, copy=False))
        ch["wall_time"].append(numpy_of(table.column("wall_time")))
        ch["seg"].append(np.full(n, seg_idx, np.int32))
        ch["row"].append(np.arange(self.nrows, self.nrows + n, dtype=np.int64))
        self._chunk_steps.append(
            (
                distinct(ch["step"][-1]),
                {int(m): distinct(ch["mode_step"][-1][mode == m]) for m in np.unique(mode).tolist()},
            )
        )
        order, uniq, starts = group(tcodes)
        bounds = list(starts[1:]) + [n]
        for code, lo, hi in zip(uniq.tolist(), starts.tolist(), bounds):
            self._tensor_parts.setdefault(code, []).append((pos, order[lo:hi]))
            self._tensor_cols.pop(code, None)
        if TENSOR_COLLECTIONS_KEY in meta:
            for tensor, colls in json.loads(meta[TENSOR_COLLECTIONS_KEY]).items():
                self.tensor_collections.setdefault(tensor, set()).update(colls)
        else:  # written without the metadata key: read the column
            info = self._segment_info(seg_idx)
            colls_col = info.column("collections")
            for code, lo in zip(uniq.tolist(), starts.tolist()):
                first = int(order[lo])
                self.tensor_collections.setdefault(self.tensors.names[code], set()).update(
                    colls_col[first].as_py() or ()
                )
        self.nrows += n
        return n

    def _open_segment(self, path: str, name: SegmentName) -> tuple[Any, dict[bytes, Any]]:
        """The index columns of a new segment, verified.

        Small segments are read whole and checked against the CRC-32 in their name. Large ones
        (raw tensors) are not read whole just to open the trial: only the index columns are read,
        with Parquet's page checksums verified; the raw data pages are verified when read.
        """
        url = self.fs.url(path)
        if self.full_check_bytes is not None and page_checksums_supported():
            with self.fs.open_input(path) as source:
                if source_size(source) > self.full_check_bytes:
                    return decode_segment(url, source, None, INDEX_COLUMNS, DICTIONARY_COLUMNS)
        return decode_segment(url, self.fs.read_bytes(path), name.crc32, INDEX_COLUMNS, DICTIONARY_COLUMNS)

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
        """The dtype, shape and collections columns of a segment (read once, when first needed)."""
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

    # -- index access -------------------------------------------------------------------------
    @property
    def cols(self) -> dict[str, np.ndarray]:
        """All index columns of the trial (concatenated lazily; for whole-trial queries)."""
        with self._lock:
            self._load_deferred()
            if self._cols is None:
                self._cols = {c: concat(parts, c) for c, parts in self._chunks.items()}
            return self._cols

    def tensor_cols(self, name: str) -> dict[str, np.ndarray]:
        """The index columns of one tensor's rows (gathered once per refresh that touches it)."""
        with self._lock:
            self._load_deferred()
            code = self.tensors.index.get(name)
            if code is None:
                return {c: concat([], c) for c in INDEX_ARRAYS}
            cached = self._tensor_cols.get(code)
            if cached is None:
                parts = self._tensor_parts.get(code, [])
                cached = {
                    c: concat([self._chunks[c][pos][rows] for pos, rows in parts], c) for c in INDEX_ARRAYS
                }
                self._tensor_cols[code] = cached
            return cached

    def unique_steps(self, mode_code: int | None) -> np.ndarray:
        """Sorted distinct global steps (``mode_code=None``) or mode steps of one mode."""
        with self._lock:
            got = self._steps_cache.get(mode_code)
            if got is None:
                sets = self._chunk_steps + [(g, m) for _, g, m in self._deferred.values()]
                parts = [g if mode_code is None else m.get(mode_code, EMPTY) for g, m in sets]
                got = np.unique(np.concatenate(parts)) if parts else EMPTY
                self._steps_cache[mode_code] = got
            return got

    def modes_present(self) -> list[int]:
        with self._lock:
            sets = self._chunk_steps + [(g, m) for _, g, m in self._deferred.values()]
            return sorted({m for _, modes in sets for m in modes})

    def _seg_of_row(self, row: int) -> tuple[int, int]:
        """(segment, row in its file) of a global row."""
        self._load_deferred()
        pos = int(np.searchsorted(self._bases, row, side="right")) - 1
        seg_idx = int(self._chunks["seg"][pos][0])
        local = row - self._bases[pos]
        seg = self.segments[seg_idx]
        return seg_idx, seg.offset + (local if seg.rows is None else int(seg.rows[local]))

    def row_info(self, row: int) -> dict[str, Any]:
        """dtype, shape, collections and shard (a raw block's offset and shape, or None) of one row."""
        with self._lock:
            seg_idx, local = self._seg_of_row(row)
            t = self._segment_info(seg_idx)
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
        pos = int(np.searchsorted(self._bases, row, side="right")) - 1
        at = row - self._bases[pos]
        tensor = self.tensors.names[int(self._chunks["tensor"][pos][at])]
        return RawTensorDropped(tensor, int(self._chunks["step"][pos][at]), int(policy.get("keep_raw_steps", -1)))

    def row_array(self, row: int) -> np.ndarray:
        """The raw tensor saved in one row, as a numpy array of its dtype and shape."""
        with self._lock:
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
            info = self.row_info(row)
            buf = data[local - starts[rg]].as_buffer()
            if buf is None:
                raise self._no_raw(row, seg_idx, local)
            arr = np.frombuffer(buf, dtype=np.dtype(info["dtype"]))
            shard = info["shard"]
            if shard is not None:  # one rank's block of a sharded tensor: its own shape
                block: np.ndarray = arr.reshape(shard[len(shard) // 2 :])
                return block
            return arr.reshape(info["shape"] or ())

    def row_histogram(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """The histogram saved in one row: (bin edges as float64, counts as int64). The
        segment's two histogram columns are read once, when first asked for (a segment of format
        version 1 has none: StoreError)."""
        with self._lock:
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
