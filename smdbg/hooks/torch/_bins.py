"""Exact bin counts of CPU tensors: ``np.histogram``'s counts, in a few passes over the values.

``np.histogram`` puts a value in bin ``i`` when ``edges[i] <= x < edges[i + 1]`` (the last bin
closed), with ``edges = np.linspace(lo, hi, bins + 1)``: it computes each value's position,
truncates it and then corrects it by comparing the value with the edges (two gathers and two
comparisons per value). Here a float32 tensor's positions ``(x - lo) * bins / (hi - lo)`` are
computed in float64 (a float32 -> float64 copy, a subtraction, a multiplication), truncated and
counted with one ``bincount`` for all the tensors of a capture together; the comparisons with
the edges are made once per *edge*, not per value:

* the positions are monotone in ``x``, so each interior edge ``j`` has a float32 threshold from
  which values get bin ``j`` or more; with float64 arithmetic its error is ~1e-16 of the range,
  so that threshold is almost always exactly the edge rounded up to float32 (the smallest
  float32 not below it, which no value below the edge reaches). That is checked for every edge
  on the two float32 values around it (two numpy evaluations of the same float64 arithmetic);
* where it is not (an edge within 1e-16 of a float32 value, such as 0 between two symmetric
  limits), the few float32 values between the two thresholds are counted and moved to the
  right bin (one comparison pass over that tensor per such edge).

The positions and counts (and the plain scale's check of the edges) are computed by compiled
loops where numba is installed (:mod:`smdbg.hooks.torch._bins_kernel`: the same float64
arithmetic in one pass, ~2x faster), else by the numpy and torch passes below. Float64 tensors,
whose values are as precise as the arithmetic, are counted by ``np.histogram``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import torch

from smdbg.hooks.torch._bins_kernel import Kernel, count_kernel

__all__ = ["exact_counts", "uniform_edges", "uniform_edges_many", "round_to"]

_ARANGE: dict[int, np.ndarray] = {}
_F32 = np.float32
_MAX_WALK = 64  # float32 steps from an edge to the arithmetic's threshold (else: numpy counts)
_MAX_WINDOWS = 8  # edges corrected by a pass over the tensor each (else: numpy counts)


def uniform_edges(lo: float, hi: float, bins: int) -> np.ndarray:
    """``np.linspace(lo, hi, bins + 1)`` value for value (numpy's own arithmetic: ``i * step +
    lo``, the last edge ``hi``) without its per-call overhead: ``np.histogram``'s edges."""
    step = (hi - lo) / bins
    if step == 0:
        return np.linspace(lo, hi, bins + 1)
    ar = _ARANGE.get(bins)
    if ar is None:
        ar = _ARANGE[bins] = np.arange(bins + 1, dtype=np.float64)
    edges = ar * step
    edges += lo
    edges[-1] = hi
    return edges


def uniform_edges_many(limits: Sequence[tuple[float, float]], bins: int) -> np.ndarray:
    """:func:`uniform_edges` of many ``(lo, hi)`` at once: one row each (the same arithmetic)."""
    bounds = np.array(limits, dtype=np.float64).reshape(-1, 2)
    lo, hi = bounds[:, :1], bounds[:, 1:]
    step = (hi - lo) / bins
    if not step.all():
        return np.stack([uniform_edges(a, b, bins) for a, b in limits])
    ar = _ARANGE.get(bins)
    if ar is None:
        ar = _ARANGE[bins] = np.arange(bins + 1, dtype=np.float64)
    edges = ar * step
    edges += lo
    edges[:, -1] = hi[:, 0]
    return edges


def round_to(v: float, up: bool) -> float:
    """``v`` rounded up (or down) to float32: a float32 tensor compared with a Python float is
    compared with the float rounded to nearest, which may be on the wrong side of it."""
    r = _F32(v)
    if (r < v) if up else (r > v):
        r = np.nextafter(r, _F32(np.inf if up else -np.inf))
    return float(r)


