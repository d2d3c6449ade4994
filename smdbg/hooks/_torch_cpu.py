"""Reductions of one CPU tensor, as Python floats, with the fastest kernel this machine has.

On a CPU a saved step's reductions are memory passes over the weights and gradients (all of
them, on the training thread), so the kernel choice matters: measured on one thread for a
256x784 float32 tensor in cache, ``torch.sum`` 10 us (``Tensor.mean`` 13 us), numpy's
``max``/``min`` 11 us each, ``torch.aminmax`` 23 us (but one pass over memory instead of two:
faster when the tensor is not in cache, as in a training step), BLAS ``dot`` for the sum of
squares 9 us (``torch.linalg.vector_norm`` 23 us). Numpy works on the tensor's memory without
a copy.

Definitions are those of :mod:`smdbg.reductions`; NaN and inf propagate as numpy's would.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

__all__ = ["cpu_reductions"]

_DOT_CHUNK = 1 << 20  # float32 sums of squares in chunks of this many, added in float64


def _sum_squares(a: np.ndarray) -> float:
    n = a.size
    if n <= _DOT_CHUNK:
        s = float(np.dot(a, a))
    else:
        s = 0.0
        for i in range(0, n, _DOT_CHUNK):
            c = a[i : i + _DOT_CHUNK]
            s += float(np.dot(c, c))
    if math.isinf(s) and a.dtype == np.float32 and bool(np.isfinite(a).all()):
        b = a.astype(np.float64)  # overflowed in float32 only: redo in float64
        s = float(np.dot(b, b))
    return s


def _abs_max(x: torch.Tensor, a: np.ndarray) -> float:
    lo_t, hi_t = torch.aminmax(x)  # one pass (numpy needs two); NaN propagates
    hi = float(hi_t)
    lo = float(lo_t)
    if hi != hi or lo != lo:
        return math.nan
    return hi if hi >= -lo else -lo


_FAST: dict[str, Callable[[torch.Tensor, np.ndarray], float]] = {
    "mean": lambda x, a: float(x.sum()) / a.size,
    "sum": lambda x, a: float(x.sum()),
    "max": lambda x, a: float(a.max()),
    "min": lambda x, a: float(a.min()),
    "l2": lambda x, a: math.sqrt(_sum_squares(a)),
    "abs_l2": lambda x, a: math.sqrt(_sum_squares(a)),
    "abs_max": _abs_max,
    "l1": lambda x, a: float(x.abs().sum()),
    "abs_l1": lambda x, a: float(x.abs().sum()),
    "abs_sum": lambda x, a: float(x.abs().sum()),
    "abs_mean": lambda x, a: float(x.abs().sum()) / a.size,
    "abs_min": lambda x, a: float(np.abs(a).min()),
    "variance": lambda x, a: float(x.var(correction=0)),
    "std": lambda x, a: float(x.std(correction=0)),
    "prod": lambda x, a: float(x.prod()),
    "abs_variance": lambda x, a: float(x.abs().var(correction=0)),
    "abs_std": lambda x, a: float(x.abs().std(correction=0)),
    "abs_prod": lambda x, a: float(x.abs().prod()),
}


def cpu_reductions(t: torch.Tensor, keys: tuple[str, ...]) -> dict[str, float]:
    """The reductions ``keys`` of a CPU tensor with at least two elements, as floats.

    Float32/float64 tensors are reduced in place; other dtypes in float32 (half precision) or
    float64 (integers, bool), complex ones as their magnitudes in float64. Call under
    ``torch.no_grad()``.
    """
    if t.dtype is torch.float32 or t.dtype is torch.float64:
        x = t.reshape(-1)
    elif t.is_floating_point():
        x = t.reshape(-1).float()
    elif t.is_complex():
        x = t.reshape(-1).abs().double()
    else:
        x = t.reshape(-1).double()
    a = x.detach().numpy()
    out: dict[str, float] = {}
    for key in keys:
        fn = _FAST.get(key)
        if fn is None:
            raise ValueError(f"unknown reduction key {key!r}")
        out[key] = fn(x, a)
    return out
