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

from smdbg.hooks._torch_flat import compute_dtype

__all__ = ["cpu_reductions", "per_tensor"]

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


def per_tensor(key: str, t: torch.Tensor) -> torch.Tensor:
    """One reduction of a tensor as a 0-d tensor on its device (any device; the reference the
    batched GPU paths are tested against)."""
    name, is_abs = (key[4:], True) if key.startswith("abs_") else (key, False)
    x = t.abs() if is_abs else t
    if name == "mean":
        return x.mean()
    if name == "sum":
        return x.sum()
    if name == "prod":
        return x.prod()
    if name == "variance":
        return x.var(correction=0)
    if name == "std":
        return x.std(correction=0)
    if name == "max":
        return x.max()
    if name == "min":
        return x.min()
    if name == "l1":
        return x.abs().sum()
    if name == "l2":
        return torch.linalg.vector_norm(x)
    raise ValueError(f"unknown reduction key {key!r}")


_FAST: dict[str, Callable[[torch.Tensor, np.ndarray], float]] = {
    "mean": lambda x, a: float(x.sum()) / a.size,
    "sum": lambda x, a: float(x.sum()),
    "max": lambda x, a: float(a.max()),
    "min": lambda x, a: float(a.min()),
    "l2": lambda x, a: math.sqrt(_sum_squares(a)),
    "abs_l2": lambda x, a: math.sqrt(_sum_squares(a)),
    "abs_max": _abs_max,
}  # every other key: per_tensor (one torch kernel, |x| first for abs_ keys)


def cpu_reductions(t: torch.Tensor, keys: tuple[str, ...]) -> dict[str, float]:
    """The reductions ``keys`` of a CPU tensor with at least two elements, as floats.

    Float32/float64 tensors are reduced in place; other dtypes in float32 (half precision) or
    float64 (integers, bool), complex ones as their magnitudes in float64. Call under
    ``torch.no_grad()``.
    """
    x = compute_dtype(t.reshape(-1))
    a = x.detach().numpy()
    out: dict[str, float] = {}
    for key in keys:
        fn = _FAST.get(key)
        out[key] = fn(x, a) if fn is not None else float(per_tensor(key, x))
    return out
