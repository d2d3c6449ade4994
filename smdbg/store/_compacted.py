"""What a reader needs to take compacted segments in while it follows a live run: never a
step twice, never one missed, and rows it handed out stay valid when their file is merged away.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from smdbg.store._cluster import source_positions
from smdbg.store.format import ORDER_KEY, SOURCES_KEY, SegmentName
from smdbg.store.fs import StoreFS

__all__ = [
    "Reset", "SeqCover", "choose_segments", "Footer", "read_footer", "find_moved", "moved_rows", "uncovered_rows",
]  # fmt: skip


class SeqCover:
    """The segment sequence numbers a reader has taken in, as disjoint intervals.

    Adjacent intervals join (``[0, 3]`` and ``[4, 4]`` are ``[0, 4]``), so a compacted segment
    of inputs 0..4 is recognised as already read when the reader had read 0..3 and 4.
    """

    def __init__(self) -> None:
        self._lo: list[int] = []
        self._hi: list[int] = []

    def add(self, lo: int, hi: int) -> None:
        i = bisect.bisect_left(self._hi, lo - 1)
        j = bisect.bisect_right(self._lo, hi + 1)
        if i < j:
            lo, hi = min(lo, self._lo[i]), max(hi, self._hi[j - 1])
        self._lo[i:j] = [lo]
        self._hi[i:j] = [hi]

    def covers(self, lo: int, hi: int) -> bool:
        i = bisect.bisect_right(self._lo, lo) - 1
        return i >= 0 and self._hi[i] >= hi

    def overlaps(self, lo: int, hi: int) -> bool:
        i = bisect.bisect_left(self._hi, lo)
        return i < len(self._lo) and self._lo[i] <= hi


def choose_segments(names: Iterable[SegmentName]) -> list[SegmentName]:
    """Segments of one listing in reading order: by first sequence number, a compacted segment
    before the inputs it contains (which a reader then skips as covered)."""
    return sorted(names, key=lambda s: (s.seq, -s.seq_last, s.crc32))


@dataclass
class Footer:
    """A segment's row count, row-group starts, (compacted) sources ``[[lo, hi, first source
    row]]`` and row order (``smdbg.order``: see :mod:`smdbg.store._cluster`; None: the file is
    in source order)."""

    rows: int
    rg_starts: list[int]
    sources: list[list[int]]
    order: bytes | None = None
    _inverse: np.ndarray | None = field(default=None, init=False, repr=False)

    def file_rows(self, src: np.ndarray) -> np.ndarray:
        """The file rows holding source rows ``src`` (in the same order)."""
        if self._inverse is None:
            pos = source_positions(self.order, self.rows)
            if pos is None:
                return np.asarray(src, dtype=np.int64)
            self._inverse = np.empty(self.rows, np.int64)
            self._inverse[pos] = np.arange(self.rows, dtype=np.int64)
        rows: np.ndarray = self._inverse[src]
        return rows

    def source_rows(self) -> list[tuple[int, int, int, int]]:
        """(lo, hi, first row, end row) of each source, in row order."""
        ends = [int(r) for _, _, r in self.sources[1:]] + [self.rows]
        return [(int(lo), int(hi), int(r), e) for (lo, hi, r), e in zip(self.sources, ends)]

    def rows_of(self, lo: int, hi: int) -> tuple[int, int] | None:
        """The source rows that the segment lo..hi occupies here, if it is one of the sources
        (or a contiguous run of them); None otherwise."""
        src = self.source_rows()
        idx = [i for i, (a, b, _, _) in enumerate(src) if lo <= a and b <= hi]
        if not idx or idx != list(range(idx[0], idx[-1] + 1)):
            return None
        if src[idx[0]][0] != lo or src[idx[-1]][1] != hi:
            return None
        return src[idx[0]][2], src[idx[-1]][3]


class Reset(Exception):
    """The listing cannot be reconciled with what a reader read: it reads the trial afresh."""


def uncovered_rows(fs: StoreFS, path: str, cover: SeqCover) -> np.ndarray | None:
    """Rows of a compacted segment whose sources the reader has not read (None: it vanished)."""
    try:
        footer = read_footer(fs, path)
    except FileNotFoundError:
        return None
    except Exception as e:  # noqa: BLE001 - damaged: start over, reading it whole reports it
        raise Reset(path) from e
    if not footer.sources:
        raise Reset(path)
    keep = []
    for lo, hi, row, end in footer.source_rows():
        if cover.covers(lo, hi):
            continue
        if cover.overlaps(lo, hi):
            raise Reset(path)  # an input read in part: start over
        keep.append(np.arange(row, end, dtype=np.int64))
    try:
        return np.sort(footer.file_rows(np.concatenate(keep))) if keep else np.zeros(0, np.int64)
    except (ValueError, IndexError) as e:  # a damaged row order: reading it whole reports it
        raise Reset(path) from e


def read_footer(fs: StoreFS, path: str) -> Footer:
    """The footer facts of one segment (a ranged read on an object store)."""
    import pyarrow.parquet as pq

    with fs.open_input(path) as source:
        pf = pq.ParquetFile(source)
        meta = pf.schema_arrow.metadata or {}
        counts = [pf.metadata.row_group(i).num_rows for i in range(pf.metadata.num_row_groups)]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64).tolist() if counts else [0]
    sources: Any = json.loads(meta.get(SOURCES_KEY, b"null") or b"null") or []
    return Footer(int(sum(counts)), starts, sources, meta.get(ORDER_KEY))


def find_moved(
    fs: StoreFS, worker_dir: str, name: SegmentName
) -> tuple[str, SegmentName, Footer, tuple[int, int]] | None:
    """Where the rows of a segment that compaction removed are now: (path, name, footer, (first
    row, end row)) in the listed compacted segment that holds them; None if none does."""
    listed = [s for n in fs.list_dir(worker_dir) if (s := SegmentName.parse(n)) is not None]
    for c in sorted(listed, key=lambda s: s.seq - s.seq_last):  # the largest first
        # a compacted segment, or the same segment rewritten by retention (same sequence range)
        if c != name and (c.compacted or c.seq == name.seq) and c.seq <= name.seq and name.seq_last <= c.seq_last:
            path = f"{worker_dir}/{c}"
            try:
                footer = read_footer(fs, path)
            except FileNotFoundError:
                continue
            rows = footer.rows_of(name.seq, name.seq_last)
            if rows is not None:
                return path, c, footer, rows
    return None


def moved_rows(
    fs: StoreFS, worker_dir: str, name: SegmentName, rows: np.ndarray | None, order: bytes | None
) -> tuple[str, SegmentName, Footer, np.ndarray] | None:
    """Where the file ``rows`` (None: all) of a segment that compaction removed are now:
    (path, name, footer of the listed compacted segment holding them, their rows there in the
    same order); None if none does. ``order``: the removed file's ``smdbg.order``."""
    moved = find_moved(fs, worker_dir, name)
    if moved is None:
        return None
    path, new_name, footer, (first, end) = moved
    if rows is None:
        rows = np.arange(end - first, dtype=np.int64)
    pos = source_positions(order, end - first)
    return path, new_name, footer, footer.file_rows(first + (rows if pos is None else pos[rows]))
