"""Reductions as pure numpy functions: array in, numbers out, no I/O.

Definitions used by every framework hook (documented in docs/store.md):

* ``variance`` and ``std`` are the *population* statistics (ddof=0), defined for a single
  element too. smdebug used the unbiased estimator in PyTorch and the population one in
  TensorFlow; smdbg uses one definition everywhere.
* ``l1`` is sum(|x|), ``l2`` is sqrt(sum(x^2)); here computed in float64 (the framework hooks
  reduce float32 tensors in float32 on their device and store float64).
* ``abs_<name>`` applies the reduction to |x|.
* Reductions of an empty tensor are NaN (``sum`` 0, ``prod`` 1).
* A histogram (``ReductionConfig(histogram=bins)``) has uniform bins over the finite min and max
  of the tensor (or a fixed range); see :func:`compute_histogram`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import NamedTuple

import numpy as np

__all__ = [
    "ALLOWED_REDUCTIONS",
    "ALLOWED_NORMS",
    "reduction_key",
    "split_reduction_key",
    "compute_reduction",
    "compute_reductions",
    "scalar_reductions",
    "HISTOGRAM",
    "MAX_HISTOGRAM_BINS",
    "Histogram",
    "HistogramRange",
    "check_histogram_bins",
    "check_histogram_range",
    "histogram_limits",
    "compute_histogram",
]

ALLOWED_REDUCTIONS: tuple[str, ...] = ("min", "max", "mean", "std", "variance", "sum", "prod")
ALLOWED_NORMS: tuple[str, ...] = ("l1", "l2")


def _empty_safe(fn: Callable[[np.ndarray], float], empty: float) -> Callable[[np.ndarray], float]:
    def wrapped(x: np.ndarray) -> float:
        return empty if x.size == 0 else float(fn(x))

    return wrapped


_FUNCS: dict[str, Callable[[np.ndarray], float]] = {
    "min": _empty_safe(np.min, float("nan")),
    "max": _empty_safe(np.max, float("nan")),
    "mean": _empty_safe(np.mean, float("nan")),
    "std": _empty_safe(np.std, float("nan")),
    "variance": _empty_safe(np.var, float("nan")),
    "sum": _empty_safe(np.sum, 0.0),
    "prod": _empty_safe(np.prod, 1.0),
    "l1": _empty_safe(lambda x: np.sum(np.abs(x)), 0.0),
    "l2": _empty_safe(lambda x: np.sqrt(np.sum(np.square(x))), 0.0),
}


def reduction_key(name: str, abs: bool = False) -> str:  # noqa: A002 - smdebug's parameter name
    """The name a reduction is stored under: ``mean``, ``abs_max``, ``l2``, ``abs_l1``."""
    if name not in _FUNCS:
        allowed = ", ".join(ALLOWED_REDUCTIONS + ALLOWED_NORMS)
        raise ValueError(f"unknown reduction {name!r}: expected one of {allowed}")
    return f"abs_{name}" if abs else name


def split_reduction_key(key: str) -> tuple[str, bool]:
    """Inverse of :func:`reduction_key`: ``"abs_max"`` -> ``("max", True)``."""
    if key.startswith("abs_"):
        return key[4:], True
    return key, False


def compute_reduction(array: np.ndarray, name: str, abs: bool = False) -> float:  # noqa: A002
    """One reduction of a numpy array, in float64."""
    reduction_key(name)  # validates the name
    x = np.asarray(array)
    if x.dtype.kind in "biu" or x.dtype == np.bool_:
        x = x.astype(np.float64)
    elif x.dtype.kind == "f" and x.dtype.itemsize < 8:
        x = x.astype(np.float64)
    if abs:
        x = np.abs(x)
    return _FUNCS[name](x)


def compute_reductions(array: np.ndarray, keys: Iterable[str]) -> dict[str, float]:
    """Several reductions by stored key (``abs_max`` ...), sharing one float64 copy."""
    x = np.asarray(array)
    if x.dtype.kind != "f" or x.dtype.itemsize < 8:
        x = x.astype(np.float64)
    ax: np.ndarray | None = None
    out: dict[str, float] = {}
    # NaN and inf in, NaN and inf out: that is the value to save (the rules look for it), not a warning
    with np.errstate(invalid="ignore", over="ignore"):
        for key in keys:
            name, is_abs = split_reduction_key(key)
            reduction_key(name)
            if is_abs:
                if ax is None:
                    ax = np.abs(x)
                out[key] = _FUNCS[name](ax)
            else:
                out[key] = _FUNCS[name](x)
    return out


_SCALAR_PROGRAMS: dict[tuple[str, ...], tuple[tuple[str, int], ...]] = {}


def _scalar_program(keys: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    """(key, 0: the value, 1: its magnitude, 2: 0 or NaN (variance/std)) for each key."""
    ops = []
    for key in keys:
        name, is_abs = split_reduction_key(key)
        if name in ("min", "max", "mean", "sum", "prod"):
            ops.append((key, 1 if is_abs else 0))
        elif name in ("variance", "std"):
            ops.append((key, 2))
        elif name in ("l1", "l2"):
            ops.append((key, 1))
        else:
            reduction_key(name)  # raises with the allowed names
    prog = tuple(ops)
    if len(_SCALAR_PROGRAMS) < 256:
        _SCALAR_PROGRAMS[keys] = prog
    return prog


def scalar_reductions(value: float, keys: Iterable[str]) -> dict[str, float]:
    """:func:`compute_reductions` of a one-element array, in plain Python (a loss, a learning
    rate: saved every step, where numpy's per-call cost would dominate). NaN and inf propagate
    as numpy's would (variance of [inf] is NaN)."""
    keys = keys if type(keys) is tuple else tuple(keys)
    prog = _SCALAR_PROGRAMS.get(keys) or _scalar_program(keys)
    out: dict[str, float] = {}
    for key, code in prog:
        if code == 0:
            out[key] = value
        elif code == 1:
            out[key] = abs(value)
        else:
            out[key] = 0.0 if math.isfinite(value) else math.nan
    return out


# -- histograms ---------------------------------------------------------------------------------
#: The reduction key a histogram is stored under (its ``value`` is the count of values outside the bins).
HISTOGRAM = "histogram"
#: At most this many bins (a histogram is a compact summary, not a copy of the tensor).
MAX_HISTOGRAM_BINS = 1 << 16

HistogramRange = str | tuple[float, float]


class Histogram(NamedTuple):
    """A tensor's histogram: ``bins + 1`` float64 edges, ``bins`` int64 counts, and how many
    values fell outside the bins (non-finite values, and values outside a fixed range)."""

    edges: np.ndarray
    counts: np.ndarray
    outside: int


def check_histogram_bins(bins: object) -> int | None:
    """``histogram=`` validated: None (no histogram) or a positive integer number of bins."""
    if bins is None:
        return None
    value: object = bins
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 < value <= MAX_HISTOGRAM_BINS:
        raise ValueError(
            f"histogram={bins!r}: expected a positive integer number of bins up to {MAX_HISTOGRAM_BINS} "
            "(e.g. histogram=64), or None for no histogram"
        )
    return int(value)


def check_histogram_range(rng: object) -> HistogramRange:
    """``histogram_range=`` validated: ``"minmax"`` (each tensor's finite min and max, per step)
    or a fixed ``(lo, hi)`` of finite numbers with lo < hi."""
    if isinstance(rng, str):
        if rng == "minmax":
            return rng
    elif isinstance(rng, (tuple, list)) and len(rng) == 2:
        try:
            lo, hi = float(rng[0]), float(rng[1])
        except (TypeError, ValueError):
            lo = hi = math.nan
        if math.isfinite(lo) and math.isfinite(hi) and lo < hi and not any(isinstance(v, bool) for v in rng):
            return (lo, hi)
    raise ValueError(
        f"histogram_range={rng!r}: expected 'minmax' or a pair (lo, hi) of finite numbers with lo < hi"
    )


def histogram_limits(lo: float, hi: float) -> tuple[float, float]:
    """The range the bins span for data whose finite values lie in [lo, hi]: (0, 1) when there
    is no finite value (lo > hi, or NaN), one unit around a constant (lo == hi)."""
    if not (lo <= hi):
        return 0.0, 1.0
    if lo == hi:
        return lo - 0.5, hi + 0.5
    return lo, hi


def compute_histogram(array: np.ndarray, bins: int, rng: HistogramRange = "minmax") -> Histogram:
    """The histogram of an array in float64 (the reference of the framework hooks' device
    histograms): uniform bins over ``rng`` (``"minmax"``: the finite min and max, see
    :func:`histogram_limits`), the upper edge in the last bin, non-finite and out-of-range
    values counted in ``outside`` only."""
    x = np.asarray(array)
    x = (np.abs(x) if x.dtype.kind == "c" else x).astype(np.float64, copy=False).reshape(-1)
    fin = x[np.isfinite(x)]
    if rng == "minmax":
        lo, hi = histogram_limits(float(fin.min()), float(fin.max())) if fin.size else (0.0, 1.0)
    else:
        lo, hi = float(rng[0]), float(rng[1])
    counts, edges = np.histogram(fin, bins=bins, range=(lo, hi))
    counts = counts.astype(np.int64)
    return Histogram(edges, counts, int(x.size - counts.sum()))
