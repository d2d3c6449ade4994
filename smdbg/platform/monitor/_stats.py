"""Dataset statistics in the SageMaker ``statistics.json`` layout. Pure functions: table in, dict out.

Types follow the data as written (as Deequ infers them from text): a column whose values are all
integers is ``Integral``, all numbers ``Fractional``, anything else ``String``, all missing
``Unknown``. Missing means null, empty, or NaN. Numeric distributions are KLL sketches from
Apache DataSketches (k = 2048) plus 10 equal-width buckets between min and max with exact counts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from smdbg._optional import require

__all__ = [
    "INTEGRAL",
    "FRACTIONAL",
    "STRING",
    "UNKNOWN",
    "KLL_K",
    "KLL_C",
    "MAX_CATEGORIES",
    "inferred_type",
    "numeric_values",
    "value_type_counts",
    "kll_sketch",
    "sketch_points",
    "compute_statistics",
]

INTEGRAL, FRACTIONAL, STRING, UNKNOWN = "Integral", "Fractional", "String", "Unknown"
KLL_K = 2048
KLL_C = 0.64
N_BUCKETS = 10
MAX_CATEGORIES = 1000  # categorical buckets kept per String feature (most frequent first)

_INT_RE = r"^\s*[+-]?\d+\s*$"
_FLOAT_RE = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$|^\s*[+-]?(nan|inf|infinity)\s*$"


def _column_kind(col: pa.ChunkedArray) -> str:
    t = col.type
    if pa.types.is_integer(t):
        return INTEGRAL
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return FRACTIONAL
    if pa.types.is_null(t):
        return UNKNOWN
    return STRING


def _present_mask(col: pa.ChunkedArray) -> pa.ChunkedArray:
    present = pc.is_valid(col)
    if pa.types.is_floating(col.type):
        present = pc.and_(present, pc.invert(pc.is_nan(col)))
    elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        present = pc.and_(present, pc.not_equal(pc.utf8_trim_whitespace(col), ""))
    return pc.fill_null(present, False)


def _as_strings(col: pa.ChunkedArray) -> pa.ChunkedArray:
    return (
        col
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type)
        else pc.cast(col, pa.string())
    )


def value_type_counts(col: pa.ChunkedArray) -> dict[str, int]:
    """How many present values of ``col`` are integral, fractional (non-integral numbers) and strings."""
    kind = _column_kind(col)
    present = pc.filter(col, _present_mask(col))
    n = len(present)
    if kind in (INTEGRAL, FRACTIONAL):
        return {INTEGRAL: n if kind == INTEGRAL else 0, FRACTIONAL: n if kind == FRACTIONAL else 0, STRING: 0}
    if n == 0:
        return {INTEGRAL: 0, FRACTIONAL: 0, STRING: 0}
    text = _as_strings(present)
    n_int = int(pc.sum(pc.match_substring_regex(text, _INT_RE)).as_py() or 0)
    n_num = int(pc.sum(pc.match_substring_regex(text, _FLOAT_RE, ignore_case=True)).as_py() or 0)
    return {INTEGRAL: n_int, FRACTIONAL: n_num - n_int, STRING: n - n_num}


def inferred_type(col: pa.ChunkedArray) -> str:
    kind = _column_kind(col)
    if kind != STRING:
        return kind if int(pc.sum(_present_mask(col)).as_py() or 0) else UNKNOWN
    counts = value_type_counts(col)
    if not sum(counts.values()):
        return UNKNOWN
    if counts[STRING]:
        return STRING
    return FRACTIONAL if counts[FRACTIONAL] else INTEGRAL


def numeric_values(col: pa.ChunkedArray) -> np.ndarray:
    """The present values of a numeric (or numeric-text) column as float64."""
    present = pc.filter(col, _present_mask(col))
    if _column_kind(col) == STRING:
        present = pc.cast(pc.utf8_trim_whitespace(_as_strings(present)), pa.float64())
    arr = present.to_numpy() if isinstance(present, pa.ChunkedArray) else np.asarray(present)
    return np.asarray(arr, dtype=np.float64)


def kll_sketch(values: np.ndarray, k: int = KLL_K) -> Any:
    datasketches = require("datasketches", extra="platform", feature="the model monitor's statistics")

    sketch = datasketches.kll_doubles_sketch(k)
    if len(values):
        sketch.update(
            np.require(values, dtype=np.float64, requirements=["C", "W"])
        )  # nanobind needs writeable
    return sketch


def _sketch_dict(sketch: Any, k: int) -> dict[str, Any]:
    levels: dict[int, list[float]] = {}
    for item, weight in sketch:
        levels.setdefault(int(weight).bit_length() - 1, []).append(float(item))
    data = [levels.get(i, []) for i in range(max(levels) + 1)] if levels else []
    return {"parameters": {"c": KLL_C, "k": k}, "data": data}


def sketch_points(sketch: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted items and their weights (2**level) of a sketch as stored in statistics.json."""
    items, weights = [], []
    for level, values in enumerate(sketch.get("data") or []):
        items.extend(values)
        weights.extend([float(2**level)] * len(values))
    order = np.argsort(np.asarray(items, dtype=np.float64), kind="stable")
    return np.asarray(items, dtype=np.float64)[order], np.asarray(weights, dtype=np.float64)[order]


