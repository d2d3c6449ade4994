"""The synchronous per-worker sink of a trial writer: segments, progress, end marker, manifest.

:class:`TrialWriter` publishes through a :class:`~smdbg.store.fs.StoreFS` and keeps the worker's
manifest current (an entry per segment it publishes, with each tensor's rows and steps).
:class:`~smdbg.store.writer.BackgroundWriter` runs it on its own thread.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from smdbg.store._parquet import Scratch, parquet_bytes
from smdbg.store._segment import ColumnBuffer, segment_table
from smdbg.store.format import (
    END_FILE,
    EVENTS_DIR,
    FORMAT_VERSION,
    PROGRESS_FILE,
    TRIAL_FILE,
    SegmentName,
    worker_dirname,
)
from smdbg.store.fs import StoreFS
from smdbg.store.manifest import Manifest, table_entry

__all__ = ["TrialWriter"]


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, indent=1, sort_keys=True, default=str).encode()


class TrialWriter:
    """Publishes one worker's segments, progress and end marker. Not thread-safe by itself.

    It continues the worker's segment sequence; whether it may write into the stream at all is
    the lease's decision (:meth:`smdbg.store.lease.Lease.acquire`, taken by :class:`BackgroundWriter`).
    """

    def __init__(self, fs: StoreFS, worker: str, compression: str = "zstd", fsync: bool = True) -> None:
        self.fs = fs
        self.worker = worker
        self.dir = f"{EVENTS_DIR}/{worker_dirname(worker)}"
        self.compression = compression
        self.fsync = fsync
        listed = fs.list_dir(self.dir)
        existing = [s for n in listed if (s := SegmentName.parse(n)) is not None]
        self._seq = max((s.seq_last for s in existing), default=-1) + 1
        self._existing = existing
        self.segments_written = 0
        self.bytes_written = 0
        self.last_bytes = 0
        self._scratch = Scratch()
        self.manifest = Manifest(fs, self.dir, worker)
        self.manifest.load_existing(listed)

    def write_segment(self, buf: ColumnBuffer) -> str:
        first, last = buf.step_range()
        table, colls = segment_table(buf, self.worker, self._scratch)
        body, crc = parquet_bytes(table, buf.nbytes, self.compression, self._scratch)
        name = SegmentName(self._seq, first, last, crc)
        path = f"{self.dir}/{name}"
        self.fs.write_atomic(path, body, fsync=self.fsync)
        self.manifest.add(table_entry(name, len(body), table), colls)
        self._seq += 1
        self.segments_written += 1
        self.bytes_written += len(body)
        self.last_bytes = len(body)
        return path

    def existing_bytes(self) -> int:
        """Bytes of the worker's segments already there (a writer continuing a stream)."""
        total = 0
        for s in self._existing:
            entry = self.manifest.get(str(s))
            try:
                total += int(entry["bytes"]) if entry else self.fs.size(f"{self.dir}/{s}")
            except FileNotFoundError:
                continue
        return total

    def write_progress(self, progress: Mapping[str, Any]) -> None:
        self.fs.write_atomic(f"{self.dir}/{PROGRESS_FILE}", _json_bytes(dict(progress)), fsync=False)

    def write_end(self, info: Mapping[str, Any]) -> None:
        self.fs.write_atomic(f"{self.dir}/{END_FILE}", _json_bytes(dict(info)), fsync=self.fsync)

    def write_trial_metadata(self, meta: Mapping[str, Any]) -> None:
        self.fs.write_atomic(
            TRIAL_FILE, _json_bytes({"format_version": FORMAT_VERSION, **meta}), fsync=self.fsync
        )
