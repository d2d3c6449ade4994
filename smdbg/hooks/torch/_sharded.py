"""Sharded tensors (``DTensor``: FSDP2 ``fully_shard``, tensor parallelism): reductions of the
whole tensor from each rank's local shard, combined exactly across ranks without gathering it.

Every reduction smdbg saves is a function of a few additive or extreme statistics of the
elements, and those combine exactly over any partition of the tensor:

* one **SUM** all-reduce of ``[count, NaN count, sum, sum |x|, sum x^2]`` per tensor (float64)
  gives ``mean``, ``sum``, ``l1``, ``l2``, the ``abs_`` forms, and ``variance``/``std`` as
  ``sum x^2 / n - mean^2`` (computed in float64 from float32 values: equal to the unsharded
  value to float32 precision unless |mean| exceeds the standard deviation ~10^4 times);
* one **MAX** all-reduce of ``[max, -min, max |x|, -min |x|, finite max, -finite min]``, only
  when a max/min key or a ``"minmax"`` histogram is asked for;
* one **PRODUCT** all-reduce of ``[prod, prod |x|]``, only for ``prod``;
* a histogram's counts are summed in the SUM all-reduce, binned on every rank over the global
  range from the MAX all-reduce (or the fixed range).

Each is one collective per saved step for all the DTensors captured together (a step's weights
and gradients), of a few float64 per tensor, issued on the tensors' device (NCCL on a GPU keeps
it on the stream: no host synchronisation). A mesh dimension the tensor is ``Shard``-ed over is
summed over; a ``Replicate`` one is not (each replica holds the same elements). ``Partial``
placements (values still to be summed across ranks) are not reduced: see :func:`layout_of`.

Every rank of the mesh must run the same captures in the same order (the hook's save plans are
the same on every rank); a rank that writes nothing (``include_workers="one"``) still takes part.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from smdbg.hooks.torch._flat import compute_dtype
from smdbg.hooks.torch._hist import bin_counts, cpu_bin_counts, device_limits
from smdbg.reductions import HistogramRange

__all__ = ["ShardLayout", "dtensor_type", "layout_of", "sharded_reductions", "local_block", "numpy_block", "refuse_dtensor"]

_S_N, _S_NAN, _S_SUM, _S_ABS, _S_SQ = range(5)
_M_MAX, _M_NEGMIN, _M_AMAX, _M_NEGAMIN, _M_FMAX, _M_NEGFMIN = range(6)
_NEEDS_MAX = {"max", "min", "abs_max", "abs_min"}
_NEEDS_PROD = {"prod", "abs_prod"}


def dtensor_type() -> type | None:
    """torch's DTensor class where this torch has one (feature detection, no version check)."""
    try:
        from torch.distributed.tensor import DTensor
    except ImportError:  # pragma: no cover - torch without distributed
        return None
    return DTensor


_DTENSOR = dtensor_type()


def refuse_dtensor(value: Any) -> None:
    """A DTensor given to ``save_tensor``/``record_tensor_value`` raises, saying what to pass."""
    if _DTENSOR is not None and isinstance(value, _DTENSOR):
        raise TypeError(
            f"a DTensor (placements {tuple(getattr(value, 'placements', ()))}) was given to save_tensor/record_tensor_value: "
            "expected a plain tensor; pass dt.full_tensor() (a gather on every rank) or dt.to_local() (this "
            "rank's shard); sharded parameters and gradients of a registered model are saved without it"
        )


class ShardLayout(NamedTuple):
    """How a DTensor is spread: the process groups of the mesh dimensions it is sharded over,
    and where this rank's block lies (None when the blocks are not contiguous, e.g. strided)."""

    groups: tuple[Any, ...]
    offset: tuple[int, ...] | None
    local_shape: tuple[int, ...]
    global_shape: tuple[int, ...]


