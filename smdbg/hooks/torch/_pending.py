"""One step's captures as the hook hands them over: :class:`CapturedTensor` (where a tensor's
reductions, histogram and raw copy are in the step's buffers) and :class:`PendingStep` (a
finished step whose host copies, or CPU histograms counted on the histogram worker, may still be
in flight, read out as ``Emitted`` tuples once they landed); and the tensors of a module's
inputs or outputs (:func:`tensors_of`).
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from smdbg.hooks._plan import TensorPlan
from smdbg.hooks._records import ShardBlock
from smdbg.hooks.torch._hist import histogram_of_vector
from smdbg.reductions import HISTOGRAM, Histogram, scalar_reductions

__all__ = ["CapturedTensor", "Emitted", "PendingStep", "flatten_tensors", "tensors_of"]


def flatten_tensors(value: Any) -> Iterator[torch.Tensor]:
    """Tensors in a module's inputs or outputs, in order (tuples, lists, dicts by insertion)."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from flatten_tensors(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from flatten_tensors(v)


def tensors_of(value: Any) -> Sequence[torch.Tensor]:
    """:func:`flatten_tensors` as a sequence, without a generator for the common cases (one
    tensor, a flat tuple of tensors): a module hook on a saved step runs with cold caches."""
    if isinstance(value, torch.Tensor):
        return (value,)
    if type(value) is tuple:
        for v in value:
            if not isinstance(v, torch.Tensor):
                return list(flatten_tensors(value))
        return value
    return list(flatten_tensors(value))


# What PendingStep.items yields: (name, plan, raw host copy or None, reductions, shape, dtype),
# the arguments of BaseHook._emit. A CPU tensor reduced at capture time is stored as one of
# these at once (no object per tensor: a small model's saved step on a CPU captures a few dozen).
Emitted = tuple[str, TensorPlan, "np.ndarray | ShardBlock | None", "Mapping[str, float | Histogram]", tuple[int, ...], str]


class CapturedTensor:
    """One tensor's capture: where its reductions and raw copy are in the step's buffers."""

    __slots__ = ("name", "plan", "shape", "dtype", "device", "offsets", "constants", "raw", "scalar", "hist")  # fmt: skip

    def __init__(self, name: str, plan: TensorPlan, shape: tuple[int, ...], dtype: str, device: Any,
                 constants: dict[str, Any] | None = None) -> None:  # fmt: skip
        self.name = name
        self.plan = plan
        self.shape = shape
        self.dtype = dtype
        self.device = device  # None for a CPU tensor
        self.offsets: dict[str, int] = {}  # key -> index in the device's result vector
        self.constants = constants  # reductions already computed (CPU, empty, one element)
        self.raw: Any = None  # numpy copy (CPU), or a pinned tensor filled asynchronously
        self.scalar: Any = None  # a one-element device tensor's pinned copy, reduced on the host
        self.hist: Histogram | int | None = None  # a histogram, or its index in the result vector


#: CPU histograms counted on the worker: the reductions dicts they go into, and their future
HistogramBatch = tuple[list[dict[str, Any]], "concurrent.futures.Future[list[Histogram]]"]


class PendingStep:
    """A finished step's captures whose host copies (or worker histograms) may be in flight."""

    def __init__(self, entries: list[Any], results: dict[Any, torch.Tensor], events: list[Any],
                 info: tuple[int, str, int], histograms: Sequence[HistogramBatch] = ()) -> None:  # fmt: skip
        self.entries = entries
        self.results = results
        self.events = events
        self.info = info  # (step, mode name, mode step)
        self.histograms = list(histograms)
        self.errors: list[BaseException] = []  # histogram batches that failed (their step has none)

    @property
    def in_flight(self) -> bool:
        """Whether some of this step's values are still being copied from a device or counted
        by the histogram worker."""
        return bool(self.events or self.histograms)

    def ready(self) -> bool:
        return all(e.query() for e in self.events) and all(f.done() for _, f in self.histograms)

    def wait(self) -> None:
        for e in self.events:
            e.synchronize()
        concurrent.futures.wait([f for _, f in self.histograms])

    def _fill_histograms(self) -> None:
        """The worker's histograms into their reductions; a failed batch is kept in
        :attr:`errors` (the caller reports it) and its tensors are saved without histograms."""
        for reds, future in self.histograms:
            try:
                hists = future.result()
            except Exception as e:  # the worker's error: this step's histograms, not the training
                self.errors.append(e)
                continue
            for red, h in zip(reds, hists):
                red[HISTOGRAM] = h
        self.histograms = []

    def items(self) -> Iterator[Emitted]:
        """Each capture of the step (the later one where a name was captured twice)."""
        if self.histograms:
            self._fill_histograms()
        host = {dev: r.numpy().tolist() for dev, r in self.results.items()}
        for e in self.entries:
            if e is None:  # captured again later in the step: the later capture wins
                continue
            if type(e) is tuple:
                yield e
                continue
            red: dict[str, Any]
            if e.scalar is not None:
                v = e.scalar.reshape(-1)[0].item()
                red = scalar_reductions(abs(v) if isinstance(v, complex) else float(v), e.plan.reductions)
            elif e.constants is not None:
                red = e.constants
            elif e.offsets:
                res = host[e.device]
                red = {key: res[i] for key, i in e.offsets.items()}
            else:
                red = {}
            hist = e.hist
            if hist is not None:
                red = dict(red)
                if type(hist) is int:
                    assert e.plan.histogram is not None
                    vec = host[e.device][hist : hist + 2 + e.plan.histogram[0]]
                    red[HISTOGRAM] = histogram_of_vector(vec, int(np.prod(e.shape)))
                else:
                    red[HISTOGRAM] = hist
            raw = e.raw if e.raw is None or isinstance(e.raw, (np.ndarray, ShardBlock)) else e.raw.numpy()
            yield e.name, e.plan, raw, red, e.shape, e.dtype