def _numerical(values: np.ndarray, common: dict[str, int], k: int) -> dict[str, Any]:
    stats: dict[str, Any] = {"common": common}
    if not len(values):
        return {**stats, "mean": 0.0, "sum": 0.0, "std_dev": 0.0, "min": 0.0, "max": 0.0}
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 0.0)
    counts, edges = np.histogram(finite, bins=N_BUCKETS, range=(lo, hi) if hi > lo else (lo, lo + 1.0))
    buckets = [
        {"lower_bound": float(edges[i]), "upper_bound": float(edges[i + 1]), "count": float(counts[i])}
        for i in range(N_BUCKETS)
    ]
    total = float(values.sum())
    return {
        **stats,
        "mean": total / len(values),
        "sum": total,
        "std_dev": float(values.std()),
        "min": float(values.min()),
        "max": float(values.max()),
        "distribution": {"kll": {"buckets": buckets, "sketch": _sketch_dict(kll_sketch(values, k), k)}},
    }


def _string(col: pa.ChunkedArray, present: pa.ChunkedArray, common: dict[str, int]) -> dict[str, Any]:
    values = pc.filter(_as_strings(col), present)
    counts = pc.value_counts(values)
    names = counts.field("values").to_pylist()
    freqs = counts.field("counts").to_numpy()
    order = np.argsort(-freqs, kind="stable")[:MAX_CATEGORIES]
    buckets = [{"value": names[i], "count": int(freqs[i])} for i in order]
    return {
        "common": common,
        "distinct_count": len(names),
        "distribution": {"categorical": {"buckets": buckets}},
    }


def compute_statistics(
    table: pa.Table, k: int = KLL_K, on_column: Callable[[int, str], None] | None = None
) -> dict[str, Any]:
    """``statistics.json`` content for ``table`` (one entry per column, in column order).
    ``on_column(i, name)`` is called as column ``i`` is started (progress)."""
    features = []
    for i, (name, col) in enumerate(zip(table.column_names, table.columns)):
        if on_column is not None:
            on_column(i, name)
        present = _present_mask(col)
        n_present = int(pc.sum(present).as_py() or 0)
        common = {"num_present": n_present, "num_missing": table.num_rows - n_present}
        kind = inferred_type(col)
        feature: dict[str, Any] = {"name": name, "inferred_type": kind}
        if kind in (INTEGRAL, FRACTIONAL):
            feature["numerical_statistics"] = _numerical(numeric_values(col), common, k)
        else:
            feature["string_statistics"] = _string(col, present, common)
        features.append(feature)
    return {"version": 0, "dataset": {"item_count": table.num_rows}, "features": features}
