"""Reading a trial: lists segments (never steps), loads new ones incrementally, keeps an index.

The index (:class:`~smdbg.store._index.RowIndex`) holds one row per saved value in numpy arrays
(step, mode, mode_step, worker, tensor, reduction, value), grouped per tensor, so a tensor's
whole history of one reduction is a slice of one column. Segments known from a manifest are read
when a query first needs them, and a query about one tensor reads only that tensor's rows of the
segments holding it. Raw tensor bytes are read lazily per segment (:mod:`smdbg.store._raw_rows`).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from smdbg.exceptions import CorruptSegmentError, UnsupportedFormatVersion
from smdbg.modes import ModeKeys
from smdbg.store._arrays import Codes, numpy_of, source_size
from smdbg.store._compacted import Reset, SeqCover, choose_segments, uncovered_rows
from smdbg.store._deferred import Deferred, DeferredReads, ReadStats
from smdbg.store._index import RowIndex
from smdbg.store._parquet import decode_segment, page_checksums_supported
from smdbg.store._range import StepRange
from smdbg.store._raw_rows import RawRows, Segment
from smdbg.store.format import (
    DICTIONARY_COLUMNS,
    END_FILE,
    EVENTS_DIR,
    FORMAT_VERSION,
    INDEX_COLUMNS,
    ORDER_KEY,
    PROGRESS_FILE,
    TENSOR_COLLECTIONS_KEY,
    TRIAL_FILE,
    WORKER_KEY,
    SegmentName,
)
from smdbg.store.fs import StoreFS, open_fs
from smdbg.store.lease import abnormal_end
from smdbg.store.manifest import listed_entries

__all__ = ["TrialReader", "ReadStats", "MODE_NAMES"]

log = logging.getLogger(__name__)
MODE_NAMES: tuple[str, ...] = tuple(m.name for m in ModeKeys)
_MODE_CODE = {name: i for i, name in enumerate(MODE_NAMES)}


class TrialReader(DeferredReads, RawRows):
    """Incremental reader of one trial. Thread-safe; ``refresh()`` picks up new segments."""

    def __init__(
        self,
        path: str | os.PathLike[str] | StoreFS,
        *,
        on_corrupt: str = "warn",
        data_cache_bytes: int = 512 << 20,
        full_check_bytes: int | None = 16 << 20,
        storage_options: Mapping[str, Any] | None = None,
        step_range: StepRange | Sequence[int | None] | None = None,
    ) -> None:
        if on_corrupt not in ("warn", "raise"):
            raise ValueError(f"on_corrupt={on_corrupt!r}: expected 'warn' or 'raise'")
        self.fs = path if isinstance(path, StoreFS) else open_fs(path, **dict(storage_options or {}))
        self.on_corrupt = on_corrupt
        # smdebug's range_steps: only global steps begin <= step < end are loaded (None: all).
        self.step_range = StepRange.parse(step_range)
        self.data_cache_bytes = data_cache_bytes
        self.full_check_bytes = full_check_bytes
        self._lock = threading.RLock()
        self._mode_code = _MODE_CODE
        self.tensors = Codes()
        self.reductions = Codes()
        self.workers = Codes()
        self._modes = Codes()
        self.progress: dict[str, dict[str, Any]] = {}
        self.ended: dict[str, dict[str, Any]] = {}
        self.metadata: dict[str, Any] = {}
        self.worker_dirs: list[str] = []
        self.stats = ReadStats()
        self._lease_warned: set[str] = set()
        self._reset_state()

    def _reset_state(self) -> None:
        """Forget every segment read (string codes stay: they only ever grow)."""
        self.segments: list[Segment] = []
        self._known: set[str] = set()
        self._corrupt: dict[str, str] = {}
        self.index = RowIndex(self.tensors, self.reductions, self.workers, self._modes, _MODE_CODE)
        self.tensor_collections: dict[str, set[str]] = {}
        self._data_cache: OrderedDict[tuple[int, int], Any] = OrderedDict()
        self._data_cache_size = 0
        self._hist_cache: dict[int, Any] = {}
        # Per worker dir: the segment sequence numbers taken in (compaction-safe reading).
        self._covers: dict[str, SeqCover] = {}
        # Segments known from a manifest, not (wholly) read yet.
        self._deferred: dict[str, Deferred] = {}
        self._manifest_seen: set[str] = set()

    @property
    def nrows(self) -> int:
        """Rows loaded into the index."""
        return self.index.nrows

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

    def _report_corrupt(self, path: str, e: Exception) -> None:
        self._corrupt[path] = str(e)
        if self.on_corrupt == "raise":
            raise e
        log.error("%s", e)
        warnings.warn(str(e), stacklevel=4)

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

    def _load_rows(
        self, path: str, name: SegmentName, keep: np.ndarray | None, known: bool = True
    ) -> int | None:
        """Read a segment's index columns (only rows ``keep``, if given); None if it vanished."""
        try:
            table, meta = self._open_segment(path, name)
        except (CorruptSegmentError, UnsupportedFormatVersion) as e:
            self._report_corrupt(path, e)
            return 0
        except FileNotFoundError:
            return None
        if known:
            self._known.add(path)
        if keep is not None:
            import pyarrow as pa

            table = table.take(pa.array(keep))
        return self._add_table(table, meta, path, name, keep)

    def _add_table(
        self, table: Any, meta: dict[bytes, Any], path: str, name: SegmentName, keep: np.ndarray | None
    ) -> int:
        """Take decoded index columns into the index (``keep``: their rows in the file)."""
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
        self.segments.append(Segment(path, worker, None, rg_starts, self.nrows, name.crc32, keep, meta.get(ORDER_KEY)))
        if not n:
            return 0
        order, uniq, starts = self.index.add(table, seg_idx, worker)
        if TENSOR_COLLECTIONS_KEY in meta:
            for tensor, colls in json.loads(meta[TENSOR_COLLECTIONS_KEY]).items():
                self.tensor_collections.setdefault(tensor, set()).update(colls)
        else:  # written without the metadata key: read the column
            colls_col = self._segment_info(seg_idx).column("collections")
            for code, lo in zip(uniq.tolist(), starts.tolist()):
                first = int(order[lo])
                self.tensor_collections.setdefault(self.tensors.names[code], set()).update(
                    colls_col[first].as_py() or ()
                )
        return n

    def _open_segment(self, path: str, name: SegmentName) -> tuple[Any, dict[bytes, Any]]:
        """The index columns of a new segment, verified.

        Small segments are read whole and checked against the CRC-32 in their name. Large ones
        (raw tensors) are not read whole just to open the trial: only the index columns are read,
        with Parquet's page checksums verified; the raw data pages are verified when read.
        """
        url = self.fs.url(path)
        self.stats.segment_reads += 1
        got = None
        if self.full_check_bytes is not None and page_checksums_supported():
            with self.fs.open_input(path) as source:
                size = source_size(source)
                if size > self.full_check_bytes:
                    self.stats.index_bytes += size  # an upper bound: only index columns are read
                    got = decode_segment(url, source, None, INDEX_COLUMNS, DICTIONARY_COLUMNS)
        if got is None:
            body = self.fs.read_bytes(path)
            self.stats.index_bytes += len(body)
            got = decode_segment(url, body, name.crc32, INDEX_COLUMNS, DICTIONARY_COLUMNS)
        self.stats.row_groups += len(got[1][b"row_groups"])
        return got

    # -- index access -------------------------------------------------------------------------
    @property
    def cols(self) -> dict[str, np.ndarray]:
        """All index columns of the trial (concatenated lazily; for whole-trial queries)."""
        with self._lock:
            self._load_deferred()
            return self.index.cols

    def tensor_cols(self, name: str) -> dict[str, np.ndarray]:
        """The index columns of one tensor's rows (gathered once per refresh that touches it).
        Of segments known from a manifest, only those holding the tensor are read, and of them
        only its rows."""
        with self._lock:
            self._load_deferred(name)
            return self.index.tensor_cols(name)

    def unique_steps(self, mode_code: int | None) -> np.ndarray:
        """Sorted distinct global steps (``mode_code=None``) or mode steps of one mode."""
        with self._lock:
            return self.index.unique_steps(mode_code, self._deferred_steps())

    def modes_present(self) -> list[int]:
        with self._lock:
            return self.index.modes_present(self._deferred_steps())

    def _deferred_steps(self) -> list[tuple[np.ndarray, dict[int, np.ndarray]]]:
        return [(d.steps, d.modes) for d in self._deferred.values()]

    def row_info(self, row: int) -> dict[str, Any]:
        """dtype, shape, collections and shard (a raw block's offset and shape, or None) of one row."""
        with self._lock:
            return self._row_info(row)

    def row_array(self, row: int) -> np.ndarray:
        """The raw tensor saved in one row, as a numpy array of its dtype and shape."""
        with self._lock:
            return self._row_array(row)

    def row_histogram(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """The histogram saved in one row: (bin edges as float64, counts as int64). The
        segment's two histogram columns are read once, when first asked for (a segment of format
        version 1 has none: StoreError)."""
        with self._lock:
            return self._row_histogram(row)
