"""Run-length codes of integer sets, as the manifest and a compacted segment's row order store
them (pure numpy; no I/O).

* :func:`encode_runs`: distinct integers as arithmetic runs ``[start, count, stride]``.
* :func:`encode_blocks`: sorted row numbers as runs of equal blocks ``[first, length, count,
  stride]``; :func:`encode_block_groups` encodes many such sets at once (one per tensor).

The encoders are greedy from the left (a run takes the next block whenever it can) and their
Python work is per *run written*, not per value: the block boundaries and the chains of equal
strides are found with numpy, and the loop only walks from one run to the next. The writer
builds these codes for every segment it publishes and the compactor for every merge, both on
background threads that share the GIL with training, so a per-value Python loop here is
training time lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["encode_runs", "decode_runs", "encode_blocks", "encode_block_groups", "decode_blocks"]


def _greedy(starts: np.ndarray, lengths: np.ndarray, joinable: np.ndarray) -> list[tuple[int, int, int]]:
    """Greedy runs over blocks ``(first block, blocks, stride)``: a run starting at block ``i``
    takes block ``i + 1`` when ``joinable[i]`` (same set, same length) and then every next block
    at the same stride. Stride 0 for a run of one block."""
    n = len(starts)
    if n == 0:
        return []
    if n == 1:
        return [(0, 1, 0)]
    delta = np.diff(starts)  # pair k joins blocks k and k + 1
    same = np.zeros(n - 1, bool)  # pair k continues pair k - 1's chain
    same[1:] = joinable[1:] & joinable[:-1] & (delta[1:] == delta[:-1])
    is_end = joinable.copy()
    is_end[:-1] &= ~same[1:]
    ends = np.flatnonzero(is_end)
    # the last pair of the chain holding pair k (meaningful where joinable[k])
    chain_end = ends[np.minimum(np.searchsorted(ends, np.arange(n - 1)), max(len(ends) - 1, 0))] if len(ends) else None
    join = joinable.tolist()
    end = chain_end.tolist() if chain_end is not None else []
    step = delta.tolist()
    out: list[tuple[int, int, int]] = []
    i = 0
    while i < n:
        if i < n - 1 and join[i]:
            e = end[i] + 1  # the run's last block
            out.append((i, e - i + 1, step[i]))
            i = e + 1
        else:
            out.append((i, 1, 0))
            i += 1
    return out


def encode_runs(values: Iterable[int] | np.ndarray) -> list[list[int]]:
    """Distinct integers as arithmetic runs ``[start, count, stride]`` (sorted, deduplicated)."""
    arr = np.unique(values if isinstance(values, np.ndarray) else np.fromiter(values, dtype=np.int64))
    arr = arr.astype(np.int64, copy=False)
    starts = arr.tolist()
    return [
        [starts[i], count, stride if count > 1 else 1]
        for i, count, stride in _greedy(arr, np.ones(len(arr), np.int64), np.ones(max(len(arr) - 1, 0), bool))
    ]


def decode_runs(runs: Sequence[Sequence[int]]) -> np.ndarray:
    """The sorted integers of ``encode_runs`` output."""
    if not runs:
        return np.zeros(0, dtype=np.int64)
    parts = [int(s) + int(k) * np.arange(int(c), dtype=np.int64) for s, c, k in runs]
    return np.concatenate(parts)


def encode_block_groups(values: np.ndarray, bounds: Sequence[int] | np.ndarray) -> list[list[list[int]]]:
    """:func:`encode_blocks` of each ``values[bounds[g]:bounds[g + 1]]`` (each sorted and
    distinct), in one pass: the codes of all of a segment's tensors at once."""
    values = np.asarray(values, dtype=np.int64)
    bounds = np.asarray(bounds, dtype=np.int64)
    groups = len(bounds) - 1
    out: list[list[list[int]]] = [[] for _ in range(groups)]
    n = len(values)
    if n == 0:
        return out
    is_start = np.ones(n, bool)
    is_start[1:] = values[1:] != values[:-1] + 1
    firsts = bounds[:-1][bounds[:-1] < n]
    is_start[firsts] = True
    first = np.flatnonzero(is_start)
    lengths = np.diff(np.append(first, n))
    starts = values[first]
    group = np.searchsorted(bounds, first, side="right") - 1
    joinable = (group[1:] == group[:-1]) & (lengths[1:] == lengths[:-1])
    s, ln, g = starts.tolist(), lengths.tolist(), group.tolist()
    for i, count, stride in _greedy(starts, lengths, joinable):
        out[g[i]].append([s[i], ln[i], count, stride])
    return out


def encode_blocks(rows: np.ndarray) -> list[list[int]]:
    """Sorted distinct row numbers as runs of equal blocks ``[first, length, count, stride]``:
    ``count`` blocks of ``length`` consecutive rows, starting ``stride`` rows apart (0 for a
    single block). A tensor's rows in a step-ordered segment (a few rows every step) take one run."""
    rows = np.asarray(rows, dtype=np.int64)
    return encode_block_groups(rows, [0, len(rows)])[0]


def decode_blocks(runs: Sequence[Sequence[int]]) -> np.ndarray:
    """The sorted row numbers of ``encode_blocks`` output (ValueError for a malformed run)."""
    parts = []
    for run in runs:
        first, length, count, stride = (int(x) for x in run)
        if first < 0 or length < 1 or count < 1 or (count > 1 and stride < length):
            raise ValueError(f"bad row run {list(run)!r}: expected [first >= 0, length >= 1, count >= 1, stride]")
        parts.append((first + stride * np.arange(count, dtype=np.int64))[:, None] + np.arange(length))
    return np.concatenate([p.reshape(-1) for p in parts]) if parts else np.zeros(0, np.int64)