def _ceil32(edges: np.ndarray) -> np.ndarray:
    """Each edge rounded up to float32: for a float32 ``x``, ``x >= e`` exactly when ``x >= ceil(e)``."""
    c = edges.astype(_F32)
    low = c < edges
    if low.any():
        c[low] = np.nextafter(c[low], _F32(np.inf))
    return c


# Relative nudges of the scale tried, in ulps of float64: each moves the positions by ~1e-16 of
# the range, enough to put a marginal edge's threshold on its float32 neighbour.
_NUDGES = np.array([0, *(d * sign for d in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128) for sign in (1, -1)), 192],
                   dtype=np.float64) * 2.0**-52  # fmt: skip


Window = tuple[int, float, float, int]  # (edge j, start, stop, +1: counted in j-1, belongs in j; -1: the reverse)


def _fit(limits: Sequence[tuple[float, float]], edges: np.ndarray, bins: int,
         kernel: type[Kernel] | None = None) -> list[tuple[float, list[Window]] | None]:  # fmt: skip
    """For each tensor, a scale ``s`` for ``floor((x - lo) * s)`` in float64, and the float32
    windows where that bin is not ``np.histogram``'s (none, mostly): checked at every interior
    edge on the float32 values on both sides of it, over a few nudges of the plain scale.
    None where more than ``_MAX_WINDOWS`` edges are off whatever the nudge. ``edges``: one row
    per tensor (:func:`uniform_edges_many`); all tensors are checked together, by the compiled
    ``kernel`` when there is one (the same arithmetic, without numpy's per-call overhead on
    these small arrays)."""
    lows = np.array([lo for lo, _ in limits])
    plain = np.array([bins / (hi - lo) for lo, hi in limits])
    edges = np.ascontiguousarray(edges)
    if kernel is not None:
        scales, off = kernel.fit(lows, plain, edges, _NUDGES)
        out: list[tuple[float, list[Window]] | None] = [(float(s), []) for s in scales]  # plain, or the nudge that fits
        for t in np.flatnonzero(off.any(axis=1)):
            out[t] = _windows(off[t], float(scales[t]), float(lows[t]), edges[t])
        return out
    out = [(float(s), []) for s in plain]
    redo = np.flatnonzero(_check(lows, plain, edges).any(axis=1))  # the plain scale fits most tensors
    if not len(redo):
        return out
    k = len(_NUDGES)  # the others: every nudge
    scale = plain[redo, None] * (1.0 + _NUDGES[None, :])
    off = _check(np.repeat(lows[redo], k), scale.reshape(-1), np.repeat(edges[redo], k, axis=0)).reshape(len(redo), k, -1)
    best = (off != 0).sum(axis=2).argmin(axis=1)  # the first of the fewest
    for r, t in enumerate(redo):
        out[t] = _windows(off[r, best[r]], float(scale[r, best[r]]), float(lows[t]), edges[t])
    return out


def _windows(off: np.ndarray, s: float, lo: float, edges: np.ndarray) -> tuple[float, list[Window]] | None:
    """The scale ``s`` and the windows of the edges ``off`` marks (None: too many, or one whose
    window is too wide: numpy counts that tensor)."""
    wrong = np.flatnonzero(off)
    if len(wrong) > _MAX_WINDOWS:
        return None
    c = _ceil32(edges[1:-1])
    windows = []
    for i in wrong:
        w = _window(int(i) + 1, c[i], bool(off[i] > 0), lo, s)
        if w is None:
            return None
        windows.append(w)
    return s, windows