def layout_of(t: Any) -> ShardLayout | str:
    """The layout of a DTensor, or why it cannot be reduced from its shards (a message)."""
    placements = tuple(t.placements)
    mesh = t.device_mesh
    groups = []
    for dim, p in enumerate(placements):
        if p.is_shard():
            groups.append(mesh.get_group(dim))
        elif not p.is_replicate():
            return (
                f"placement {p!r} on mesh dimension {dim} of {placements} holds partial values (to be summed "
                "across ranks), not parts of the tensor; expected Shard(d) or Replicate() on every mesh "
                "dimension (call .redistribute() or .full_tensor() before saving it)"
            )
    local = tuple(t.to_local().shape)
    offset: tuple[int, ...] | None = None
    if all(type(p).__name__ in ("Shard", "Replicate") for p in placements):
        try:
            from torch.distributed.tensor._utils import compute_local_shape_and_global_offset

            shape, off = compute_local_shape_and_global_offset(t.shape, mesh, placements)
            offset = tuple(int(o) for o in off) if tuple(shape) == local else None
        except (ImportError, TypeError, ValueError):  # pragma: no cover - another torch's internals
            offset = None
    return ShardLayout(tuple(groups), offset, local, tuple(t.shape))


def local_block(t: Any) -> torch.Tensor:
    """This rank's block of a DTensor, as a plain tensor."""
    local: torch.Tensor = t.to_local()
    return local


def _all_reduce(vec: torch.Tensor, op: Any, groups: Sequence[Any]) -> torch.Tensor:
    dist = torch.distributed
    for g in groups:  # sharded over several mesh dimensions: over each in turn
        dist.all_reduce(vec, op=op, group=g)
    return vec


def _local_stats(x: torch.Tensor, want_max: bool, want_prod: bool) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """(SUM stats, MAX stats or None, PRODUCT stats or None) of one local block, float64."""
    x = compute_dtype(x).reshape(-1)
    d = x.device
    f64 = torch.float64
    if x.numel() == 0:
        s = torch.zeros(5, dtype=f64, device=d)
        m = torch.full((6,), -math.inf, dtype=f64, device=d) if want_max else None
        p = torch.ones(2, dtype=f64, device=d) if want_prod else None
        return s, m, p
    xd = x.to(f64)
    ax = xd.abs()
    s = torch.stack([
        torch.full((), float(x.numel()), dtype=f64, device=d), torch.isnan(x).sum().to(f64),
        xd.sum(), ax.sum(), torch.dot(xd, xd),
    ])  # fmt: skip
    m = p = None
    if want_max:
        fin = torch.isfinite(x)
        lo, hi = torch.aminmax(xd)
        alo, ahi = torch.aminmax(ax)
        flo = torch.where(fin, xd, math.inf).amin()
        fhi = torch.where(fin, xd, -math.inf).amax()
        m = torch.stack([hi, -lo, ahi, -alo, fhi, -flo])
    if want_prod:
        p = torch.stack([xd.prod(), ax.prod()])
    return s, m, p


def _finish(key: str, s: torch.Tensor, m: torch.Tensor | None, p: torch.Tensor | None) -> torch.Tensor:
    """One reduction of the whole tensor from its combined statistics (0-d float64)."""
    n, nan = s[_S_N], s[_S_NAN]
    name, is_abs = (key[4:], True) if key.startswith("abs_") else (key, False)
    total = s[_S_ABS] if is_abs else s[_S_SUM]
    if name in ("sum", "l1"):
        return s[_S_ABS] if name == "l1" else total
    if name == "l2":
        return s[_S_SQ].sqrt()
    if name == "mean":
        return total / n  # 0/0: NaN, the mean of an empty tensor
    if name in ("variance", "std"):
        mean = total / n
        var = (s[_S_SQ] / n - mean * mean).clamp_min(0.0)
        var = torch.where(torch.isfinite(mean), var, mean * 0.0 + math.nan)
        return var.sqrt() if name == "std" else var
    if name in ("max", "min"):
        assert m is not None
        idx = {("max", False): _M_MAX, ("min", False): _M_NEGMIN, ("max", True): _M_AMAX, ("min", True): _M_NEGAMIN}
        v = m[idx[(name, is_abs)]]
        v = v if name == "max" else -v
        v = torch.where(n > 0, v, math.nan)  # empty: NaN (numpy's definition)
        return torch.where(nan > 0, math.nan, v)  # NaN propagates as in torch.max
    if name == "prod":
        assert p is not None
        return p[1] if is_abs else p[0]
    raise ValueError(f"unknown reduction key {key!r}")


