"""The PyTorch hook's capture pipeline: a step's planned tensors into the batched capture, the
loss values it defers, and the finished steps whose device -> host copies are still in flight,
handed over in step order.

The hook owns one :class:`CapturePipeline` and gives it the two ways a finished step's values
leave: into the current step's records (``emit``, when everything is on the host at once), or
as an earlier step's own batch (``write``, when its copies landed later, or its CPU histograms
were counted on the histogram worker: :mod:`smdbg.hooks.torch._hist_worker`).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from smdbg.hooks._plan import SavePlanner, TensorPlan
from smdbg.hooks._records import Emitted, StepRecords
from smdbg.hooks.torch._capture import StepCapture
from smdbg.hooks.torch._pending import PendingStep, tensors_of
from smdbg.hooks.torch._report import SUPPORTED_DTYPES, drop_unsupported

__all__ = ["CapturePipeline", "Planned", "io_group", "planned"]

#: (name, plan, tensor): a tensor the planner chose for this step
Planned = tuple[str, TensorPlan, torch.Tensor]
_MAX_IN_FLIGHT = 8


def planned(planner: SavePlanner, items: Iterable[tuple[str, Any]]) -> list[Planned]:
    """The tensors among (name, value) pairs that the step under way saves, with their plans."""
    group = []
    for name, t in items:
        if isinstance(t, torch.Tensor):
            plan = planner.plan(name)
            if plan is not None:
                group.append((name, plan, t))
    return group


def io_group(planner: SavePlanner, prefix: str, args: Any, output: Any) -> list[Planned]:
    """A module call's saved inputs and outputs: ``<prefix>_input_<i>``, ``<prefix>_output_<i>``."""
    plan = planner.plan
    group = []
    for kind, value in (("input", args), ("output", output)):
        for i, t in enumerate(tensors_of(value)):
            name = f"{prefix}_{kind}_{i}"
            p = plan(name)
            if p is not None:
                group.append((name, p, t))
    return group


class CapturePipeline:
    """One hook's captures: the step under way, its deferred loss values, earlier steps in flight."""

    def __init__(self, report: Callable[[str, BaseException], None]) -> None:
        self.report = report  # an internal error off the training thread: logged and counted
        self.capture = StepCapture()
        self.deferred: list[Planned] = []  # loss values, captured with the step's other tensors
        self.in_flight: collections.deque[PendingStep] = collections.deque()

    @property
    def busy(self) -> bool:
        """Whether anything of this or an earlier step is not handed over yet."""
        return bool(self.capture.entries or self.in_flight or self.deferred)

    def oldest(self) -> tuple[int, str, int] | None:
        """(step, mode, mode step) of the earliest step still in flight, if any."""
        return self.in_flight[0].info if self.in_flight else None

    def add(self, group: Sequence[Planned], writes: bool, unsupported: dict[str, str]) -> None:
        """Capture ``group`` now (its values may change later in the step). A rank that writes
        nothing still takes part in the collectives of sharded tensors, keeping nothing."""
        if not writes:
            self.capture.participate(group)
            return
        if not all(t.dtype in SUPPORTED_DTYPES and not t.is_quantized for _, _, t in group):
            group = drop_unsupported(group, unsupported)  # reported, not saved
        self.capture.add(group)

    def take_deferred(self) -> list[Planned]:
        group, self.deferred = self.deferred, []
        return group

    def end_step(self, info: tuple[int, str, int], emit: Callable[[Iterable[Emitted]], None],
                 write: Callable[[StepRecords], None]) -> None:  # fmt: skip
        """Hand the step's captures over: at once (``emit``) when all values are on the host and
        no earlier step is in flight, else when the device copies (CUDA event) are done."""
        if len(self.capture):
            pending = self.capture.finish(info)
            if pending.in_flight or self.in_flight:
                self.in_flight.append(pending)
            else:
                emit(pending.items())  # into the current step's records
                self._report(pending)
        self.drain(len(self.in_flight) > _MAX_IN_FLIGHT, write)

    def _report(self, pending: PendingStep) -> None:
        for error in pending.errors:
            self.report(f"histograms of step {pending.info[0]} (histogram worker)", error)

    def drain(self, wait: bool, write: Callable[[StepRecords], None]) -> None:
        """Write earlier steps whose device -> host copies are done (all of them, with ``wait``)."""
        while self.in_flight:
            head = self.in_flight[0]
            if not head.ready():
                if not wait:
                    return
                head.wait()
            self.in_flight.popleft()
            batch = StepRecords(*head.info)
            batch.add(head.items())
            self._report(head)
            write(batch)

    def close(self) -> None:
        """After the last :meth:`drain`: end the histogram worker's thread."""
        self.capture.close()
