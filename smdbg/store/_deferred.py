"""Segments a reader knows from a manifest entry but has not read (or read only in part).

Opening a trial takes steps, modes and tensor names from the manifests; a segment's rows are
read on the first query that needs them, and a query about one tensor reads only that tensor's
rows (``tensor_rows`` of the entry) of the segments that hold it. :class:`DeferredReads` is that
part of :class:`~smdbg.store.reader.TrialReader`.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from smdbg.exceptions import CorruptSegmentError, StoreError, UnsupportedFormatVersion
from smdbg.store._arrays import Codes, codes_of
from smdbg.store._compacted import moved_rows
from smdbg.store._index import RowIndex
from smdbg.store._parquet import decode_rows, page_checksums_supported
from smdbg.store.format import DICTIONARY_COLUMNS, INDEX_COLUMNS, ORDER_KEY, SegmentName
from smdbg.store.fs import StoreFS
from smdbg.store.manifest import decode_blocks, decode_runs

__all__ = ["Deferred", "deferred_of", "DeferredReads", "ReadStats"]

log = logging.getLogger(__name__)

# A query reads only some row groups of a segment (ranged reads) when the segment is larger
# than this (and the reader's ``full_check_bytes``) and the query needs less than
# 1/RANGED_FRACTION of its rows, or when it is larger than ``full_check_bytes``; else it reads
# the whole file in one request.
RANGED_MIN_BYTES = 1 << 20
RANGED_FRACTION = 4


@dataclass
class Deferred:
    """A segment known from its manifest entry: what the entry says, and what was read of it."""

    name: SegmentName
    steps: np.ndarray  # distinct global steps
    modes: dict[int, np.ndarray]  # mode code -> distinct mode steps
    rows: int  # rows in the file
    nbytes: int  # size of the file (0: unknown)
    tensors: frozenset[str]
    tensor_rows: dict[str, Any] | None  # tensor -> block runs (None: an entry without them)
    loaded: dict[str, np.ndarray] = field(default_factory=dict)  # tensor -> file rows read
    order: bytes | None = None  # the file's row order (``smdbg.order``), once part of it was read

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


@dataclass
class ReadStats:
    """What a reader read of segments' index columns: reads (a whole segment, or some of its
    row groups), the row groups decoded, and bytes (whole files, or the compressed column
    chunks read)."""

    segment_reads: int = 0
    index_bytes: int = 0
    row_groups: int = 0


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
        int(entry.get("bytes") or 0),
        frozenset(entry.get("tensors", ())),
        tensor_rows,
    )


class DeferredReads:
    """Reading segments known from a manifest when a query needs them (the reader's lock is
    held by the caller)."""

    fs: StoreFS
    tensors: Codes
    reductions: Codes
    workers: Codes
    index: RowIndex
    stats: ReadStats
    _deferred: dict[str, Deferred]
    _known: set[str]
    _mode_code: dict[str, int]

    full_check_bytes: int | None

    def _load_rows(self, path: str, name: SegmentName, keep: np.ndarray | None, known: bool = True) -> int | None:
        raise NotImplementedError

    def _add_table(
        self, table: Any, meta: dict[bytes, Any], path: str, name: SegmentName, keep: np.ndarray | None
    ) -> int:
        raise NotImplementedError

    def _report_corrupt(self, path: str, e: Exception) -> None:
        raise NotImplementedError

    def _defer(self, path: str, name: SegmentName, entry: dict[str, Any]) -> None:
        """Know a segment from its manifest entry; its rows are read when first needed."""
        for t in entry.get("tensors", ()):
            self.tensors.code(t)
        for r in entry.get("reductions", ()):
            self.reductions.code(r)
        self.workers.code(entry["worker"])
        self._deferred[path] = deferred_of(name, entry, self._mode_code)
        self._known.add(path)
        self.index.changed()

    def _load_deferred(self, tensor: str | None = None) -> None:
        """Read the segments known only from a manifest (before a query on rows); with
        ``tensor``, only that tensor's rows of the segments holding it."""
        for path, d in list(self._deferred.items()):
            if tensor is not None:
                if tensor not in d.tensors or tensor in d.loaded:
                    continue
                rows = d.rows_of(tensor) if page_checksums_supported() else None
                if rows is not None:
                    if self._load_part(path, d, tensor, rows):
                        continue
                    if path not in self._deferred:  # corrupt: reported, nothing more to read
                        continue
            del self._deferred[path]
            keep = d.rest()
            if keep is not None and not len(keep):
                continue  # every row was read, tensor by tensor
            if self._load_rows(path, d.name, keep) is not None:
                continue
            # Compacted since the manifest was read: its rows are in a compacted segment.
            moved = moved_rows(self.fs, path.rsplit("/", 1)[0], d.name, keep, d.order)
            if moved is None:
                raise StoreError(f"segment {self.fs.url(path)} was removed and no compacted segment holds it")
            self._load_rows(moved[0], moved[1], np.sort(moved[3]), known=False)

    def _load_part(self, path: str, d: Deferred, tensor: str, rows: np.ndarray) -> bool:
        """Read one tensor's rows of a deferred segment: only the row groups holding them, or,
        when that is all of them, the whole segment at once (no second read for the next
        tensor). A small segment is read in one request and checked against its CRC-32, a large
        one with ranged reads and Parquet page checksums. False: read it whole instead (the
        manifest's rows do not match the file, or it was compacted away meanwhile), or it is
        corrupt (reported, and forgotten)."""
        url = self.fs.url(path)
        try:
            if self._read_whole(d, len(rows)):
                body = self.fs.read_bytes(path)
                got = decode_rows(url, body, rows, INDEX_COLUMNS, DICTIONARY_COLUMNS, d.name.crc32)
                self.stats.index_bytes += len(body)
            else:
                with self.fs.open_input(path) as source:
                    got = decode_rows(url, source, rows, INDEX_COLUMNS, DICTIONARY_COLUMNS)
                self.stats.index_bytes += int(got[2][b"bytes_read"] or 0)
        except FileNotFoundError:  # compacted meanwhile: read where its rows went, whole
            return False
        except IndexError as e:
            d.tensor_rows = None
            disagree(f"the manifest entry of {url} does not match the file ({e})")
            return False
        except (CorruptSegmentError, UnsupportedFormatVersion) as e:
            del self._deferred[path]
            self._report_corrupt(path, e)
            return False
        table, local, meta = got
        self.stats.segment_reads += 1
        self.stats.row_groups += int(meta[b"groups_read"])
        d.order = meta.get(ORDER_KEY)
        if not meta.pop(b"whole"):  # the manifest's rows are trusted only once checked
            import pyarrow as pa

            mine = table.take(pa.array(local))
            codes = codes_of(mine.column("tensor"), self.tensors)
            if len(codes) and not bool(np.all(codes == self.tensors.code(tensor))):
                d.tensor_rows = None
                disagree(f"the manifest entry of {url} places other rows than {tensor!r}'s")
                return False
            self._add_table(mine, meta, path, d.name, rows)
            d.loaded[tensor] = rows
            return True
        del self._deferred[path]  # every row group was read: take in every row not read yet
        rest = d.rest()
        if rest is None and table.num_rows == d.rows:
            self._add_table(table, meta, path, d.name, None)
        else:
            import pyarrow as pa

            keep = np.arange(d.rows, dtype=np.int64) if rest is None else rest
            self._add_table(table.take(pa.array(keep)), meta, path, d.name, keep)
        return True

    def _read_whole(self, d: Deferred, rows: int) -> bool:
        """Whether to read a segment in one request, checked against its CRC-32, rather than
        only the row groups a query needs (ranged reads, checked by Parquet's page checksums):
        small segments, and those of which a query needs a large part."""
        if self.full_check_bytes is None or d.nbytes <= min(RANGED_MIN_BYTES, self.full_check_bytes):
            return True
        return d.nbytes <= self.full_check_bytes and rows * RANGED_FRACTION > d.rows