def sharded_reductions(
    tensors: Sequence[Any], layouts: Sequence[ShardLayout], keys: Sequence[tuple[str, ...]],
    hists: Sequence[tuple[int, HistogramRange] | None],
) -> list[tuple[torch.Tensor, list[str], torch.Tensor | None]]:  # fmt: skip
    """The reductions ``keys[i]`` of each whole DTensor ``tensors[i]`` (all sharded over the same
    process groups, on one device), and its histogram when ``hists[i]`` asks for one.

    Returns per tensor (float64 vector of the reductions in ``keys[i]`` order, those keys, the
    histogram as ``[lo, hi, counts...]`` or None), on the tensors' device. Collective: every
    rank of the groups must call it with the same tensors, keys and histograms."""
    dist = torch.distributed
    groups = layouts[0].groups if layouts else ()
    locals_ = [local_block(t) for t in tensors]
    want_max = any(set(k) & _NEEDS_MAX for k in keys) or any(h is not None and h[1] == "minmax" for h in hists)
    want_prod = any(set(k) & _NEEDS_PROD for k in keys)
    stats = [_local_stats(x, want_max, want_prod) for x in locals_]
    dev = locals_[0].device if locals_ else torch.device("cpu")
    mx = None
    if want_max:
        mx = _all_reduce(torch.cat([m for _, m, _ in stats if m is not None]), dist.ReduceOp.MAX, groups).view(-1, 6)
    ranges: list[tuple[torch.Tensor, torch.Tensor] | None] = []
    for i, h in enumerate(hists):
        if h is None:
            ranges.append(None)
        elif h[1] == "minmax":
            assert mx is not None
            lo, hi = mx[i, _M_NEGFMIN].neg(), mx[i, _M_FMAX]
            ranges.append(device_limits(lo, hi))
        else:
            lo = torch.full((), float(h[1][0]), dtype=torch.float64, device=dev)
            ranges.append((lo, torch.full((), float(h[1][1]), dtype=torch.float64, device=dev)))
    counts = []
    for x, h, r in zip(locals_, hists, ranges):
        if h is not None and r is not None:
            flat = compute_dtype(x).reshape(-1)
            if flat.is_cpu:  # the unsharded CPU path's arithmetic: bins match it element for element
                finite = not flat.numel() or bool(torch.isfinite(flat).all())
                c = cpu_bin_counts(flat, h[0], float(r[0]), float(r[1]), inside=finite and h[1] == "minmax")
                counts.append(torch.from_numpy(c).to(torch.float64))
            else:
                counts.append(bin_counts(flat, torch.isfinite(flat), r[0], r[1], h[0]).to(torch.float64))
    sums = _all_reduce(torch.cat([s for s, _, _ in stats] + counts), dist.ReduceOp.SUM, groups)
    prods = None
    if want_prod:
        prods = _all_reduce(torch.cat([p for _, _, p in stats if p is not None]), dist.ReduceOp.PRODUCT, groups)
    out = []
    at = 5 * len(tensors)
    for i, (k, h, r) in enumerate(zip(keys, hists, ranges)):
        s = sums[5 * i : 5 * i + 5]
        m = None if mx is None else mx[i]
        p = None if prods is None else prods[2 * i : 2 * i + 2]
        vec = torch.stack([_finish(key, s, m, p) for key in k]) if k else torch.zeros(0, dtype=torch.float64, device=dev)
        hist = None
        if h is not None and r is not None:
            hist = torch.cat([r[0].reshape(1), r[1].reshape(1), sums[at : at + h[0]]])
            at += h[0]
        out.append((vec, list(k), hist))
    return out


def numpy_block(x: torch.Tensor) -> np.ndarray:
    """A copy of a local block on the host (widened where numpy has no dtype): a snapshot, not
    a view of a CPU parameter that the optimizer is about to change."""
    if x.dtype in (torch.bfloat16, torch.float8_e4m3fn, torch.float8_e5m2):
        x = x.float()
    return np.array(x.detach().cpu().numpy(), copy=True, order="C")
