"""The trial reader's in-memory index: one row per loaded value, in numpy arrays.

Each loaded piece of a segment adds one *chunk* (step, mode, mode_step, worker, tensor,
reduction, value, wall_time, segment and global row); the chunk's rows are grouped per tensor
once, so a tensor's history is gathered from its parts without scanning the others. Whole-trial
columns are concatenated only when a query asks for them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from smdbg.store._arrays import EMPTY, INDEX_ARRAYS, Codes, codes_of, concat, distinct, group, numpy_of

__all__ = ["RowIndex", "StepSets"]

# Distinct steps of a chunk: (global steps, {mode code: mode steps}).
StepSets = tuple[np.ndarray, dict[int, np.ndarray]]


class RowIndex:
    """Index columns of every loaded row. Not thread-safe: the reader holds its lock."""

    def __init__(self, tensors: Codes, reductions: Codes, workers: Codes, modes: Codes,
                 mode_code: dict[str, int]) -> None:  # fmt: skip
        self.tensors = tensors
        self.reductions = reductions
        self.workers = workers
        self._modes = modes
        self._mode_code = mode_code
        self.chunks: dict[str, list[np.ndarray]] = {c: [] for c in INDEX_ARRAYS}
        self.bases: list[int] = []  # first global row of each chunk
        self.steps: list[StepSets] = []
        self._cols: dict[str, np.ndarray] | None = None
        # tensor code -> [(chunk position, local rows)], and the gathered per-tensor columns.
        self._tensor_parts: dict[int, list[tuple[int, np.ndarray]]] = {}
        self._tensor_cols: dict[int, dict[str, np.ndarray]] = {}
        self._steps_cache: dict[int | None, np.ndarray] = {}
        self.nrows = 0

    def add(self, table: Any, seg_idx: int, worker: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Append a decoded table of index columns as one chunk (it must have rows); returns
        its tensor grouping (order, distinct tensor codes, group starts)."""
        n = int(table.num_rows)
        ch = self.chunks
        self.bases.append(self.nrows)
        for c in ("step", "mode_step"):
            ch[c].append(numpy_of(table.column(c)))
        mcodes = codes_of(table.column("mode"), self._modes)
        mode = np.array([self._mode_code.get(m, 3) for m in self._modes.names], dtype=np.int8)[mcodes]
        ch["mode"].append(mode)
        ch["worker"].append(np.full(n, self.workers.code(worker), np.int32))
        ch["reduction"].append(codes_of(table.column("reduction"), self.reductions))
        tcodes = codes_of(table.column("tensor"), self.tensors)
        ch["tensor"].append(tcodes)
        ch["value"].append(numpy_of(table.column("value")).astype(np.float64, copy=False))
        ch["wall_time"].append(numpy_of(table.column("wall_time")))
        ch["seg"].append(np.full(n, seg_idx, np.int32))
        ch["row"].append(np.arange(self.nrows, self.nrows + n, dtype=np.int64))
        self.steps.append(
            (
                distinct(ch["step"][-1]),
                {int(m): distinct(ch["mode_step"][-1][mode == m]) for m in np.unique(mode).tolist()},
            )
        )
        order, uniq, starts = group(tcodes)
        bounds = list(starts[1:]) + [n]
        pos = len(self.bases) - 1
        for code, lo, hi in zip(uniq.tolist(), starts.tolist(), bounds):
            self._tensor_parts.setdefault(code, []).append((pos, order[lo:hi]))
            self._tensor_cols.pop(code, None)
        self.nrows += n
        self.changed()
        return order, uniq, starts

    def changed(self) -> None:
        """Forget what was gathered from the chunks (rows or step sets were added)."""
        self._cols = None
        self._steps_cache.clear()

    @property
    def cols(self) -> dict[str, np.ndarray]:
        if self._cols is None:
            self._cols = {c: concat(parts, c) for c, parts in self.chunks.items()}
        return self._cols

    def tensor_cols(self, name: str) -> dict[str, np.ndarray]:
        code = self.tensors.index.get(name)
        if code is None:
            return {c: concat([], c) for c in INDEX_ARRAYS}
        cached = self._tensor_cols.get(code)
        if cached is None:
            parts = self._tensor_parts.get(code, [])
            cached = {c: concat([self.chunks[c][pos][rows] for pos, rows in parts], c) for c in INDEX_ARRAYS}
            self._tensor_cols[code] = cached
        return cached

    def unique_steps(self, mode_code: int | None, more: list[StepSets]) -> np.ndarray:
        """Sorted distinct global steps (``mode_code=None``) or mode steps, with ``more`` sets
        (segments known but not read)."""
        got = self._steps_cache.get(mode_code)
        if got is None:
            parts = [g if mode_code is None else m.get(mode_code, EMPTY) for g, m in self.steps + more]
            got = np.unique(np.concatenate(parts)) if parts else EMPTY
            self._steps_cache[mode_code] = got
        return got

    def modes_present(self, more: list[StepSets]) -> list[int]:
        return sorted({m for _, modes in self.steps + more for m in modes})

    def locate(self, row: int) -> tuple[int, int, int]:
        """(chunk position, segment index, row within the chunk) of a global row."""
        pos = int(np.searchsorted(self.bases, row, side="right")) - 1
        return pos, int(self.chunks["seg"][pos][0]), row - self.bases[pos]

    def tensor_and_step(self, row: int) -> tuple[str, int]:
        pos, _, at = self.locate(row)
        return self.tensors.names[int(self.chunks["tensor"][pos][at])], int(self.chunks["step"][pos][at])
