"""Batched capture of PyTorch tensors for one step: reductions on the tensors' device, one copy.

On a GPU, the reductions of a group of tensors are computed together: the common ones (mean,
sum, max, min, abs max, norms ...) over one flat buffer with segmented reductions
(:mod:`smdbg.hooks.torch._flat`, about ten kernels per step whatever the number of tensors),
variance and std with one stack and kernel per shape. The results stay on the device as small
vectors; at the end of the step all result vectors of a device are concatenated and copied to
pinned host memory with ``non_blocking=True``; a CUDA event marks when the copy is done, so
nothing here synchronises the device. On the CPU each tensor is reduced at once to Python
floats with the fastest kernels there (:mod:`smdbg.hooks.torch._cpu`).

The per-tensor Python work is kept small on purpose: a saved step of a model with a few hundred
parameters calls in here for every weight and gradient, and on a GPU that host time is what a
saved step costs.

Definitions follow :mod:`smdbg.reductions` (population variance/std; empty tensors get the
numpy definitions, computed on the host).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

import numpy as np
import torch

from smdbg.hooks._plan import TensorPlan
from smdbg.hooks._records import ShardBlock
from smdbg.hooks.torch._batched import batch_reductions, grouped_reductions
from smdbg.hooks.torch._bins_kernel import kernel_name
from smdbg.hooks.torch._cpu import cpu_reductions
from smdbg.hooks.torch._flat import FLAT_KEYS, SegmentLayouts, compute_dtype, flat_reductions
from smdbg.hooks.torch._hist import cpu_histograms, device_histogram, histogram_of_vector
from smdbg.hooks.torch._hist_worker import HistogramJob, HistogramWorker, worker_enabled
from smdbg.hooks.torch._host_pool import HostPool
from smdbg.hooks.torch._pending import CapturedTensor, PendingStep, flatten_tensors, tensors_of
from smdbg.hooks.torch._sharded import ShardLayout, dtensor_type, layout_of, numpy_block, sharded_reductions
from smdbg.reductions import HISTOGRAM, Histogram, compute_histogram, compute_reductions, scalar_reductions

__all__ = [
    "StepCapture",
    "PendingStep",
    "CapturedTensor",
    "batch_reductions",
    "grouped_reductions",
    "flatten_tensors",
    "tensors_of",
]

_DTYPE_NAMES: dict[torch.dtype, str] = {}
_STRIDED = torch.strided
_FLAT_DEVICES = {"cuda"}  # where torch.segment_reduce has fast kernels
_WIDEN = (torch.bfloat16, torch.float8_e4m3fn, torch.float8_e5m2)  # raw copies stored as float32
_DTENSOR = dtensor_type()
log = logging.getLogger("smdbg.hooks")


def _host_reductions(t: torch.Tensor, keys: tuple[str, ...]) -> dict[str, float]:
    """Reductions of an empty or one-element tensor, computed on the host (no kernel)."""
    if t.numel() == 0:
        with np.errstate(all="ignore"):  # numpy's definitions of empty reductions (NaN ...)
            return compute_reductions(np.empty(0), keys)
    v = t.item()
    return scalar_reductions(abs(v) if isinstance(v, complex) else float(v), keys)


def _by_shape(member: tuple[CapturedTensor, torch.Tensor]) -> tuple[int, ...]:
    return member[0].shape


class StepCapture:
    """Collects one step's captures; ``add`` computes reductions now (values may change later)."""

    def __init__(self) -> None:
        self.entries: list[Any] = []  # CapturedTensor, an Emitted tuple, or None (dropped)
        self._results: dict[Any, list[torch.Tensor]] = {}  # device -> result chunks
        self._count: dict[Any, int] = {}
        self._by_name: dict[str, int] = {}  # name -> index in entries
        self.pool = HostPool()
        self._layouts = SegmentLayouts()
        self.warned: set[str] = set()  # tensors warned about (a sharded tensor that is not saved)
        # CPU histograms off the training thread (SMDBG_HISTOGRAM_WORKER): the step's jobs over
        # host copies, handed to the worker as one batch when the step finishes
        self.worker = HistogramWorker() if worker_enabled() else None
        kernel_name()  # SMDBG_HISTOGRAM_KERNEL: a bad value fails when the hook is made
        self._hist_reds: list[dict[str, Any]] = []
        self._hist_jobs: list[HistogramJob] = []

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, items: Sequence[tuple[str, TensorPlan, torch.Tensor]]) -> None:
        """Capture a group of tensors (reductions batched per device and dtype)."""
        with torch.no_grad():  # one no_grad instead of a detach() per tensor
            self._add(items)

    def participate(self, items: Sequence[tuple[str, TensorPlan, torch.Tensor]]) -> None:
        """On a rank that writes nothing: take part in the collectives of the sharded tensors
        among ``items`` (the ranks that write wait for them), keeping nothing."""
        if _DTENSOR is not None:
            sharded = [it for it in items if isinstance(it[2], _DTENSOR)]
            if sharded:
                with torch.no_grad():
                    self._add_sharded(sharded, keep=False)

    def _add(self, items: Sequence[tuple[str, TensorPlan, torch.Tensor]]) -> None:
        if _DTENSOR is not None:  # DTensors (FSDP2 ...): reduced from their shards, across ranks
            plain = [it for it in items if not isinstance(it[2], _DTENSOR)]
            if len(plain) != len(items):
                self._add_sharded([it for it in items if isinstance(it[2], _DTENSOR)], keep=True)
                items = plain
        # The CPU path comes first and is kept short: a saved step of a small model on a CPU
        # runs it for every weight and gradient, with cold caches (see _torch_cpu).
        groups: dict[tuple[Any, torch.dtype], list[tuple[CapturedTensor, torch.Tensor]]] = {}
        snaps: list[tuple[CapturedTensor, torch.Tensor]] = []  # CPU tensors saved raw
        hists: list[tuple[dict[str, Any], HistogramJob]] = []  # CPU histograms: their reductions, the job
        entries = self.entries
        by_name = self._by_name
        for name, plan, t in items:
            if t.layout is not _STRIDED:  # a sparse gradient (nn.Embedding(sparse=True) ...)
                t = t.to_dense()  # is saved as the dense values it stands for
            dtype = _DTYPE_NAMES.get(t.dtype)
            if dtype is None:
                dtype = _DTYPE_NAMES[t.dtype] = str(t.dtype).replace("torch.", "")
            keys = plan.reductions
            entry: Any
            if not t.is_cpu:
                entry = self._device_entry(name, plan, t, dtype, groups)
            else:  # reduced now, to floats (a loss without any kernel)
                red: dict[str, Any] = {}
                if plan.histogram is None:
                    if keys:
                        red = cpu_reductions(t, keys) if t.numel() > 1 else _host_reductions(t, keys)
                else:  # counted with the others below, over the range the reductions found
                    mm: list[tuple[float, float]] = []
                    if keys:
                        red = cpu_reductions(t, keys, mm) if t.numel() > 1 else _host_reductions(t, keys)
                    hists.append((red, (t, *plan.histogram, mm[0] if mm else None)))
                if plan.raw:
                    entry = CapturedTensor(name, plan, tuple(t.shape), dtype, None, red)
                    snaps.append((entry, t))
                else:
                    entry = (name, plan, None, red, tuple(t.shape), dtype)
            previous = by_name.get(name)
            if previous is not None:
                entries[previous] = None  # captured again in this step: the later capture wins
            by_name[name] = len(entries)
            entries.append(entry)
        if hists:
            self._histograms(hists)
        if snaps:
            self._snapshot(snaps)
        for (dev, _), members in groups.items():
            keys = members[0][0].plan.reductions
            if any(e.plan.reductions != keys for e, _ in members):
                keys = tuple(dict.fromkeys(k for e, _ in members for k in e.plan.reductions))
            chunks = self._results.setdefault(dev, [])
            base = self._count.get(dev, 0)
            flat = [k for k in keys if k in FLAT_KEYS] if dev.type in _FLAT_DEVICES else []
            if flat:  # ~10 kernels for the whole group, whatever its size
                chunks.append(flat_reductions([t for _, t in members], flat, self._layouts).reshape(-1))
                m = len(members)
                for i, (e, _) in enumerate(members):
                    wanted = e.plan.reductions
                    e.offsets.update({k: base + ki * m + i for ki, k in enumerate(flat) if k in wanted})
                base += len(flat) * m
                keys = tuple(k for k in keys if k not in FLAT_KEYS)
            if keys:
                members = sorted(((e, compute_dtype(t)) for e, t in members), key=_by_shape)
            for key in keys:  # equal shapes adjacent: one stack and kernel per shape
                sel = [(e, t) for e, t in members if key in e.plan.reductions]
                chunks.append(batch_reductions([t for _, t in sel], key))
                for i, (e, _) in enumerate(sel):
                    e.offsets[key] = base + i
                base += len(sel)
            self._count[dev] = base

    def _keep(self, name: str, entry: Any) -> None:
        previous = self._by_name.get(name)
        if previous is not None:
            self.entries[previous] = None  # captured again in this step: the later capture wins
        self._by_name[name] = len(self.entries)
        self.entries.append(entry)

    def _warn_once(self, name: str, message: str) -> None:
        if name not in self.warned:
            self.warned.add(name)
            log.warning("smdbg: %s is not saved: %s", name, message)

    def _add_sharded(self, items: Sequence[tuple[str, TensorPlan, Any]], keep: bool) -> None:
        """DTensors: reductions and histograms of the whole tensor from the shards (collective,
        see :mod:`smdbg.hooks.torch._sharded`), raw values as this rank's block and its offset."""
        groups: dict[tuple[Any, ...], list[tuple[str, TensorPlan, Any, ShardLayout]]] = {}
        for name, plan, t in items:
            lay = layout_of(t)
            if isinstance(lay, str):  # the same answer on every rank: no rank waits for another
                self._warn_once(name, f"a DTensor with {lay}")
                continue
            key = (t.device_mesh.device_type, *(id(g) for g in lay.groups))
            groups.setdefault(key, []).append((name, plan, t, lay))
        for members in groups.values():
            results = sharded_reductions(
                [m[2] for m in members], [m[3] for m in members],
                [m[1].reductions for m in members], [m[1].histogram for m in members],
            )  # fmt: skip
            if keep:
                for (name, plan, t, lay), (vec, keys, hist) in zip(members, results):
                    self._keep(name, self._sharded_entry(name, plan, t, lay, vec, keys, hist))

    def _sharded_entry(self, name: str, plan: TensorPlan, t: Any, lay: ShardLayout, vec: torch.Tensor,
                       keys: list[str], hist: torch.Tensor | None) -> Any:  # fmt: skip
        dtype = str(t.dtype).replace("torch.", "")
        numel = int(np.prod(lay.global_shape))
        raw = None
        if plan.raw:
            if lay.offset is None:
                self._warn_once(name, "its raw value: the shards are not contiguous blocks (strided sharding)")
            else:
                raw = ShardBlock(numpy_block(t.to_local()), lay.offset)  # a GPU block: a synchronous copy
        dev = vec.device
        if dev.type == "cpu":
            red: dict[str, Any] = dict(zip(keys, vec.tolist()))
            if hist is not None:
                red[HISTOGRAM] = histogram_of_vector(hist.tolist(), numel)
            return (name, plan, raw, red, lay.global_shape, dtype)
        entry = CapturedTensor(name, plan, lay.global_shape, dtype, dev)
        entry.raw = raw
        chunks = self._results.setdefault(dev, [])
        base = self._count.get(dev, 0)
        if keys:
            chunks.append(vec)
            entry.offsets = {k: base + j for j, k in enumerate(keys)}
            base += len(keys)
        if hist is not None:
            chunks.append(hist)
            entry.hist = base
            base += hist.numel()
        self._count[dev] = base
        return entry

    def _device_entry(self, name: str, plan: TensorPlan, t: torch.Tensor, dtype: str,
                      groups: dict[tuple[Any, torch.dtype], list[tuple[CapturedTensor, torch.Tensor]]]) -> CapturedTensor:  # fmt: skip
        """A GPU tensor's capture: raw copy started, reductions left to its (device, dtype) group."""
        dev = t.device
        entry = CapturedTensor(name, plan, tuple(t.shape), dtype, dev)
        if plan.raw:
            entry.raw = self._pinned_copy(t)
        keys = plan.reductions
        if plan.histogram is not None:
            if t.numel() == 0:
                entry.hist = compute_histogram(np.empty(0), *plan.histogram)
            else:  # a small vector on the device, copied with the step's other results
                vec = device_histogram(t, *plan.histogram)
                base = self._count.get(dev, 0)
                self._results.setdefault(dev, []).append(vec)
                entry.hist = base
                self._count[dev] = base + vec.numel()
        if keys:
            n = t.numel()
            if n == 0:
                entry.constants = _host_reductions(t, keys)
            elif n == 1:  # a loss on a GPU: one copy, reduced on the host once it landed
                entry.scalar = entry.raw if entry.raw is not None else self._pinned_copy(t)
            else:
                members = groups.get((dev, t.dtype))
                if members is None:
                    members = groups[(dev, t.dtype)] = []
                members.append((entry, t))
        return entry

    def _histograms(self, hists: list[tuple[dict[str, Any], HistogramJob]]) -> None:
        """CPU histograms: counted on the worker thread from host copies taken now (the step
        goes on changing the tensors), or here when the worker is off or still busy with two
        earlier steps (never an unbounded queue)."""
        if self.worker is not None and (self._hist_jobs or self.worker.has_room()):
            copies = self._host_copies([job[0] for _, job in hists])
            for (red, job), c in zip(hists, copies):
                self._hist_reds.append(red)
                self._hist_jobs.append((torch.from_numpy(c) if isinstance(c, np.ndarray) else c, *job[1:]))
            return
        for (red, _), h in zip(hists, cpu_histograms([job for _, job in hists])):
            red[HISTOGRAM] = h

    def _host_copies(self, ts: list[torch.Tensor]) -> list[np.ndarray | torch.Tensor]:
        """Host copies of CPU tensors: one ``torch.cat`` per numpy dtype into a pooled buffer
        (numpy arrays), clones of the others."""
        out: list[Any] = [None] * len(ts)
        by_dtype: dict[torch.dtype, list[int]] = {}
        for i, t in enumerate(ts):
            if HostPool.knows(t.dtype) and t.numel():
                by_dtype.setdefault(t.dtype, []).append(i)
            else:
                out[i] = self.pool.copy(t)
        for idx in by_dtype.values():
            for i, host in zip(idx, self.pool.copy_flat([ts[i] for i in idx])):
                out[i] = host
        return out

    def _snapshot(self, snaps: list[tuple[CapturedTensor, torch.Tensor]]) -> None:
        """Raw host copies of CPU tensors (widened where numpy lacks the dtype)."""
        copies = self._host_copies([t.float() if t.dtype in _WIDEN else t for _, t in snaps])
        for (entry, _), host in zip(snaps, copies):
            entry.raw = host

    @staticmethod
    def _pinned_copy(t: torch.Tensor) -> torch.Tensor:
        """A device tensor's copy into pinned host memory, started without waiting for it
        (CPU tensors are copied by ``_snapshot``)."""
        if t.dtype in _WIDEN:
            t = t.float()
        host = torch.empty(t.shape, dtype=t.dtype, pin_memory=True)
        host.copy_(t, non_blocking=True)
        return host

    def finish(self, info: tuple[int, str, int]) -> PendingStep:
        """Concatenate each device's results and start their copies to the host."""
        results: dict[Any, torch.Tensor] = {}
        events: list[Any] = []
        for dev, chunks in self._results.items():
            vec = (torch.cat(chunks) if len(chunks) > 1 else chunks[0]).to(torch.float64)
            if dev.type == "cpu":
                results[dev] = vec
                continue
            host = torch.empty(vec.shape, dtype=vec.dtype, pin_memory=True)
            host.copy_(vec, non_blocking=True)
            results[dev] = host
        devices = {
            e.device for e in self.entries
            if type(e) is CapturedTensor and e.device is not None and e.device.type == "cuda"
        }  # fmt: skip
        for device in devices:
            with torch.cuda.device(device):
                ev = torch.cuda.Event()  # type: ignore[no-untyped-call]
                ev.record()
            events.append(ev)
        histograms: list[tuple[list[dict[str, Any]], Future[list[Histogram]]]] = []
        if self._hist_jobs:
            assert self.worker is not None
            histograms.append((self._hist_reds, self.worker.submit(self._hist_jobs)))
            self._hist_reds, self._hist_jobs = [], []
        pending = PendingStep(self.entries, results, events, info, histograms)
        self.entries, self._results, self._count, self._by_name = [], {}, {}, {}
        return pending

    def close(self) -> None:
        """End the histogram worker's thread (after the batches it holds)."""
        if self.worker is not None:
            self.worker.close()
