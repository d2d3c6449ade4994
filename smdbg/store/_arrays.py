"""Array helpers of the trial reader: Arrow columns to numpy, grouping, distinct steps."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "INDEX_ARRAYS",
    "EMPTY",
    "Codes",
    "codes_of",
    "concat",
    "distinct",
    "group",
    "numpy_of",
    "source_size",
]

INDEX_ARRAYS = (
    "step",
    "mode",
    "mode_step",
    "worker",
    "tensor",
    "reduction",
    "value",
    "wall_time",
    "seg",
    "row",
)
_DTYPES = {
    "value": np.float64,
    "wall_time": np.float64,
    "mode": np.int8,
    "worker": np.int32,
    "tensor": np.int32,
    "reduction": np.int32,
    "seg": np.int32,
}
EMPTY = np.zeros(0, dtype=np.int64)


def concat(parts: list[np.ndarray], column: str) -> np.ndarray:
    if not parts:
        return np.zeros(0, dtype=_DTYPES.get(column, np.int64))
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def source_size(source: Any) -> int:
    size = source.size() if callable(getattr(source, "size", None)) else getattr(source, "size", None)
    if size is None:
        size = source.seek(0, 2)
        source.seek(0)
    return int(size)


def numpy_of(column: Any) -> np.ndarray:
    """A numeric Arrow column (or array) as numpy, nulls as NaN, straight from its buffers
    (pyarrow's own to_numpy imports pandas, which costs more than reading the trial)."""
    import pyarrow.compute as pc

    out = []
    for c in getattr(column, "chunks", [column]):
        if c.null_count:
            c = pc.fill_null(c, float("nan"))
        dtype = np.dtype(_NUMPY_TYPES[str(c.type)])
        out.append(np.frombuffer(c.buffers()[1], dtype=dtype, count=len(c), offset=c.offset * dtype.itemsize))
    return out[0] if len(out) == 1 else np.concatenate(out) if out else np.zeros(0)


_NUMPY_TYPES = {"int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64, "uint8": np.uint8,
                "uint16": np.uint16, "uint32": np.uint32, "double": np.float64, "float": np.float32}  # fmt: skip


def group(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(stable order grouping equal codes, distinct codes, start of each group in the order)."""
    small = codes.astype(np.int16) if len(codes) and int(codes.max()) < 2**15 else codes
    order = np.argsort(small, kind="stable")  # radix sort for 16-bit keys: O(n)
    grouped = codes[order]
    starts = (
        np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]]) if len(grouped) else np.zeros(0, np.int64)
    )
    return order, grouped[starts], starts


def distinct(sorted_mostly: np.ndarray) -> np.ndarray:
    """Distinct values; O(n) when already sorted (steps are written in order)."""
    if len(sorted_mostly) and np.all(sorted_mostly[1:] >= sorted_mostly[:-1]):
        keep = np.empty(len(sorted_mostly), dtype=bool)
        keep[0] = True
        np.not_equal(sorted_mostly[1:], sorted_mostly[:-1], out=keep[1:])
        return sorted_mostly[keep]
    return np.unique(sorted_mostly)


class Codes:
    """Strings <-> small integer codes, appended as new strings appear."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.index: dict[str, int] = {}

    def code(self, name: str) -> int:
        c = self.index.get(name)
        if c is None:
            c = self.index[name] = len(self.names)
            self.names.append(name)
        return c

    def map(self, values: list[str]) -> np.ndarray:
        return np.fromiter((self.code(v) for v in values), dtype=np.int32, count=len(values))


def codes_of(column: Any, codes: Codes) -> np.ndarray:
    """Global integer codes of a (dictionary-encoded) string column."""
    import pyarrow as pa

    chunks = column.chunks if hasattr(column, "chunks") else [column]
    out = []
    for chunk in chunks:
        enc = chunk if pa.types.is_dictionary(chunk.type) else chunk.dictionary_encode()
        local = np.asarray([codes.code(s) for s in enc.dictionary.to_pylist()], dtype=np.int32)
        out.append(
            local[numpy_of(enc.indices).astype(np.int64)] if len(local) else np.zeros(len(enc), np.int32)
        )
    return np.concatenate(out) if out else np.zeros(0, np.int32)
