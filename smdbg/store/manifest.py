"""The per-worker manifest: an index of a worker's segments, so a reader opens a trial without
reading every segment.

``events/<worker>/manifest.json`` (rewritten atomically by the writer and the compactor)::

    {"format_version": 1, "worker": "worker_0", "updated": 1700000000.0,
     "tensor_collections": {"Net_fc.weight": ["weights"]},
     "segments": [{"name": "000000-000015_0-15_1a2b3c4d.parquet", "seq": [0, 15], "rows": 9600,
                   "bytes": 81234, "steps": [[0, 16, 1]], "mode_steps": {"TRAIN": [[0, 16, 1]]},
                   "tensors": ["Net_fc.weight"], "reductions": ["mean", "l2"],
                   "tensor_rows": {"Net_fc.weight": [[0, 3, 16, 600]]},
                   "tensor_steps": {"Net_fc.weight": [0, 15]}}]}

Step sets are stored as arithmetic runs ``[start, count, stride]``; a tensor's rows in the file
(``tensor_rows``) as runs of equal blocks ``[first row, rows per block, blocks, stride]`` (above:
rows 0-2, 600-602, ... of 16 steps), and ``tensor_steps`` is its first and last global step in
the segment. Entries written before these two fields existed lack them; readers then read such
a segment whole. The manifest is a hint: a reader checks it against the directory listing, and
the listing wins (segments missing from the manifest are read directly; entries whose file is
gone are dropped, with a warning); a tensor's rows are checked against the rows read.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from smdbg.store._arrays import numpy_of
from smdbg.store._runs import decode_blocks, decode_runs, encode_block_groups, encode_blocks, encode_runs
from smdbg.store.format import FORMAT_VERSION, MANIFEST_FILE, SegmentName
from smdbg.store.fs import StoreFS

__all__ = [
    "encode_runs", "decode_runs", "encode_blocks", "decode_blocks", "table_entry", "Manifest", "read_manifest", "listed_entries",
]  # fmt: skip

log = logging.getLogger(__name__)

Entry = dict[str, Any]


def _layout(names: Sequence[str], idx: np.ndarray, steps: np.ndarray) -> dict[str, Entry]:
    """Per tensor (``names[code]``, ``idx``: each row's code): its row runs and first and last
    step, computed for all tensors at once (no per-row Python work)."""
    rank = np.empty(len(names), np.int64)
    rank[np.argsort(np.asarray(names, dtype=object), kind="stable")] = np.arange(len(names))
    key = rank[idx] if len(idx) else np.zeros(0, np.int64)
    order = np.argsort(key, kind="stable")  # by name, then row
    counts = np.bincount(key, minlength=len(names))
    bounds = np.concatenate([[0], np.cumsum(counts)])
    runs = encode_block_groups(order, bounds)
    present = np.flatnonzero(counts)
    s = steps[order]
    lo = np.minimum.reduceat(s, bounds[present]).tolist() if len(present) else []
    hi = np.maximum.reduceat(s, bounds[present]).tolist() if len(present) else []
    sorted_names = sorted(names)
    return {
        "tensor_rows": {sorted_names[r]: runs[r] for r in present.tolist()},
        "tensor_steps": {sorted_names[r]: [a, b] for r, a, b in zip(present.tolist(), lo, hi)},
    }


def table_entry(name: SegmentName, nbytes: int, table: Any) -> Entry:
    """The manifest entry of a segment from its decoded Arrow table (numpy over the index
    columns: a merge's entry costs no per-row Python work and never copies the data column)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def distinct(col: str) -> list[Any]:
        return [v for v in pc.unique(table.column(col)).to_pylist() if v is not None]

    modes = table.column("mode").combine_chunks()
    modes = modes if pa.types.is_dictionary(modes.type) else modes.dictionary_encode()
    codes = numpy_of(modes.indices) if len(modes) else np.zeros(0, np.int32)
    mode_steps = numpy_of(table.column("mode_step")) if len(modes) else np.zeros(0, np.int64)
    by_mode = {
        str(m): encode_runs(mode_steps[codes == k]) for k, m in enumerate(modes.dictionary.to_pylist()) if m is not None
    }  # fmt: skip
    return {
        "name": str(name),
        "seq": [name.seq, name.seq_last],
        "rows": table.num_rows,
        "bytes": int(nbytes),
        "steps": encode_runs(numpy_of(table.column("step")) if table.num_rows else []),
        "mode_steps": dict(sorted(by_mode.items())),
        "tensors": sorted(distinct("tensor")),
        "reductions": sorted(distinct("reduction")),
        **_table_layout(table),
    }


def _table_layout(table: Any) -> dict[str, Entry]:
    """``tensor_rows`` and ``tensor_steps`` of a decoded segment table."""
    import pyarrow as pa

    enc = table.column("tensor").combine_chunks()
    enc = enc if pa.types.is_dictionary(enc.type) else enc.dictionary_encode()
    idx = numpy_of(enc.indices).astype(np.int32) if len(enc) else np.zeros(0, np.int32)
    return _layout([str(t) for t in enc.dictionary.to_pylist()], idx, numpy_of(table.column("step")))


class Manifest:
    """One worker's manifest, kept in memory and written through a :class:`StoreFS`.

    Thread-safe: the writer thread adds entries, the compactor thread swaps merged ones in;
    ``save`` never lets an older snapshot overwrite a newer one.
    """

    def __init__(self, fs: StoreFS, worker_dir: str, worker: str) -> None:
        self.fs = fs
        self.path = f"{worker_dir}/{MANIFEST_FILE}"
        self.worker = worker
        self._entries: dict[str, Entry] = {}
        self._collections: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        self._save_lock = threading.Lock()
        self._version = 0
        self._saved = 0

    def load_existing(self, listed: Iterable[str]) -> None:
        """Start from the manifest on storage, keeping only entries whose file is listed."""
        doc = read_manifest(self.fs, self.path)
        if doc is None:
            return
        names = set(listed)
        with self._lock:
            for e in doc.get("segments", []):
                if e.get("name") in names:
                    self._entries[e["name"]] = e
            for t, colls in (doc.get("tensor_collections") or {}).items():
                self._collections.setdefault(t, set()).update(colls)
            self._version += 1

    def names(self) -> set[str]:
        with self._lock:
            return set(self._entries)

    def get(self, name: str) -> Entry | None:
        with self._lock:
            return self._entries.get(name)

    def add(self, entry: Entry, collections: Mapping[str, Iterable[str]] = {}) -> None:  # noqa: B006
        with self._lock:
            self._entries[entry["name"]] = entry
            for t, colls in collections.items():
                self._collections.setdefault(t, set()).update(colls)
            self._version += 1

    def replace(self, inputs: Iterable[str], merged: Entry, collections: Mapping[str, Iterable[str]]) -> None:
        """Swap the entries of merged inputs for the merged segment's."""
        with self._lock:
            for n in inputs:
                self._entries.pop(n, None)
            self._entries[merged["name"]] = merged
            for t, colls in collections.items():
                self._collections.setdefault(t, set()).update(colls)
            self._version += 1

    def save(self) -> None:
        """Write the manifest (atomically) if it changed since the last save."""
        with self._save_lock:
            with self._lock:
                if self._version == self._saved:
                    return
                version = self._version
                entries = sorted(self._entries.values(), key=lambda e: (e["seq"][0], -e["seq"][1]))
                doc = {
                    "format_version": FORMAT_VERSION,
                    "worker": self.worker,
                    "updated": time.time(),
                    "tensor_collections": {t: sorted(c) for t, c in sorted(self._collections.items())},
                    "segments": entries,
                }
            self.fs.write_atomic(self.path, json.dumps(doc, separators=(",", ":")).encode(), fsync=False)
            self._saved = version


def read_manifest(fs: StoreFS, path: str) -> dict[str, Any] | None:
    """A manifest document, or None when there is none or it cannot be used (with a warning)."""
    try:
        doc = json.loads(fs.read_bytes(path))
        if not isinstance(doc, dict) or not isinstance(doc.get("segments"), list):
            raise ValueError("expected a JSON object with a 'segments' list")
        if int(doc.get("format_version", 0)) > FORMAT_VERSION:
            raise ValueError(f"format version {doc.get('format_version')} is newer than {FORMAT_VERSION}")
        return doc
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, OSError) as e:
        log.warning(
            "ignoring the manifest %s (%s); reading the segments it should index instead", fs.url(path), e
        )
        return None


def listed_entries(
    fs: StoreFS, worker_dir: str, names: list[SegmentName]
) -> tuple[dict[str, Entry], dict[str, list[str]]]:
    """The manifest entries of listed segments (each with the stream's ``worker`` name), and
    the manifest's tensor collections. The listing wins: an entry whose file is not listed (and
    not inside a listed compacted segment) is dropped with a warning naming it."""
    path = f"{worker_dir}/{MANIFEST_FILE}"
    doc = read_manifest(fs, path)
    if doc is None:
        return {}, {}
    listed = {str(s): s for s in names}
    entries = {e["name"]: e for e in doc["segments"] if isinstance(e, dict) and "name" in e}
    missing = [n for n in entries if n not in listed]
    if missing:  # compacted meanwhile? list again before judging
        listed.update({n: s for n in fs.list_dir(worker_dir) if (s := SegmentName.parse(n))})
        merged = [s for s in listed.values() if s.compacted]
        for n in missing:
            seg = SegmentName.parse(n)
            inside = seg is not None and any(c.seq <= seg.seq and seg.seq_last <= c.seq_last for c in merged)
            if n not in listed and not inside:
                msg = f"the manifest {fs.url(path)} lists {n}, which is not in the listing; the listing wins"
                log.warning("%s", msg)
                warnings.warn(msg, stacklevel=5)
    worker = str(doc.get("worker") or worker_dir.rsplit("/", 1)[-1])
    colls = {str(t): list(c) for t, c in (doc.get("tensor_collections") or {}).items()}
    return {n: {**e, "worker": worker} for n, e in entries.items() if n in listed}, colls
