"""The heavy half of a merge: read and decode the inputs, concatenate, thin, cluster, encode
and publish the merged segment file. No manifest, no removal: the compactor that owns the
manifest publishes the result (:meth:`smdbg.store.compact.Compactor.merge`). A job and its
result are plain JSON values, so the merge can run in another process
(:mod:`smdbg.store._merge_worker`) as well as on a thread of the writer's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from smdbg.exceptions import CorruptSegmentError, UnsupportedFormatVersion
from smdbg.store._cluster import cluster_by_tensor, source_positions
from smdbg.store._parquet import decode_segment, parquet_bytes
from smdbg.store.format import (
    COLUMNS,
    FORMAT_VERSION,
    FORMAT_VERSION_KEY,
    ORDER_KEY,
    SOURCES_KEY,
    TENSOR_COLLECTIONS_KEY,
    WORKER_KEY,
    SegmentName,
    schema,
)
from smdbg.store.fs import StoreFS
from smdbg.store.manifest import Entry, table_entry
from smdbg.store.retention import RETENTION_KEY, retention_meta, thin_table

__all__ = ["MergeJob", "MergeResult", "merge_segments"]

MERGED, GONE, UNCHANGED, BAD = "merged", "gone", "unchanged", "bad"


@dataclass(frozen=True)
class MergeJob:
    """One merge: the inputs (segment names, consecutive) under ``dir`` of a trial store."""

    dir: str  # "events/<worker dir>"
    group: list[str]
    compression: str = "zstd"
    fsync: bool = True
    cutoff: int | None = None  # raw tensors of steps before it are dropped (retention)
    keep_raw_steps: int | None = None
    only_if_thinned: bool = False  # a rewrite of one segment: only when retention drops rows

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class MergeResult:
    """What a merge did. ``status``: ``merged`` (``name``/``entry`` published), ``gone`` (an
    input was removed meanwhile), ``unchanged`` (``only_if_thinned`` and nothing to drop) or
    ``bad`` (an input could not be read: ``bad`` maps its path to the reason)."""

    status: str
    name: str | None = None
    entry: Entry | None = None
    collections: dict[str, list[str]] = field(default_factory=dict)
    dropped: int = 0
    bad: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> MergeResult:
        if value.get("status") not in (MERGED, GONE, UNCHANGED, BAD):
            raise ValueError(f"not a merge result: {json.dumps(value)[:200]}")
        return cls(**value)


def _no_pause() -> None:
    return None


def merge_segments(fs: StoreFS, job: MergeJob, pause: Callable[[], None] = _no_pause) -> MergeResult:
    """Merge ``job.group`` into one segment written atomically beside them (the inputs stay);
    ``pause`` is called between the steps (a thread yields the GIL there). Errors other than
    an unreadable or vanished input propagate."""
    import pyarrow as pa

    retention: bytes | None = None
    tables: list[Any] = []
    positions: list[np.ndarray] = []  # each row's place in the sources (see _cluster)
    sources: list[list[int]] = []
    colls: dict[str, list[str]] = {}
    worker = None
    first_row = 0
    names = [SegmentName.parse(n) for n in job.group]
    group = [s for s in names if s is not None]
    if len(group) != len(names) or not group:
        raise ValueError(f"merge job {job.group!r}: expected one or more segment names")
    for s in group:
        path = f"{job.dir}/{s}"
        try:
            table, meta = decode_segment(fs.url(path), fs.read_bytes(path), s.crc32, COLUMNS)
            pos = source_positions(meta.get(ORDER_KEY), table.num_rows)
        except FileNotFoundError:
            return MergeResult(GONE)  # another pass removed it; the listing moves on
        except (CorruptSegmentError, UnsupportedFormatVersion, ValueError) as e:
            return MergeResult(BAD, bad={path: str(e)})
        worker = worker or meta.get(WORKER_KEY)
        retention = meta.get(RETENTION_KEY) or retention
        for tensor, c in json.loads(meta.get(TENSOR_COLLECTIONS_KEY, b"{}")).items():
            colls.setdefault(tensor, list(c))
        inner = json.loads(meta.get(SOURCES_KEY, b"null") or b"null") or [[s.seq, s.seq_last, 0]]
        sources += [[lo, hi, first_row + row] for lo, hi, row in inner]
        positions.append(first_row + (np.arange(table.num_rows, dtype=np.int64) if pos is None else pos))
        first_row += table.num_rows
        tables.append(table.replace_schema_metadata(None))
        pause()
    merged, dropped = pa.concat_tables(tables), 0
    if job.cutoff is not None and job.keep_raw_steps is not None:
        merged, dropped = thin_table(merged, job.cutoff)
        if dropped:
            retention = retention_meta(job.keep_raw_steps, job.cutoff, retention)
    if job.only_if_thinned and not dropped:
        return MergeResult(UNCHANGED)
    merged, order, groups = cluster_by_tensor(merged, np.concatenate(positions))
    pause()
    merged = merged.replace_schema_metadata({
        FORMAT_VERSION_KEY: str(FORMAT_VERSION).encode(),
        WORKER_KEY: worker or job.dir.rsplit("/", 1)[-1].encode(),
        TENSOR_COLLECTIONS_KEY: json.dumps(colls).encode(),
        SOURCES_KEY: json.dumps(sources).encode(),
        **({ORDER_KEY: order} if order else {}),
        **({RETENTION_KEY: retention} if retention else {}),
    })  # fmt: skip
    merged = merged.cast(schema().with_metadata(merged.schema.metadata))
    body, crc = parquet_bytes(merged, merged.nbytes, job.compression, groups=groups)
    pause()
    name = SegmentName(
        group[0].seq, min(s.first_step for s in group), max(s.last_step for s in group), crc,
        max(s.seq_last for s in group),
    )  # fmt: skip
    fs.write_atomic(f"{job.dir}/{name}", body, fsync=job.fsync)
    entry = table_entry(name, len(body), merged)
    pause()
    return MergeResult(MERGED, str(name), entry, colls, dropped)
