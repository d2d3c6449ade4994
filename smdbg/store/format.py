"""The on-disk layout and schema of a trial (format version 2).

::

    <trial>/trial.json                          trial metadata (framework, collections, workers)
    <trial>/events/<worker>/<seq>_<first>-<last>_<crc32>.parquet   immutable segments
    <trial>/events/<worker>/progress.json       the worker's current step (rewritten atomically)
    <trial>/events/<worker>/<lo>-<hi>_<first>-<last>_<crc32>.parquet   a compacted segment
                                                (merged from segments lo..hi)
    <trial>/events/<worker>/manifest.json       index of the worker's segments (optional)
    <trial>/events/<worker>/lease.json          the live writer: host, pid, heartbeat
    <trial>/events/<worker>/END.json            end-of-training marker
    <trial>/control/stop.json                   a stop request (rule action)
    <trial>/rules/<rule>/status.json            a rule job's status and findings

A segment is a Parquet file of many steps, published by an atomic rename (or one PUT on an
object store); its name carries the CRC-32 of the whole file. Readers ignore names starting
with ``.`` (temporary files).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = [
    "FORMAT_VERSION",
    "RAW",
    "TRIAL_FILE",
    "EVENTS_DIR",
    "PROGRESS_FILE",
    "END_FILE",
    "MANIFEST_FILE",
    "LEASE_FILE",
    "CONTROL_DIR",
    "STOP_FILE",
    "RULES_DIR",
    "COLUMNS",
    "schema",
    "SegmentName",
    "worker_dirname",
]

FORMAT_VERSION = 2
#: Columns added after version 1 (version 2: histograms); a segment of an earlier version reads
#: them as nulls (see ``_parquet.decode_segment``).
ADDED_COLUMNS = {"hist_edges": 2, "hist_counts": 2, "shard": 2}
FORMAT_VERSION_KEY = b"smdbg.format_version"
WORKER_KEY = b"smdbg.worker"
TENSOR_COLLECTIONS_KEY = b"smdbg.tensor_collections"
SOURCES_KEY = b"smdbg.sources"  # a compacted segment: [[seq_lo, seq_hi, first_row], ...] of its inputs
ORDER_KEY = b"smdbg.order"  # a compacted segment's rows by tensor: {tensor: source rows} (_cluster.py)
RAW = "raw"
TRIAL_FILE = "trial.json"
EVENTS_DIR = "events"
PROGRESS_FILE = "progress.json"
END_FILE = "END.json"
MANIFEST_FILE = "manifest.json"
LEASE_FILE = "lease.json"
CONTROL_DIR = "control"
STOP_FILE = "stop.json"
RULES_DIR = "rules"

COLUMNS = (
    "step", "mode", "mode_step", "worker", "tensor", "collections",
    "reduction", "value", "dtype", "shape", "data", "wall_time", "hist_edges", "hist_counts", "shard",
)  # fmt: skip
META_COLUMNS = tuple(c for c in COLUMNS if c != "data")
# What a reader loads when it opens a segment; the rest is read when asked for.
INDEX_COLUMNS = ("step", "mode", "mode_step", "tensor", "reduction", "value", "wall_time")
DICTIONARY_COLUMNS = ("mode", "tensor", "reduction")

_SEGMENT_RE = re.compile(r"^(\d{6,})(?:-(\d{6,}))?_(-?\d+)-(-?\d+)_([0-9a-f]{8})\.parquet$")


def schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("step", pa.int64()),
            ("mode", pa.string()),
            ("mode_step", pa.int64()),
            ("worker", pa.string()),
            ("tensor", pa.string()),
            ("collections", pa.list_(pa.string())),
            ("reduction", pa.string()),
            ("value", pa.float64()),
            ("dtype", pa.string()),
            ("shape", pa.list_(pa.int64())),
            ("data", pa.large_binary()),
            ("wall_time", pa.float64()),
            ("hist_edges", pa.list_(pa.float64())),  # a histogram row's bin edges (bins + 1)
            ("hist_counts", pa.list_(pa.int64())),  # and counts (bins); null on other rows
            ("shard", pa.list_(pa.int64())),  # a raw shard's offset and own shape; null otherwise
        ],
        metadata={FORMAT_VERSION_KEY: str(FORMAT_VERSION).encode()},
    )


@dataclass(frozen=True, order=True)
class SegmentName:
    """A segment file's name: its sequence number (a compacted segment: the range ``seq`` ..
    ``seq_last`` of the segments merged into it), step range and CRC-32 of the whole file."""

    seq: int
    first_step: int
    last_step: int
    crc32: int
    seq_last: int = -1  # -1: the same as seq (a segment as the writer published it)

    def __post_init__(self) -> None:
        if self.seq_last < self.seq:
            object.__setattr__(self, "seq_last", self.seq)

    @property
    def compacted(self) -> bool:
        return self.seq_last != self.seq

    def __str__(self) -> str:
        seqs = f"{self.seq:06d}-{self.seq_last:06d}" if self.compacted else f"{self.seq:06d}"
        return f"{seqs}_{self.first_step}-{self.last_step}_{self.crc32:08x}.parquet"

    @classmethod
    def parse(cls, name: str) -> SegmentName | None:
        m = _SEGMENT_RE.match(name)
        if not m:
            return None
        seq = int(m.group(1))
        last = int(m.group(2)) if m.group(2) else seq
        return cls(seq, int(m.group(3)), int(m.group(4)), int(m.group(5), 16), last)


_WORKER_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def worker_dirname(worker: str) -> str:
    """A worker name as a safe directory name (``worker_0``)."""
    if not worker:
        raise ValueError("worker name must be a non-empty string")
    return _WORKER_SAFE.sub("_", worker)
