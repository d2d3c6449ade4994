"""CPU histograms counted off the training thread: :class:`HistogramWorker`.

A saved step on the CPU hands the worker host copies of the tensors whose histograms it saves
(one ``torch.cat`` per dtype into a pooled buffer, ~0.1 ns a value) with the ranges its
reductions already found; the worker thread counts them with
:func:`~smdbg.hooks.torch._hist.cpu_histograms` (the same exact counts as inline: torch and
numpy release the GIL, so on a machine with a free core the counting runs beside training),
and the step's :class:`~smdbg.hooks.torch._pending.PendingStep` reads them once they are ready,
as a GPU step waits for its host copies.

Bounded: at most ``max_in_flight`` batches are queued or counting; when the worker lags behind
that, :meth:`HistogramWorker.has_room` says no and the capture counts inline (memory stays
bounded, no histogram is lost). ``SMDBG_HISTOGRAM_WORKER=0`` turns the worker off (every
capture counts inline). The worker thread starts with the first batch and ends at
:meth:`HistogramWorker.close` (or when the worker is garbage collected). On Linux it runs at
nice :data:`WORKER_NICE` (that thread only): on a free core it counts at full speed; where every
core is busy, the scheduler gives the training thread most of the time.

What it costs: one host copy per saved tensor and one more thread; the process's total CPU
time is the same (the counting moves to another thread, it does not get cheaper).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import torch

from smdbg import _settings
from smdbg.hooks.torch._hist import cpu_histograms
from smdbg.reductions import Histogram, HistogramRange

__all__ = ["HistogramJob", "HistogramWorker", "worker_enabled"]

#: the worker thread's nice value on Linux: where no core is free, the training thread goes first
WORKER_NICE = 10
log = logging.getLogger("smdbg.hooks")

#: (host copy, bins, range, (min, max) the reductions found or None): one tensor's histogram
HistogramJob = tuple[torch.Tensor, int, HistogramRange, "tuple[float, float] | None"]


def worker_enabled() -> bool:
    """Whether hooks count CPU histograms on a worker thread (``SMDBG_HISTOGRAM_WORKER``)."""
    return _settings.HISTOGRAM_WORKER.flag("on", "off, the default")


def _lower_priority() -> None:
    """The worker thread's initializer: on Linux, nice this thread only (``setpriority`` on its
    thread id), so that the scheduler prefers the training thread when every core is busy."""
    if sys.platform.startswith("linux"):
        try:
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), WORKER_NICE))
        except OSError as e:  # a sandbox that forbids it: the worker runs at the process's priority
            log.debug("smdbg: histogram worker keeps its priority: %s", e)


def _count(jobs: Sequence[HistogramJob]) -> list[Histogram]:
    with torch.no_grad():
        return cpu_histograms(jobs)


class HistogramWorker:
    """One thread that counts batches of CPU histograms, at most ``max_in_flight`` at a time.

    Not thread-safe: one hook's capture calls it from the training thread.
    """

    def __init__(self, max_in_flight: int = 2) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight={max_in_flight!r}: expected at least 1")
        self.max_in_flight = max_in_flight
        self._pool: ThreadPoolExecutor | None = None
        self._queued: list[Future[list[Histogram]]] = []
        self.batches = 0  # batches submitted so far

    def has_room(self) -> bool:
        """Whether fewer than ``max_in_flight`` batches are queued or counting (else the
        caller counts inline)."""
        self._queued = [f for f in self._queued if not f.done()]
        return len(self._queued) < self.max_in_flight

    def submit(self, jobs: Sequence[HistogramJob]) -> Future[list[Histogram]]:
        """Count ``jobs`` (over tensors nobody changes any more) on the worker thread; the
        caller asks :meth:`has_room` first (a batch beyond ``max_in_flight`` is still queued)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="smdbg-histograms", initializer=_lower_priority
            )
        future = self._pool.submit(_count, jobs)
        self.batches += 1
        self._queued.append(future)
        return future

    def close(self) -> None:
        """Wait for the batches in flight and end the thread (idempotent; a later
        :meth:`submit` starts a new one)."""
        pool, self._pool = self._pool, None
        self._queued = []
        if pool is not None:
            pool.shutdown(wait=True)
