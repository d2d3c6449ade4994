"""Histograms of PyTorch tensors, computed where the tensor is.

The definition is :func:`smdbg.reductions.compute_histogram`'s: uniform bins over the tensor's
finite min and max (``"minmax"``, see :func:`~smdbg.reductions.histogram_limits` for a constant
or all-NaN tensor) or a fixed ``(lo, hi)``, the upper edge in the last bin, non-finite and
out-of-range values left out of the counts.

* On the CPU, :func:`cpu_histograms` takes a capture's tensors together: the range from one
  ``torch.aminmax`` each (the one the reductions ran, when they did), then the counts of all
  of them in a few elementwise passes and one ``bincount``, equal to ``np.histogram``'s
  (:mod:`smdbg.hooks.torch._bins`); host values at once. :func:`cpu_histogram` is one tensor.
* On a GPU, :func:`device_histogram` never synchronises: the range stays a device tensor, each
  element's bin is computed elementwise and the counts are a ``scatter_add_`` into ``bins + 1``
  slots (the last one collects what is outside), so the result is one small float64 vector
  ``[lo, hi, count_0 ... count_{bins-1}]`` on the device, copied to the host with the step's
  other reductions (:mod:`smdbg.hooks.torch._capture`).

Both work on any device (the tests run the GPU formula on the CPU against numpy). The GPU
counts are those of the float arithmetic (a value within ~1e-7 of an edge may fall on its other
side); the CPU counts are exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from smdbg.hooks.torch._bins import exact_counts, round_to, uniform_edges, uniform_edges_many
from smdbg.hooks.torch._flat import compute_dtype
from smdbg.reductions import Histogram, HistogramRange, compute_histogram, histogram_limits

__all__ = [
    "cpu_bin_counts", "cpu_histogram", "cpu_histograms", "device_histogram", "histogram_of_vector", "histogram_bounds",
    "bin_counts", "device_limits",
]  # fmt: skip


def histogram_bounds(t: torch.Tensor, rng: HistogramRange, minmax: tuple[float, float] | None = None) -> tuple[float, float, bool]:
    """The bins' range for a CPU tensor in its compute dtype, and whether all its values are
    finite (one ``aminmax``, or ``minmax`` when the reductions computed it already; a second
    pass over the finite values only when some are not)."""
    if minmax is None:
        lo_t, hi_t = torch.aminmax(t)
        lo, hi = float(lo_t), float(hi_t)
    else:
        lo, hi = minmax
    finite = math.isfinite(lo) and math.isfinite(hi)
    if rng != "minmax":
        return float(rng[0]), float(rng[1]), finite
    if not finite:
        fin = t[torch.isfinite(t)]
        if not fin.numel():
            return 0.0, 1.0, False
        lo_t, hi_t = torch.aminmax(fin)
        lo, hi = float(lo_t), float(hi_t)
    return (*histogram_limits(lo, hi), finite)


def cpu_bin_counts(x: torch.Tensor, bins: int, lo: float, hi: float, inside: bool) -> np.ndarray:
    """Counts (int64) of ``bins`` uniform bins over [lo, hi] of a CPU tensor in its compute
    dtype, equal to ``np.histogram``'s (see :func:`exact_counts`). ``inside``: every value is
    finite and within [lo, hi]; otherwise the others (out of range, non-finite) are left out."""
    flat = x.reshape(-1)
    if not inside:  # the values in [lo, hi] (NaN fails both comparisons)
        if flat.dtype == torch.float32:
            flat = flat[(flat >= round_to(lo, up=True)) & (flat <= round_to(hi, up=False))]
        else:
            flat = flat[(flat >= lo) & (flat <= hi)]
    if not flat.numel():
        return np.zeros(bins, np.int64)
    return exact_counts([flat], bins, [(lo, hi)], uniform_edges(lo, hi, bins)[None])[0]


def cpu_histogram(t: torch.Tensor, bins: int, rng: HistogramRange, bounds: tuple[float, float] | None = None) -> Histogram:
    """The histogram of a CPU tensor (call under ``torch.no_grad()``); ``bounds`` gives the
    range when the caller computed it already (the global range of a sharded tensor)."""
    n = t.numel()
    if n <= 1 and bounds is None:
        return compute_histogram(t.detach().numpy() if n else np.empty(0), bins, rng)
    x = compute_dtype(t)
    if bounds is None:
        lo, hi, finite = histogram_bounds(x, rng)
    else:
        (lo, hi), finite = bounds, n == 0 or bool(torch.isfinite(x).all())
    counts = cpu_bin_counts(x, bins, lo, hi, inside=finite and rng == "minmax")
    return Histogram(uniform_edges(lo, hi, bins), counts, int(n - counts.sum()))


def cpu_histograms(items: Sequence[tuple[torch.Tensor, int, HistogramRange, tuple[float, float] | None]]) -> list[Histogram]:
    """Histograms of many CPU tensors (each ``(tensor, bins, range, its (min, max) if known)``):
    those of one dtype and bin count with a ``"minmax"`` range and finite values counted
    together (:func:`exact_counts`), the others one by one (:func:`cpu_histogram`)."""
    out: list[Histogram | None] = [None] * len(items)
    groups: dict[tuple[torch.dtype, int], list[tuple[int, torch.Tensor, float, float, int]]] = {}
    for i, (t, bins, rng, minmax) in enumerate(items):
        n = t.numel()
        x = compute_dtype(t)
        if n > 1 and rng == "minmax" and x.dtype in (torch.float32, torch.float64):
            lo, hi, finite = histogram_bounds(x, rng, minmax)
            if finite:
                groups.setdefault((x.dtype, bins), []).append((i, x.reshape(-1), lo, hi, n))
                continue
        out[i] = cpu_histogram(t, bins, rng)
    for (_, bins), members in groups.items():
        limits = [(lo, hi) for _, _, lo, hi, _ in members]
        edges = uniform_edges_many(limits, bins)
        counts = exact_counts([x for _, x, _, _, _ in members], bins, limits, edges)
        for (i, _, _, _, n), e, c in zip(members, edges, counts):
            out[i] = Histogram(e, c, int(n - c.sum()))
    return out  # type: ignore[return-value]


def device_histogram(t: torch.Tensor, bins: int, rng: HistogramRange) -> torch.Tensor:
    """``[lo, hi, counts...]`` (float64, on ``t``'s device) without a device synchronisation."""
    x = compute_dtype(t).reshape(-1)
    fin = torch.isfinite(x)
    if rng == "minmax":
        lo = torch.where(fin, x, math.inf).amin().to(torch.float64)
        hi = torch.where(fin, x, -math.inf).amax().to(torch.float64)
        lo, hi = device_limits(lo, hi)
    else:
        # filled on the device (torch.tensor(value, device=...) would copy from the host)
        lo = torch.full((), float(rng[0]), dtype=torch.float64, device=x.device)
        hi = torch.full((), float(rng[1]), dtype=torch.float64, device=x.device)
    return torch.cat([lo.reshape(1), hi.reshape(1), bin_counts(x, fin, lo, hi, bins).to(torch.float64)])


def device_limits(lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`~smdbg.reductions.histogram_limits` on device scalars (no synchronisation): (0, 1)
    when there was no finite value (lo > hi), one unit around a constant."""
    empty = lo > hi
    lo = torch.where(empty, 0.0, lo)
    hi = torch.where(empty, 1.0, hi)
    same = lo == hi
    return torch.where(same, lo - 0.5, lo), torch.where(same, hi + 0.5, hi)


def bin_counts(x: torch.Tensor, fin: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, bins: int) -> torch.Tensor:
    """Counts of ``bins`` uniform bins over [lo, hi] of a flat tensor (``fin``: its finite
    mask), as int64 on its device; elementwise, one scatter, no synchronisation."""
    lo_x, hi_x = lo.to(x.dtype), hi.to(x.dtype)  # in the tensor's dtype: no float64 copy of it
    pos = ((x - lo_x) * (bins / (hi_x - lo_x))).floor_()
    pos = torch.where(x == hi_x, bins - 1, pos)
    inside = fin & (pos >= 0) & (pos < bins)
    idx = torch.where(inside, pos, bins).to(torch.int64)
    counts = torch.zeros(bins + 1, dtype=torch.int64, device=x.device)
    counts.scatter_add_(0, idx, torch.ones_like(idx))
    return counts[:bins]


def histogram_of_vector(vec: list[float], numel: int) -> Histogram:
    """The :class:`Histogram` of a :func:`device_histogram` result copied to the host."""
    lo, hi = vec[0], vec[1]
    counts = np.asarray(vec[2:], dtype=np.int64)
    return Histogram(uniform_edges(lo, hi, len(counts)), counts, int(numel - counts.sum()))
