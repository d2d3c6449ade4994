"""The row order of a compacted segment: clustered by tensor, so one tensor's history is a few
row groups and a query about one tensor reads only those.

Every row has a *source position*: its place in the concatenation of the original segments a
compacted segment holds (in sequence order, each in the order it was written). A segment the
writer published is in source order. A compacted one is sorted by (tensor name, source
position), so each tensor's rows are contiguous and in step order, and its footer metadata
``smdbg.order`` maps its rows back to source positions: ``{tensor: runs}`` in file order, each
tensor's source positions as :func:`~smdbg.store._runs.encode_blocks` runs, as JSON,
zlib-compressed and base64-encoded (the footer is read by every query of the segment, and
Arrow's stored schema holds the metadata a second time). A reader that
read an input before it was merged finds its rows through that map (``_compacted.Footer``).
Segments without the key (written before it, or by the writer) are in source order.
"""

from __future__ import annotations

import base64
import json
import math
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from smdbg.store._arrays import numpy_of
from smdbg.store._parquet import ROW_GROUP_BYTES
from smdbg.store._runs import decode_blocks, encode_block_groups
from smdbg.store.format import ORDER_KEY

__all__ = ["ORDER_KEY", "MIN_GROUP_ROWS", "cluster_by_tensor", "source_positions", "group_rows"]

MIN_GROUP_ROWS = 4096  # smaller tensors share row groups: a row group has a fixed cost
_ROW_OVERHEAD = 64  # bytes a row takes besides its raw data, for cutting row groups by size


def source_positions(order: bytes | None, rows: int) -> np.ndarray | None:
    """The source position of each file row from a segment's ``smdbg.order`` metadata (None:
    the file is in source order). ValueError when the map does not fit the file's ``rows``."""
    if not order:
        return None
    try:
        runs = json.loads(zlib.decompress(base64.b64decode(order, validate=True)))
    except zlib.error as e:
        raise ValueError(f"the segment's row order does not decompress ({e})") from e
    parts = [decode_blocks(r) for r in runs.values()]
    pos = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    if len(pos) != rows:
        raise ValueError(f"the segment's row order maps {len(pos)} rows, the segment has {rows}")
    return pos


def cluster_by_tensor(table: Any, positions: np.ndarray) -> tuple[Any, bytes, list[int]]:
    """``table`` sorted by (tensor name, source position), its ``smdbg.order`` metadata and the
    rows of each row group (:func:`group_rows`). Pure apart from pyarrow."""
    import pyarrow as pa
    import pyarrow.compute as pc

    enc = table.column("tensor").combine_chunks()
    enc = enc if pa.types.is_dictionary(enc.type) else enc.dictionary_encode()
    names = [str(t) for t in enc.dictionary.to_pylist()]
    rank = np.empty(len(names), np.int64)
    rank[np.argsort(np.asarray(names, dtype=object), kind="stable")] = np.arange(len(names))
    key = rank[numpy_of(enc.indices).astype(np.int64)] if len(enc) else np.zeros(0, np.int64)
    order = np.lexsort((positions, key))
    table = table.take(pa.array(order))
    perm = positions[order]
    counts = np.bincount(key, minlength=len(names))
    bounds = np.concatenate([[0], np.cumsum(counts)])
    codes = encode_block_groups(perm, bounds)
    runs = {name: codes[r] for r, name in enumerate(sorted(names)) if counts[r]}
    data_bytes = numpy_of(pc.fill_null(pc.binary_length(table.column("data")), 0)).astype(np.int64)
    groups = group_rows([int(c) for c in counts if c], data_bytes + _ROW_OVERHEAD)
    order_meta = base64.b64encode(zlib.compress(json.dumps(runs, separators=(",", ":")).encode(), 9))
    return table, order_meta, groups


def group_rows(
    blocks: Sequence[int], row_bytes: np.ndarray, min_rows: int = MIN_GROUP_ROWS, max_bytes: int = ROW_GROUP_BYTES
) -> list[int]:
    """Row-group sizes for consecutive blocks of ``blocks`` rows (one per tensor), pure.

    A row group holds whole blocks up to ``max(min_rows, the median block)`` rows and
    ``max_bytes`` of ``row_bytes``; a block larger than that is cut into equal groups of its
    own. So a typical tensor's history is one or two row groups and no row group mixes a large
    tensor with others."""
    if not blocks:
        return [0]
    target = max(min_rows, int(np.median(blocks)))
    cum = np.concatenate([[0], np.cumsum(row_bytes)])
    groups: list[int] = []
    start = pos = 0  # first row of the open group, first row of the block
    for rows in blocks:
        end = pos + rows
        if pos > start and (end - start > target or cum[end] - cum[start] > max_bytes):
            groups.append(pos - start)
            start = pos
        size = int(cum[end] - cum[pos])
        if rows > target or size > max_bytes:
            pieces = max(math.ceil(rows / target), math.ceil(size / max_bytes))
            step = math.ceil(rows / pieces)
            groups += [min(step, end - p) for p in range(pos, end, step)]
            start = end
        pos = end
    if pos > start:
        groups.append(pos - start)
    return groups
