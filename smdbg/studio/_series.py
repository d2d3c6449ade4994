"""Pure functions that turn a trial's numbers into what a chart draws: arrays in, JSON-ready
dicts out, no I/O.

* :func:`downsample` keeps each bucket's minimum and maximum (``_numbers.minmax_downsample``, the
  experiments charts' too), so a spike is never smoothed away, within a zoom range, and always
  says how many points it kept of how many (``shown`` of ``total``).
* :func:`histogram` bins one tensor; :func:`heatmap` bins many on shared edges (one column per
  step), so colours compare across steps.

Values that are not finite (NaN, +-inf) cannot be drawn on an axis and JSON has no spelling for
them: they are counted and their steps listed apart (``nonfinite``), never silently dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from smdbg.studio._numbers import minmax_downsample

__all__ = ["DEFAULT_POINTS", "MAX_POINTS", "downsample", "histogram", "heatmap", "nonfinite_steps"]

Array = npt.NDArray[Any]

#: Points of a series sent to the browser by default, and at most (a chart is ~2,000 px wide).
DEFAULT_POINTS = 2000
MAX_POINTS = 20000
#: Non-finite points listed by step at most (the count is always exact).
_MAX_NONFINITE = 200


def nonfinite_steps(x: Array, y: Array) -> dict[str, Any]:
    """Where ``y`` is NaN or infinite: ``{"count", "steps" (first 200), "kinds"}``."""
    bad = ~np.isfinite(y)
    steps = x[bad][:_MAX_NONFINITE]
    kinds = np.where(np.isnan(y[bad][:_MAX_NONFINITE]), "nan", np.where(y[bad][:_MAX_NONFINITE] > 0, "inf", "-inf"))
    return {"count": int(bad.sum()), "steps": steps.tolist(), "kinds": kinds.tolist()}


def downsample(x: Array, y: Array, max_points: int = DEFAULT_POINTS,
               x_range: tuple[float | None, float | None] = (None, None)) -> dict[str, Any]:  # fmt: skip
    """At most ``max_points`` finite points of the series (``x`` sorted ascending) within
    ``x_range`` (inclusive; None = open), keeping each bucket's minimum and maximum in ``x`` order.

    Returns ``{"x", "y", "shown", "total", "range_total", "nonfinite", "x_min", "x_max"}``:
    ``total`` counts every point of the series, ``range_total`` those in the range (what
    ``shown`` is "of"), ``x_min``/``x_max`` the series' extent (for a zoomed chart's "reset").
    """
    if max_points < 2:
        raise ValueError(f"max_points={max_points}: expected at least 2 (a bucket keeps its min and max)")
    x = np.asarray(x)
    y = np.asarray(y, dtype=np.float64)
    total = len(x)
    extent = (x[0].item(), x[-1].item()) if total else (None, None)
    lo, hi = x_range
    a = 0 if lo is None else int(np.searchsorted(x, lo, side="left"))
    b = total if hi is None else int(np.searchsorted(x, hi, side="right"))
    xs, ys = x[a:b], y[a:b]
    bad = nonfinite_steps(xs, ys)
    ok = np.isfinite(ys)
    xs, ys = minmax_downsample(xs[ok], ys[ok], max_points)
    return {
        "x": xs.tolist(), "y": ys.tolist(), "shown": len(xs), "total": total, "range_total": b - a,
        "nonfinite": bad, "x_min": extent[0], "x_max": extent[1],
    }  # fmt: skip


def _stats(flat: Array) -> dict[str, Any]:
    fin = flat[np.isfinite(flat)]
    out: dict[str, Any] = {
        "size": int(flat.size), "nan": int(np.isnan(flat).sum()), "inf": int(np.isinf(flat).sum()),
    }  # fmt: skip
    if fin.size:
        out.update(min=float(fin.min()), max=float(fin.max()), mean=float(fin.mean()), std=float(fin.std()))
    return out


def histogram(values: Array, bins: int = 40, max_values: int = 1000) -> dict[str, Any]:
    """One tensor as a table and a histogram: ``{"shape", "dtype", "values" (the first
    ``max_values`` of the flattened tensor, non-finite ones as strings), "values_shown",
    "stats", "edges", "counts"}``."""
    arr = np.asarray(values)
    flat = arr.astype(np.float64, copy=False).ravel()
    fin = flat[np.isfinite(flat)]
    if fin.size:
        lo, hi = float(fin.min()), float(fin.max())
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        counts, edges = np.histogram(fin, bins=bins, range=(lo, hi))
    else:
        counts, edges = np.zeros(0, dtype=np.int64), np.zeros(0)
    head = flat[:max_values]
    shown = [v if np.isfinite(v) else str(v) for v in head.tolist()]
    return {
        "shape": list(arr.shape), "dtype": str(arr.dtype), "values": shown, "values_shown": len(shown),
        "stats": _stats(flat), "edges": edges.tolist(), "counts": counts.tolist(),
    }  # fmt: skip


def heatmap(steps: Sequence[int], arrays: Sequence[Array], bins: int = 30) -> dict[str, Any]:
    """Distributions over steps: one histogram per step on edges shared by all of them.
    ``{"steps", "edges", "counts" (one row per step), "max_count"}``; edges are empty when no
    value is finite."""
    flats = [np.asarray(a, dtype=np.float64).ravel() for a in arrays]
    finite = [f[np.isfinite(f)] for f in flats]
    nonempty = [f for f in finite if f.size]
    if not nonempty:
        return {"steps": list(steps), "edges": [], "counts": [[] for _ in steps], "max_count": 0}
    lo = min(float(f.min()) for f in nonempty)
    hi = max(float(f.max()) for f in nonempty)
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    rows = [np.histogram(f, bins=edges)[0] for f in finite]
    return {
        "steps": [int(s) for s in steps], "edges": edges.tolist(), "counts": [r.tolist() for r in rows],
        "max_count": int(max(int(r.max()) for r in rows)),
    }  # fmt: skip
