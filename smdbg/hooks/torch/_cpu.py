"""Reductions of one CPU tensor, as Python floats, with the fastest kernel this machine has.

On a CPU a saved step's reductions are memory passes over the weights and gradients (all of
them, on the training thread), so the kernel choice matters: measured on one thread for a
256x784 float32 tensor in cache, ``torch.sum`` 10 us (``Tensor.mean`` 13 us), numpy's
``max``/``min`` 11 us each, ``torch.aminmax`` 23 us (but one pass over memory instead of two:
faster when the tensor is not in cache, as in a training step), BLAS ``dot`` for the sum of
squares 9 us (``torch.linalg.vector_norm`` 23 us; ``np.vdot``, which unlike ``np.dot`` does not
check the floating-point status, so no ``np.errstate`` is needed). Numpy works on the tensor's
memory without a copy.

Definitions are those of :mod:`smdbg.reductions`; NaN and inf propagate as numpy's would.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from smdbg.hooks.torch._flat import compute_dtype

__all__ = ["cpu_reductions", "per_tensor"]

_DOT_CHUNK = 1 << 20  # float32 sums of squares in chunks of this many, added in float64
_F32, _F64 = torch.float32, torch.float64


def _sum_squares(a: np.ndarray) -> float:
    # vdot: BLAS dot like np.dot, but it does not check the floating-point status (np.dot warns
    # on overflow, and silencing that with np.errstate costs more than the dot of a bias)
    n = a.size
    if n <= _DOT_CHUNK:
        s = float(np.vdot(a, a))
    else:
        s = 0.0
        for i in range(0, n, _DOT_CHUNK):
            c = a[i : i + _DOT_CHUNK]
            s += float(np.vdot(c, c))
    if s == math.inf and a.dtype == np.float32 and bool(np.isfinite(a).all()):
        b = a.astype(np.float64)  # overflowed in float32 only: redo in float64
        s = float(np.vdot(b, b))
    return s


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
        norm: torch.Tensor = torch.linalg.vector_norm(x)
        return norm
    raise ValueError(f"unknown reduction key {key!r}")


_aminmax = torch.aminmax
_NAN = math.nan
_SQRT = math.sqrt
# what each key is derived from: 0 mean, 1 sum, 2 max, 3 min, 4 abs max, 5 l2, 6 its own kernel
_CODES = {"mean": 0, "sum": 1, "max": 2, "min": 3, "abs_max": 4, "l2": 5, "abs_l2": 5}
_Program = tuple[bool, bool, bool, tuple[tuple[str, int], ...]]
_PROGRAMS: dict[tuple[str, ...], _Program] = {}


def _program(keys: tuple[str, ...]) -> _Program:
    """(needs a sum, min/max, a sum of squares, ((key, code) ...)) for a key tuple."""
    ops = tuple((k, _CODES.get(k, 6)) for k in keys)
    codes = {c for _, c in ops}
    prog = (bool(codes & {0, 1}), bool(codes & {2, 3, 4}), 5 in codes, ops)
    if len(_PROGRAMS) < 256:
        _PROGRAMS[keys] = prog
    return prog


def cpu_reductions(t: torch.Tensor, keys: tuple[str, ...], minmax: list[tuple[float, float]] | None = None) -> dict[str, float]:
    """The reductions ``keys`` of a CPU tensor with at least two elements, as floats.

    Float32/float64 tensors are reduced in place; other dtypes in float32 (half precision) or
    float64 (integers, bool), complex ones as their magnitudes in float64. Call under
    ``torch.no_grad()``. One kernel per pass: sum and mean share a ``torch.sum``; max, min and
    abs max one ``torch.aminmax`` (its (min, max) appended to ``minmax`` when given: a
    histogram's range); l2 is a BLAS dot; every other key is one torch kernel (``per_tensor``). Written flat on purpose: it runs for every weight and gradient of a saved
    step, with cold caches.
    """
    need_sum, need_range, need_ss, ops = _PROGRAMS.get(keys) or _program(keys)
    x = t  # any shape or strides: the kernels reduce over all elements, vdot flattens
    dt = x.dtype
    if dt is not _F32 and dt is not _F64:
        x = compute_dtype(x)
    s = hi = lo = ss = _NAN
    if need_sum:
        s = float(x.sum())
    if need_range:  # one pass (numpy needs two); NaN propagates
        lo_t, hi_t = _aminmax(x)
        lo = float(lo_t)
        hi = float(hi_t)
        if minmax is not None:
            minmax.append((lo, hi))
    if need_ss:
        ss = _sum_squares(x.numpy())
    out: dict[str, float] = {}
    for key, code in ops:
        if code == 0:
            out[key] = s / x.numel()
        elif code == 4:
            out[key] = _NAN if hi != hi or lo != lo else (hi if hi >= -lo else -lo)
        elif code == 5:
            out[key] = _SQRT(ss)
        elif code == 1:
            out[key] = s
        elif code == 2:
            out[key] = hi
        elif code == 3:
            out[key] = lo
        else:
            out[key] = float(per_tensor(key, x))
    return out
