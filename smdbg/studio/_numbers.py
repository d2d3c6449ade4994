"""Pure functions behind the studio's charts: min/max-preserving down-sampling of a series and
parameter importance. Arrays in, numbers out; no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["minmax_downsample", "parameter_importance", "rank"]


def minmax_downsample(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points of ``(x, y)``: the series cut into ``max_points // 2``
    equal-count buckets, keeping each bucket's minimum and maximum (in x order), so spikes
    survive. Shorter series come back unchanged. NaNs are kept only where a bucket is all NaN."""
    n = len(y)
    if n <= max_points or max_points < 2:
        return x, y
    buckets = max_points // 2
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    keep: list[int] = []
    for a, b in zip(edges[:-1], edges[1:]):
        part = y[a:b]
        if not len(part):
            continue
        if np.all(np.isnan(part)):
            keep.append(int(a))
            continue
        lo, hi = int(np.nanargmin(part)) + a, int(np.nanargmax(part)) + a
        keep += sorted({lo, hi})
    idx = np.asarray(keep, dtype=np.int64)
    return x[idx], y[idx]


def rank(values: np.ndarray) -> np.ndarray:
    """Ranks from 0, ties given their average rank."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(len(values), dtype=np.float64)
    sorted_values = values[order]
    start = 0
    for i in range(1, len(values) + 1):
        if i == len(values) or sorted_values[i] != sorted_values[start]:
            ranks[order[start:i]] = (start + i - 1) / 2.0
            start = i
    return ranks


def parameter_importance(
    parameters: Sequence[Mapping[str, str | float]], metric: Sequence[float]
) -> dict[str, float]:
    """How strongly each parameter goes with the metric across runs, in [0, 1].

    Only runs that have both the parameter and a finite metric count; a parameter needs at least
    three such runs and two distinct values, else it gets 0. Numeric parameters: the absolute
    Spearman rank correlation with the metric. Categorical (string) parameters: the correlation
    ratio (eta) of the metric's ranks grouped by the parameter's value, the share of the ranks'
    spread that the groups explain (its square root). Both see ordering only, so the scale of a
    parameter (a learning rate from 1e-5 to 1) does not matter. This is a screening measure,
    not a causal one: it cannot separate parameters that were varied together.
    """
    y = np.asarray(metric, dtype=np.float64)
    names = sorted({k for p in parameters for k in p})
    out: dict[str, float] = {}
    for name in names:
        rows = [i for i, p in enumerate(parameters) if name in p and np.isfinite(y[i])]
        values = [parameters[i][name] for i in rows]
        if len(rows) < 3 or len({str(v) for v in values}) < 2:
            out[name] = 0.0
            continue
        ry = rank(y[rows])
        if all(isinstance(v, (int, float)) for v in values):
            rx = rank(np.asarray(values, dtype=np.float64))
            sx, sy = rx.std(), ry.std()
            out[name] = 0.0 if sx == 0 or sy == 0 else float(abs(np.corrcoef(rx, ry)[0, 1]))
            continue
        groups: dict[str, list[float]] = {}
        for v, r in zip(values, ry):
            groups.setdefault(str(v), []).append(float(r))
        total = float(((ry - ry.mean()) ** 2).sum())
        between = sum(len(g) * (np.mean(g) - ry.mean()) ** 2 for g in groups.values())
        out[name] = 0.0 if total == 0 else float(np.sqrt(between / total))
    return out
