"""Reductions of many GPU tensors with a fixed number of kernels: one flat buffer, segments.

A saved step of a transformer reduces ~150 weights and gradients. Per-tensor kernels (or one
stack per shape) cost the host several microseconds per launch, and a model that is host-bound
pays that on its critical path. Here the tensors of one dtype are copied into one flat buffer
(one ``torch.cat``; a device-side copy at HBM speed) and each reduction is two
``torch.segment_reduce`` calls over it (CUB's segmented reduction on CUDA, over sub-segments of
at most ``SUB_SEGMENT`` elements, then per tensor; NaN propagates through max/min), so a saved
step launches about fifteen kernels whatever the number of tensors.

Buffers are built in chunks of at most ``FLAT_CHUNK`` elements so that the temporary memory
stays bounded for large models. Segment lengths are copied to the device once per layout and
cached. Works on any device (the CPU path of the hook does not use it; tests run it there).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["FLAT_KEYS", "flat_reductions", "SegmentLayouts", "compute_dtype"]

FLAT_KEYS = frozenset(
    {"mean", "sum", "max", "min", "prod", "l1", "l2"}
    | {f"abs_{k}" for k in ("mean", "sum", "max", "min", "prod", "l1", "l2")}
)
FLAT_CHUNK = 1 << 26  # elements per flat buffer (256 MB of float32)


SUB_SEGMENT = 1 << 14  # elements per first-level segment: many thread blocks per large tensor


class SegmentLayouts:
    """Device tensors describing a layout, one set per list of tensor sizes (cached).

    A segmented reduction gives each segment one thread block, so a few large tensors (a
    ResNet's 2.4M-element convolutions) would leave most of a GPU idle. Each tensor is therefore
    cut into sub-segments of at most ``SUB_SEGMENT`` elements, reduced first, and the partial
    results are reduced per tensor in a second, small segmented reduction."""

    def __init__(self) -> None:
        self._cache: dict[
            tuple[Any, tuple[int, ...]], tuple[torch.Tensor, torch.Tensor, torch.Tensor, Any]
        ] = {}

    def get(self, device: Any, lengths: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(sub-segment lengths, sub-segments per tensor, element count per tensor as float64)."""
        key = (device, lengths)
        hit = self._cache.get(key)
        if hit is None:
            if len(self._cache) > 256:
                self._cache.clear()
            sub: list[int] = []
            per: list[int] = []
            for n in lengths:
                full, rest = divmod(n, SUB_SEGMENT)
                sub.extend([SUB_SEGMENT] * full + ([rest] if rest else []))
                per.append(full + (1 if rest else 0))
            host = torch.tensor(sub + per + list(lengths), dtype=torch.int64)
            if device.type == "cuda":
                host = host.pin_memory()  # copied without waiting; kept alive with the result
            dev = host.to(device, non_blocking=True)
            a, b = len(sub), len(sub) + len(per)
            hit = self._cache[key] = (dev[:a], dev[a:b], dev[b:].to(torch.float64), host)
        return hit[0], hit[1], hit[2]


def compute_dtype(flat: torch.Tensor) -> torch.Tensor:
    """The tensor in the dtype its reductions are computed in: float32/float64 as they are, other
    floats in float32, complex as magnitudes and integers/bools in float64."""
    if flat.dtype in (torch.float32, torch.float64):
        return flat
    if flat.is_floating_point():
        return flat.float()
    if flat.is_complex():
        return flat.abs().double()
    return flat.double()


def _segment_rows(flat: torch.Tensor, sub: torch.Tensor, per: torch.Tensor, counts: torch.Tensor,
                  keys: Sequence[str]) -> torch.Tensor:  # fmt: skip
    """One row per key, one column per tensor."""
    done: dict[tuple[str, int], torch.Tensor] = {}
    sources: dict[int, torch.Tensor] = {0: flat}

    def seg(op: str, src: int) -> torch.Tensor:
        r = done.get((op, src))
        if r is None:
            x = sources.get(src)
            if x is None:
                x = sources[src] = flat.abs() if src == 1 else flat * flat
            partial = torch.segment_reduce(x, op, lengths=sub, unsafe=True)
            r = done[(op, src)] = torch.segment_reduce(partial, op, lengths=per, unsafe=True)
        return r

    rows = []
    for key in keys:
        name, is_abs = (key[4:], True) if key.startswith("abs_") else (key, False)
        if name == "l2":
            rows.append(seg("sum", 2).sqrt())
        elif name == "l1":
            rows.append(seg("sum", 1))
        elif name == "sum":
            rows.append(seg("sum", int(is_abs)))
        elif name == "mean":
            rows.append(seg("sum", int(is_abs)) / counts)
        elif name == "max":
            rows.append(torch.maximum(seg("max", 0), seg("min", 0).neg()) if is_abs else seg("max", 0))
        elif name == "min":
            rows.append(seg("min", int(is_abs)))
        elif name == "prod":
            rows.append(seg("prod", int(is_abs)))
        else:
            raise ValueError(f"reduction key {key!r} has no flat form (expected one of {sorted(FLAT_KEYS)})")
    return torch.stack([r.to(torch.float64) for r in rows])


def flat_reductions(ts: Sequence[torch.Tensor], keys: Sequence[str], layouts: SegmentLayouts) -> torch.Tensor:
    """The reductions ``keys`` of non-empty tensors of one dtype on one device, as a float64
    tensor of shape (len(keys), len(ts)); nothing is copied to the host."""
    ns = [t.numel() for t in ts]
    parts = []
    i = 0
    while i < len(ts):
        j, total = i + 1, ns[i]
        while j < len(ts) and total + ns[j] <= FLAT_CHUNK:
            total += ns[j]
            j += 1
        chunk = ts[i:j]
        flat = torch.cat([t.reshape(-1) for t in chunk]) if j - i > 1 else chunk[0].reshape(-1)
        sub, per, counts = layouts.get(flat.device, tuple(ns[i:j]))
        parts.append(_segment_rows(compute_dtype(flat), sub, per, counts, keys))
        i = j
    return torch.cat(parts, 1) if len(parts) > 1 else parts[0]
