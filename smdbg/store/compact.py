"""Compaction: a worker's small segments merged into large ones, while training runs or after.

A merge reads its inputs (verifying their CRC-32), sorts their rows by tensor (then step:
:mod:`smdbg.store._cluster`, so one tensor's history is a few row groups), and publishes one
segment named ``<lo>-<hi>_<first>-<last>_<crc32>.parquet`` (lo..hi: the sequence numbers it
replaces) by an atomic write. Only then is the manifest updated and are the
inputs removed, so a reader always finds every step in at least one listed segment; it reads a
compacted segment in place of the inputs it covers (see :class:`~smdbg.store.manifest.SeqCover`).
The compacted segment's metadata lists its sources (``smdbg.sources``: sequence range and first
source row of each) and where each source row went (``smdbg.order``), so a reader that had read
some of the inputs takes in only the rows of the others.

Two policies: the writer's :class:`BackgroundCompactor` merges ``fanout`` consecutive segments of
the same generation (16 one-second segments, then 16 of those, ...), a bounded amount of work
per round on its own thread; :func:`compact_trial` (``smdbg trial compact PATH``) merges every
run of small segments of a finished (or crashed) trial up to ``max_bytes`` per output.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from smdbg.exceptions import CorruptSegmentError, UnsupportedFormatVersion
from smdbg.store._merge import MERGED, UNCHANGED, MergeJob, MergeResult, _no_pause, merge_segments
from smdbg.store._parquet import decode_segment
from smdbg.store.format import EVENTS_DIR, TENSOR_COLLECTIONS_KEY, SegmentName
from smdbg.store.fs import StoreFS, open_fs
from smdbg.store.manifest import Manifest, table_entry
from smdbg.store.retention import check_keep_raw_steps

__all__ = ["Compactor", "compact_trial", "CompactionResult"]

log = logging.getLogger(__name__)

SMALL_BYTES = 16 << 20  # segments below this size are merged
MAX_MERGE_BYTES = 256 << 20  # at most this many input bytes per merged segment
FANOUT = 16
_ENTRY_COLUMNS = ("step", "mode", "mode_step", "tensor", "reduction")


def _generation(name: SegmentName, fanout: int) -> int:
    span, gen = name.seq_last - name.seq + 1, 0
    while span >= fanout:
        span //= fanout
        gen += 1
    return gen


def plan_tiered(
    segs: Sequence[tuple[SegmentName, int]], fanout: int = FANOUT, small_bytes: int = SMALL_BYTES,
    max_bytes: int = MAX_MERGE_BYTES,
) -> list[list[SegmentName]]:  # fmt: skip
    """Groups of ``fanout`` consecutive small segments of one generation (pure)."""
    groups: list[list[SegmentName]] = []
    run: list[tuple[SegmentName, int]] = []
    for name, size in sorted(segs):
        if size >= small_bytes or (run and _generation(name, fanout) != _generation(run[0][0], fanout)):
            run = []
            if size >= small_bytes:
                continue
        run.append((name, size))
        if len(run) == fanout:
            if sum(s for _, s in run) <= max_bytes:
                groups.append([n for n, _ in run])
            run = []
    return groups


def plan_full(
    segs: Sequence[tuple[SegmentName, int]], small_bytes: int = SMALL_BYTES, max_bytes: int = MAX_MERGE_BYTES
) -> list[list[SegmentName]]:
    """Every run of consecutive small segments, cut at ``max_bytes`` of input (pure)."""
    groups: list[list[SegmentName]] = []
    run: list[SegmentName] = []
    total = 0
    for name, size in sorted(segs):
        if size >= small_bytes or total + size > max_bytes:
            if len(run) > 1:
                groups.append(run)
            run, total = [], 0
            if size >= small_bytes:
                continue
        run.append(name)
        total += size
    if len(run) > 1:
        groups.append(run)
    return groups


@dataclass
class CompactionResult:
    """What one compaction pass over a worker did."""

    worker: str
    segments_before: int
    segments_after: int
    merged: int  # merged segments written
    skipped: dict[str, str]  # inputs left alone (path -> reason)
    thinned: int = 0  # segments rewritten to drop old raw tensors (retention)
    dropped_raw: int = 0  # raw tensors dropped by retention


class Compactor:
    """Merges one worker's segments. One compactor per worker stream at a time (the writer's
    lease guarantees it): two compacting the same stream could publish overlapping merges."""

    def __init__(self, fs: StoreFS, worker_dir: str, manifest: Manifest | None = None,
                 compression: str = "zstd", fsync: bool = True, keep_raw_steps: int | None = None) -> None:  # fmt: skip
        self.fs = fs
        self.dir = f"{EVENTS_DIR}/{worker_dir}"
        self.manifest = manifest or Manifest(fs, self.dir, worker_dir)
        self.compression = compression
        self.fsync = fsync
        self.bad: dict[str, str] = {}  # inputs that could not be read: never retried
        # Retention: raw tensors of steps before ``cutoff`` are dropped by merges (None: kept).
        self.keep_raw_steps = check_keep_raw_steps(keep_raw_steps)
        self.cutoff: int | None = None
        self.thinned_rows = 0
        self._clean: dict[SegmentName, int] = {}  # segment -> cutoff it holds no raw data before
        # Called between the steps of a merge: the background compactor yields the GIL there.
        self.pause: Callable[[], None] = _no_pause
        # The heavy half of a merge (see _merge); the background compactor may send it to a
        # child process (_merge_process).
        self.compute: Callable[[MergeJob], MergeResult] = self._compute_here

    def _set_cutoff(self, names: Sequence[SegmentName]) -> None:
        if self.keep_raw_steps is not None and names:
            self.cutoff = max(s.last_step for s in names) - self.keep_raw_steps

    def listing(self) -> list[SegmentName]:
        return [s for n in self.fs.list_dir(self.dir) if (s := SegmentName.parse(n)) is not None]

    def _sizes(self, names: Sequence[SegmentName]) -> list[tuple[SegmentName, int]]:
        out = []
        for s in names:
            path = f"{self.dir}/{s}"
            if path in self.bad:
                continue
            entry = self.manifest.get(str(s))
            try:
                out.append((s, int(entry["bytes"]) if entry else self.fs.size(path)))
            except FileNotFoundError:
                continue
        return out

    def remove_covered(self, names: Sequence[SegmentName]) -> list[SegmentName]:
        """Remove segments that a listed compacted segment contains (left by an interrupted
        compaction); returns the rest."""
        keep = []
        for s in names:
            if any(
                c != s and c.seq <= s.seq and s.seq_last <= c.seq_last
                # the same range twice (a rewrite by retention, interrupted): keep the one
                # readers take first (choose_segments: the lower CRC)
                and ((c.seq, c.seq_last) != (s.seq, s.seq_last) or c.crc32 < s.crc32)
                for c in names
                if c.compacted or c.seq == s.seq
            ):
                self.fs.remove(f"{self.dir}/{s}")
            else:
                keep.append(s)
        return keep

    def run(self, plan: Callable[[Sequence[tuple[SegmentName, int]]], list[list[SegmentName]]],
            max_groups: int | None = None) -> tuple[int, int, int]:  # fmt: skip
        """One pass: (segments before, after, merged segments written)."""
        names = self.remove_covered(self.listing())
        self._set_cutoff(names)
        groups = plan(self._sizes(names))[:max_groups]
        merged = sum(self.merge(group) is not None for group in groups)
        return len(names), len(names) - sum(len(g) - 1 for g in groups[:merged]), merged

    def merge(self, group: Sequence[SegmentName], only_if_thinned: bool = False) -> SegmentName | None:
        """Merge consecutive segments into one (dropping old raw tensors under retention);
        None when an input cannot be read (it is remembered in ``bad`` and left in place, so
        the trial keeps its other data), or, with ``only_if_thinned``, when retention drops
        nothing (a rewrite of one segment by :meth:`thin`). The heavy half (read, encode,
        write the merged file) is :attr:`compute`'s; the publication (manifest, removal of
        the inputs) happens here, in the process that owns the manifest."""
        job = MergeJob(
            self.dir, [str(s) for s in group], self.compression, self.fsync, self.cutoff,
            self.keep_raw_steps, only_if_thinned,
        )  # fmt: skip
        return self.publish(group, self.compute(job))

    def publish(self, group: Sequence[SegmentName], result: MergeResult) -> SegmentName | None:
        """Publish a computed merge of ``group``: manifest entry swapped and saved, inputs removed."""
        for path, reason in result.bad.items():
            self.bad[path] = reason
            log.warning("compaction leaves %s alone: %s", self.fs.url(path), reason)
        if result.status == UNCHANGED and self.cutoff is not None:
            self._clean[group[0]] = self.cutoff
        if result.status != MERGED or result.name is None or result.entry is None:
            return None
        name = SegmentName.parse(result.name)
        if name is None:
            raise ValueError(f"a merge of {group[0]}.. answered {result.name!r}: not a segment name")
        self.thinned_rows += result.dropped
        self.manifest.replace([str(s) for s in group], result.entry, result.collections)
        self.manifest.save()
        for s in group:
            if s != name:
                self.fs.remove(f"{self.dir}/{s}")
        if self.cutoff is not None:
            self._clean[name] = self.cutoff
        return name

    def _compute_here(self, job: MergeJob) -> MergeResult:
        return merge_segments(self.fs, job, self.pause)

    def thin(self, max_segments: int | None = None) -> int:
        """Rewrite listed segments that hold raw tensors of steps before the cutoff (retention),
        one at a time (at most ``max_segments`` read); returns how many were rewritten. The
        rewrite keeps the segment's sequence range and rows, so readers take it as that segment
        compacted. Segments known to hold nothing to drop are not read again."""
        if self.keep_raw_steps is None:
            return 0
        names = self.remove_covered(self.listing())
        self._set_cutoff(names)
        cutoff = self.cutoff
        todo = [
            s for s in names
            if cutoff is not None and s.first_step < cutoff and f"{self.dir}/{s}" not in self.bad
            and not (s in self._clean and (self._clean[s] >= cutoff or s.last_step < self._clean[s]))
        ][:max_segments]  # fmt: skip
        return sum(self.merge([s], only_if_thinned=True) is not None for s in todo)


def compact_trial(
    path: str | os.PathLike[str] | StoreFS, *, max_bytes: int = MAX_MERGE_BYTES, small_bytes: int = SMALL_BYTES,
    storage_options: Mapping[str, Any] | None = None, keep_raw_steps: int | None = None,
) -> list[CompactionResult]:  # fmt: skip
    """Compact every worker of a trial (``smdbg trial compact PATH``) and write their manifests.
    With ``keep_raw_steps=N``, raw tensors of steps older than the worker's latest step - N are
    dropped (reductions and scalars kept), in merged segments and in segments rewritten for it.

    Refuses (:class:`StoreError`, naming the writer) a worker whose writer is still alive."""
    keep_raw_steps = check_keep_raw_steps(keep_raw_steps)
    fs = path if isinstance(path, StoreFS) else open_fs(path, **dict(storage_options or {}))
    from smdbg.store.lease import check_no_live_writer

    results = []
    dirs = sorted(x for x in fs.list_dir(EVENTS_DIR) if not x.startswith("."))
    for d in dirs:  # all before any: a refusal leaves the trial as it was
        check_no_live_writer(fs, d, "compact")
    for d in dirs:
        comp = Compactor(fs, d, keep_raw_steps=keep_raw_steps)
        comp.manifest.load_existing(str(s) for s in comp.listing())
        before, after, merged = comp.run(lambda s: plan_full(s, small_bytes, max_bytes))
        rewritten = comp.thin()
        _index_rest(comp)
        results.append(
            CompactionResult(d, before, after, merged, dict(comp.bad), rewritten, comp.thinned_rows)
        )
    return results


def _index_rest(comp: Compactor) -> None:
    """Add manifest entries for the segments no merge touched (and redo entries written before
    they carried tensor rows), then save the manifest."""
    for s in comp.listing():
        path = f"{comp.dir}/{s}"
        entry = comp.manifest.get(str(s))
        if (entry is not None and "tensor_rows" in entry) or path in comp.bad:
            continue
        try:
            with comp.fs.open_input(path) as source:  # index columns only (large raw segments)
                table, meta = decode_segment(comp.fs.url(path), source, None, _ENTRY_COLUMNS)
            size = comp.fs.size(path)
        except (CorruptSegmentError, UnsupportedFormatVersion, FileNotFoundError) as e:
            comp.bad[path] = str(e)
            continue
        colls = json.loads(meta.get(TENSOR_COLLECTIONS_KEY, b"{}"))
        comp.manifest.add(table_entry(s, size, table), colls)
    comp.manifest.save()