def _check(lows: np.ndarray, scales: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Per row (``lo``, scale, ``bins + 1`` edges) and interior edge ``j`` (int8): +1 where the
    first float32 of bin ``j`` gets bin ``j - 1`` from ``floor((x - lo) * s)``, -1 where the
    float32 below it gets bin ``j``, 0 where both are right (numpy's; ``Kernel.fit`` compiles it)."""
    c = _ceil32(edges[:, 1:-1])  # the first float32 of bin j
    below = np.nextafter(c, _F32(-np.inf)).astype(np.float64)
    j = np.arange(1, edges.shape[1] - 1, dtype=np.float64)
    lo, s = lows[:, None], scales[:, None]
    late: np.ndarray = np.floor((c.astype(np.float64) - lo) * s) < j  # from the edge on: one bin low
    early: np.ndarray = np.floor((below - lo) * s) >= j  # below the edge: one bin high
    return late.view(np.int8) - early.view(np.int8)


def _window(jj: int, edge: np.float32, late: bool, lo: float, s: float) -> Window | None:
    """The float32 values between edge ``jj`` and where the arithmetic's bin changes."""
    step = _F32(np.inf if late else -np.inf)
    a = edge if late else np.nextafter(edge, step)
    for _ in range(_MAX_WALK):  # late: up to the first value put in bin jj; early: down past the last
        nxt = np.nextafter(a, step)
        if late and np.floor((float(a) - lo) * s) >= jj:
            return (jj, float(edge), float(a), 1)
        if not late and np.floor((float(nxt) - lo) * s) < jj:
            return (jj, float(a), float(edge), -1)
        a = nxt
    return None


_LOCAL = threading.local()
_CHUNK = 1 << 16  # float64 positions computed 512 KiB at a time, so they stay in the L2 cache
_SMALL = 1 << 14  # tensors below this many values are packed together (per-call overhead)


def _scratch(n: int, dtype: torch.dtype) -> tuple[torch.Tensor, np.ndarray, torch.Tensor]:
    """A float64 buffer of ``_CHUNK`` positions (and its numpy view) and a buffer of ``n`` bins,
    kept per thread from one capture to the next: fresh buffers of a few MB cost more in page
    faults on first touch than the passes that fill them."""
    keys: dict[torch.dtype, torch.Tensor] | None = getattr(_LOCAL, "keys", None)
    if keys is None or _LOCAL.pos.numel() < _CHUNK:
        keys = _LOCAL.keys = {}
        _LOCAL.pos = torch.empty(_CHUNK, dtype=torch.float64)
        _LOCAL.posn = _LOCAL.pos.numpy()
    k = keys.get(dtype)
    if k is None or k.numel() < n:
        k = keys[dtype] = torch.empty(max(n, _CHUNK), dtype=dtype)
    return _LOCAL.pos, _LOCAL.posn, k[:n]


def _count_one(x: torch.Tensor, lo: float, s: float, width: int) -> np.ndarray:
    """``width`` counts of ``floor((float64(x) - lo) * s)`` (``x - lo >= 0``) of one tensor: the
    positions a chunk at a time (one conversion by torch, then numpy ufuncs, which cost less
    per call than torch's), truncated into uint8 bins where ``width <= 256`` (torch's
    ``bincount`` is about twice as fast on bytes as on int32), counted in one ``bincount``."""
    n = x.numel()
    pos, posn, k = _scratch(n, torch.uint8 if width <= 256 else torch.int32)
    kn = k.numpy()
    for c in range(0, n, _CHUNK):
        m = min(_CHUNK, n - c)
        p = posn[:m]
        pos[:m].copy_(x[c : c + m])
        np.subtract(p, lo, out=p)
        np.multiply(p, s, out=p)
        np.copyto(kn[c : c + m], p, casting="unsafe")  # truncated: the positions are >= 0
    return torch.bincount(k, minlength=width).numpy()


def _count_packed(xs: Sequence[torch.Tensor], lows: list[float], scales: list[float], width: int) -> list[np.ndarray]:
    """:func:`_count_one` of many small tensors (together at most ``_CHUNK`` values) in one
    block: the same float64 arithmetic with each value's own ``lo`` and scale, int32 bins offset
    by ``width`` per tensor, one ``bincount``."""
    sizes = [x.numel() for x in xs]
    n = sum(sizes)
    pos, posn, k = _scratch(n, torch.int32)
    a = 0
    for x, m in zip(xs, sizes):
        pos[a : a + m].copy_(x)
        a += m
    p, kn = posn[:n], k.numpy()
    np.subtract(p, np.repeat(lows, sizes), out=p)
    np.multiply(p, np.repeat(scales, sizes), out=p)
    np.copyto(kn, p, casting="unsafe")
    kn += np.repeat(np.arange(0, width * len(xs), width, dtype=np.int32), sizes)
    return list(torch.bincount(k, minlength=width * len(xs)).numpy().reshape(len(xs), width))


def _pack(xs: Sequence[torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """Small float32 tensors end to end in this thread's scratch buffer, and their sizes."""
    sizes = [x.numel() for x in xs]
    _, _, buf = _scratch(sum(sizes), torch.float32)
    torch.cat([x.reshape(-1) for x in xs], out=buf)
    return buf.numpy(), np.array(sizes, np.int64)


def exact_counts(xs: Sequence[torch.Tensor], bins: int, limits: Sequence[tuple[float, float]],
                 edges: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:  # fmt: skip
    """``np.histogram``'s counts (int64) of flat CPU tensors of one dtype (float32 or float64)
    whose values all lie within their ``limits`` (finite, ``lo <= x <= hi``), over ``edges``
    (their :func:`uniform_edges_many`, one row each)."""
    if not xs:
        return []
    edges = np.asarray(edges, dtype=np.float64).reshape(len(xs), bins + 1)
    if xs[0].dtype != torch.float32:
        return [np.histogram(x.numpy(), bins=e)[0].astype(np.int64) for x, e in zip(xs, edges)]
    kernel = count_kernel()
    fits = _fit(limits, edges, bins, kernel) if bins > 1 else [(bins / (hi - lo), []) for lo, hi in limits]
    width = bins + 1  # slot ``bins``: the upper edge, counted in the last bin
    rows: dict[int, np.ndarray] = {}
    block: list[tuple[int, float]] = []  # small tensors (index, scale) packed together, up to _CHUNK values
    packed = 0  # values in the block

    def count_block() -> None:
        if kernel is not None:
            x, sizes = _pack([xs[b] for b, _ in block])
            got = list(kernel.count_packed(x, sizes, np.array([limits[b][0] for b, _ in block]),
                                           np.array([s for _, s in block]), bins))  # fmt: skip
        else:
            got = _count_packed([xs[b] for b, _ in block], [limits[b][0] for b, _ in block], [s for _, s in block], width)
        rows.update(zip([b for b, _ in block], got))
        block.clear()

    for t, f in enumerate(fits):
        n = xs[t].numel()
        if f is None:  # too many edges off whatever the scale: numpy's own counting (rare)
            rows[t] = np.histogram(xs[t].numpy(), bins=edges[t])[0].astype(np.int64)
        elif n >= _SMALL:
            if kernel is not None:  # one compiled pass (_bins_kernel)
                rows[t] = kernel.count(xs[t].contiguous().numpy(), limits[t][0], f[0], bins)
            else:
                rows[t] = _count_one(xs[t], limits[t][0], f[0], width)
        else:
            if block and packed + n > _CHUNK:
                count_block()
                packed = 0
            block.append((t, f[0]))
            packed += n
    if block:
        count_block()
    out: list[np.ndarray] = []
    for t, f in enumerate(fits):
        row = rows[t]
        if f is None:
            out.append(row)
            continue
        counts = row[:bins].copy()
        counts[bins - 1] += row[bins]
        for jj, start, stop, sign in f[1]:
            moved = int(((xs[t] >= start) & (xs[t] < stop)).sum())
            counts[jj - 1] -= sign * moved
            counts[jj] += sign * moved
        out.append(counts)
    return out
