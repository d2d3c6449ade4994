"""One reduction of many same-device tensors with as few kernels and Python calls as the key
allows: ``torch._foreach_*`` norms and extrema, else one stack and kernel per run of equal
shapes. Used by the batched GPU capture (:mod:`smdbg.hooks.torch._capture`) for the keys the
flat segmented path (:mod:`smdbg.hooks.torch._flat`) does not cover (variance, std)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from smdbg.hooks.torch._cpu import per_tensor

__all__ = ["batch_reductions", "grouped_reductions"]

_INF = float("inf")


def batch_reductions(tensors: Sequence[torch.Tensor], key: str) -> torch.Tensor:
    """One reduction of each tensor as a 1-d tensor, computed with as few kernels (and Python
    calls) as the key allows. Tensors are non-empty, on one GPU, in one compute dtype (CPU
    tensors are reduced one by one, see :mod:`smdbg.hooks.torch._cpu`)."""
    ts = list(tensors)
    if key in ("l2", "abs_l2"):
        return torch.stack(torch._foreach_norm(ts, 2))
    if key in ("l1", "abs_l1"):
        return torch.stack(torch._foreach_norm(ts, 1))
    if key == "abs_max":
        return torch.stack(torch._foreach_norm(ts, _INF))
    if key == "max":
        return torch.stack(torch._foreach_max(ts))
    if key == "min":
        return torch.stack(torch._foreach_max(torch._foreach_neg(ts))).neg_()
    if key == "abs_min":
        return torch.stack(torch._foreach_max(torch._foreach_neg(torch._foreach_abs(ts)))).neg_()
    return grouped_reductions(ts, key)


def grouped_reductions(ts: list[torch.Tensor], key: str) -> torch.Tensor:
    """One reduction of each tensor, in order, with one stack and one kernel per run of equal
    shapes (callers sort tensors by shape). On a GPU each call is a kernel launch and several
    microseconds of host time: a transformer's 150 weights and gradients have ~10 shapes."""
    chunks: list[torch.Tensor] = []
    i = 0
    while i < len(ts):
        j = i + 1
        while j < len(ts) and ts[j].shape == ts[i].shape:
            j += 1
        if j - i == 1:
            chunks.append(per_tensor(key, ts[i]).reshape(1))
        else:
            chunks.append(_per_row(key, torch.stack(ts[i:j]).reshape(j - i, -1)))
        i = j
    return torch.cat(chunks) if len(chunks) > 1 else chunks[0]


def _per_row(key: str, x: torch.Tensor) -> torch.Tensor:
    """:func:`per_tensor` of each row of a 2-d tensor."""
    name, is_abs = (key[4:], True) if key.startswith("abs_") else (key, False)
    if is_abs:
        x = x.abs()
    if name == "mean":
        return x.mean(1)
    if name == "sum":
        return x.sum(1)
    if name == "prod":
        return x.prod(1)
    if name == "variance":
        return x.var(1, correction=0)
    if name == "std":
        return x.std(1, correction=0)
    if name == "max":
        return x.amax(1)
    if name == "min":
        return x.amin(1)
    if name == "l1":
        return x.abs().sum(1)
    if name == "l2":
        norms: torch.Tensor = torch.linalg.vector_norm(x, dim=1)
        return norms
    raise ValueError(f"unknown reduction key {key!r}")
