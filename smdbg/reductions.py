"""Reductions as pure numpy functions: array in, numbers out, no I/O.

Definitions used by every framework hook (documented in docs/store.md):

* ``variance`` and ``std`` are the *population* statistics (ddof=0), defined for a single
  element too. smdebug used the unbiased estimator in PyTorch and the population one in
  TensorFlow; smdbg uses one definition everywhere.
* ``l1`` is sum(|x|), ``l2`` is sqrt(sum(x^2)); here computed in float64 (the framework hooks
  reduce float32 tensors in float32 on their device and store float64).
* ``abs_<name>`` applies the reduction to |x|.
* Reductions of an empty tensor are NaN (``sum`` 0, ``prod`` 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np

__all__ = [
    "ALLOWED_REDUCTIONS",
    "ALLOWED_NORMS",
    "reduction_key",
    "split_reduction_key",
    "compute_reduction",
    "compute_reductions",
    "scalar_reductions",
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
