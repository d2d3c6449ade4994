"""Batched capture of PyTorch tensors for one step: reductions on the tensors' device, one copy.

Reductions of a group of tensors are computed together (``torch._foreach_norm`` for the norms
and abs-max, ``torch._foreach_max`` for max/min, per-tensor kernels for the rest) and kept on
the device as small result vectors. At the end of the step all result vectors of a device are
concatenated and copied to pinned host memory with ``non_blocking=True``; a CUDA event marks
when the copy is done, so nothing here synchronises the device. On the CPU the same code runs
and the results are simply read.

Definitions follow :mod:`smdbg.reductions` (population variance/std; empty tensors get the
numpy definitions, computed on the host).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from smdbg.hooks._plan import TensorPlan
from smdbg.reductions import compute_reductions

__all__ = ["StepCapture", "PendingStep", "CapturedTensor"]

_INF = float("inf")


def _compute_dtype(t: torch.Tensor) -> torch.Tensor:
    if t.dtype in (torch.float32, torch.float64):
        return t
    if t.is_floating_point():
        return t.float()
    if t.is_complex():
        return t.abs().double()
    return t.double()


def _per_tensor(key: str, t: torch.Tensor) -> torch.Tensor:
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


def batch_reductions(tensors: Sequence[torch.Tensor], keys: Sequence[str]) -> list[torch.Tensor]:
    """For each key, a list of 0-d results (one per tensor), computed with as few kernels as
    the key allows. Tensors are non-empty and already in a compute dtype."""
    out: list[torch.Tensor] = []
    ts = list(tensors)
    for key in keys:
        if key in ("l2", "abs_l2"):
            out.extend(torch._foreach_norm(ts, 2))
        elif key in ("l1", "abs_l1"):
            out.extend(torch._foreach_norm(ts, 1))
        elif key == "abs_max":
            if ts and ts[0].device.type == "cpu":  # the CPU inf-norm kernel is ~15x slower than aminmax
                out.extend(torch.maximum(lo.abs(), hi.abs()) for lo, hi in (torch.aminmax(t) for t in ts))
            else:
                out.extend(torch._foreach_norm(ts, _INF))
        elif key == "max":
            out.extend(torch._foreach_max(ts))
        elif key == "min":
            out.extend(torch._foreach_neg(torch._foreach_max(torch._foreach_neg(ts))))
        elif key == "abs_min":
            out.extend(torch._foreach_neg(torch._foreach_max(torch._foreach_neg(torch._foreach_abs(ts)))))
        else:
            out.extend(_per_tensor(key, t) for t in ts)
    return out


@dataclass
class CapturedTensor:
    """One tensor's capture: where its reductions and raw copy are in the step's buffers."""

    name: str
    plan: TensorPlan
    shape: tuple[int, ...]
    dtype: str
    device: str
    offsets: dict[str, int] = field(default_factory=dict)  # key -> index in the device's results
    constants: dict[str, float] = field(default_factory=dict)  # empty tensors: host definitions
    raw: Any = None  # host tensor (CPU clone or pinned, filled asynchronously)
    dropped: bool = False  # captured again later in the same step: the later capture wins


class PendingStep:
    """A finished step's captures whose host copies may still be in flight."""

    def __init__(self, entries: list[CapturedTensor], results: dict[str, torch.Tensor],
                 events: list[Any], info: tuple[int, str, int]) -> None:  # fmt: skip
        self.entries = entries
        self.results = results
        self.events = events
        self.info = info  # (step, mode name, mode step)

    def ready(self) -> bool:
        return all(e.query() for e in self.events)

    def wait(self) -> None:
        for e in self.events:
            e.synchronize()

    def items(self) -> Iterator[tuple[CapturedTensor, np.ndarray | None, dict[str, float]]]:
        host = {dev: r.numpy() for dev, r in self.results.items()}
        for e in self.entries:
            if e.dropped:
                continue
            vals = dict(e.constants)
            if e.offsets:
                res = host[e.device]
                for key, i in e.offsets.items():
                    vals[key] = float(res[i])
            raw = None if e.raw is None else e.raw.numpy()
            yield e, raw, {k: vals[k] for k in e.plan.reductions if k in vals}


class StepCapture:
    """Collects one step's captures; ``add`` computes reductions now (values may change later)."""

    def __init__(self) -> None:
        self.entries: list[CapturedTensor] = []
        self._results: dict[str, list[torch.Tensor]] = {}
        self._count: dict[str, int] = {}
        self._devices: dict[str, torch.device] = {}
        self._by_name: dict[str, CapturedTensor] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, items: Sequence[tuple[str, TensorPlan, torch.Tensor]]) -> None:
        """Capture a group of tensors (reductions batched per device and dtype)."""
        groups: dict[tuple[str, torch.dtype], list[tuple[CapturedTensor, torch.Tensor]]] = {}
        for name, plan, tensor in items:
            t = tensor.detach()
            dev = str(t.device)
            self._devices.setdefault(dev, t.device)
            entry = CapturedTensor(name, plan, tuple(t.shape), str(t.dtype).replace("torch.", ""), dev)
            if plan.raw:
                entry.raw = self._raw_copy(t)
            if plan.reductions:
                if t.numel() == 0:
                    entry.constants = compute_reductions(np.empty(0), plan.reductions)
                else:
                    c = _compute_dtype(t)
                    groups.setdefault((dev, c.dtype), []).append((entry, c))
            self.entries.append(entry)
            previous = self._by_name.get(name)
            if previous is not None:
                previous.dropped = True
            self._by_name[name] = entry
        for (dev, _), members in groups.items():
            keys = list(dict.fromkeys(k for e, _ in members for k in e.plan.reductions))
            for key in keys:
                sel = [(e, t) for e, t in members if key in e.plan.reductions]
                vals = batch_reductions([t for _, t in sel], [key])
                base = self._count.get(dev, 0)
                self._results.setdefault(dev, []).append(torch.stack(vals).to(torch.float64))
                for i, (e, _) in enumerate(sel):
                    e.offsets[key] = base + i
                self._count[dev] = base + len(sel)

    @staticmethod
    def _raw_copy(t: torch.Tensor) -> torch.Tensor:
        if t.dtype == torch.bfloat16 or t.dtype == torch.float8_e4m3fn or t.dtype == torch.float8_e5m2:
            t = t.float()
        if t.device.type == "cpu":
            return t.clone()
        host = torch.empty(t.shape, dtype=t.dtype, pin_memory=True)
        host.copy_(t, non_blocking=True)
        return host

    def finish(self, info: tuple[int, str, int]) -> PendingStep:
        """Concatenate each device's results and start their copies to the host."""
        results: dict[str, torch.Tensor] = {}
        events: list[Any] = []
        for dev, parts in self._results.items():
            vec = torch.cat(parts) if len(parts) > 1 else parts[0]
            device = self._devices[dev]
            if device.type == "cpu":
                results[dev] = vec
                continue
            host = torch.empty(vec.shape, dtype=vec.dtype, pin_memory=True)
            host.copy_(vec, non_blocking=True)
            results[dev] = host
        for device in self._devices.values():
            if device.type == "cuda":
                with torch.cuda.device(device):
                    ev = torch.cuda.Event()
                    ev.record()
                events.append(ev)
        pending = PendingStep(self.entries, results, events, info)
        self.entries, self._results, self._count, self._devices, self._by_name = [], {}, {}, {}, {}
        return pending
