"""Where a hook's records go: the record-sink contract and its three implementations.

:class:`StoreSink` is the trial store (a :class:`~smdbg.store.BackgroundWriter`, with its own
thread), :class:`TensorBoardMirror` writes TensorBoard event files and :class:`TrackerMirror`
logs losses and metrics to a tracker; the two mirrors run on a :class:`SinkThread`. The hook
hands each finished step over as a :class:`~smdbg.hooks._records.StepBatch` and never waits
for the sinks beyond back-pressure; no sink calls back into the hook.
"""

from __future__ import annotations

import abc
import logging
import os
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from smdbg.exceptions import WriterClosedError
from smdbg.hooks._options import HookOptions
from smdbg.hooks._records import SCALAR_PREFIX, StepBatch
from smdbg.store import BackgroundWriter
from smdbg.store.control import read_stop_request
from smdbg.trial._report import SAVE_REPORT_FILE

__all__ = ["RecordSink", "StoreSink", "TensorBoardMirror", "TrackerMirror", "SinkThread", "Ticks", "open_sinks"]

log = logging.getLogger("smdbg.hooks")


class RecordSink(abc.ABC):
    """Receives every finished step of one hook, in step order.

    ``write`` is called on the training thread with a batch nobody changes afterwards. A sink
    used directly by a hook must return from ``write`` quickly (queue the work for a thread of
    its own) and block only for back-pressure, never dropping a batch; an error of that
    background work is raised by a later ``write`` or by ``close``. A synchronous sink (one that
    does its work inside ``write``) is run behind a :class:`SinkThread`. ``close`` finishes what
    was written and releases the sink; it is idempotent. A sink never calls into the hook.
    """

    @abc.abstractmethod
    def write(self, batch: StepBatch) -> None:
        """Take one step's records."""

    @abc.abstractmethod
    def close(self) -> None:
        """Finish everything written so far, then release resources. Idempotent."""


class Ticks:
    """A counter the store's writer thread bumps at every tick (at most 0.25 s apart). A hook
    that counts quiet steps on a fast path compares it to know when to look at the trial again
    (publish progress, check for a stop request) without being called from that thread."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> None:
        self.n += 1


class StoreSink(RecordSink):
    """One worker's part of the trial store, written by a background writer thread.

    Besides records it carries the hook's store-side calls: progress (every step; no lock),
    trial metadata, the stop request and the end-of-training marker.
    """

    def __init__(self, out_dir: str, worker: str, flush_secs: float, storage_options: Mapping[str, Any],
                 **writer_options: Any) -> None:  # fmt: skip
        self.ticks = Ticks()
        self.writer = BackgroundWriter(
            out_dir, worker, flush_secs=flush_secs, storage_options=storage_options, on_tick=self.ticks,
            **writer_options,
        )  # fmt: skip
        self.set_progress = self.writer.set_progress  # called every step: no extra frame

    def write(self, batch: StepBatch) -> None:
        self.writer.add(batch.step, batch.mode, batch.mode_step, batch.records, wall_time=batch.wall_time)

    def write_metadata(self, meta: Mapping[str, Any]) -> None:
        self.writer.write_trial_metadata(meta)

    def write_save_report(self, data: bytes) -> None:
        """The worker's save report document, next to its segments."""
        self.writer.fs.write_atomic(f"{self.writer.sink.dir}/{SAVE_REPORT_FILE}", data)

    def stop_request(self) -> Mapping[str, Any] | None:
        """The trial's stop request (written by a rule action), or None."""
        return read_stop_request(self.writer.fs)

    def flush(self) -> None:
        """Publish everything written so far; returns when it is on storage."""
        self.writer.flush()

    def close(self, end_info: Mapping[str, Any] | None = None) -> None:
        self.writer.close(end_info=end_info)


class TensorBoardMirror(RecordSink):
    """Scalars (reductions as ``<tensor>/<reduction>``, single values as ``<tensor>``) and
    histograms (saved histograms, and other numeric raw tensors) of every saved step, into TensorBoard event files.
    Synchronous: run it behind a :class:`SinkThread`."""

    def __init__(self, logdir: str) -> None:
        from smdbg.tb import TensorBoardWriter

        self._tb = TensorBoardWriter(logdir)

    def write(self, batch: StepBatch) -> None:
        tb, step = self._tb, batch.step
        for r in batch.records:
            if r.histogram is not None:
                tb.add_binned_histogram(r.tensor, r.histogram[0], r.histogram[1], step)
            elif r.reduction != "raw":
                if r.value is not None:
                    tb.add_scalar(f"{r.tensor}/{r.reduction}", r.value, step)
            elif r.value is not None:
                tb.add_scalar(r.tensor, r.value, step)
            elif isinstance(r.data, np.ndarray) and r.data.dtype.kind in "biuf":
                tb.add_histogram(r.tensor, r.data, step)

    def close(self) -> None:
        self._tb.close()


class TrackerMirror(RecordSink):
    """Losses, metrics and ``save_scalar`` values of every saved step, logged to a tracker
    (``log_metric`` with the step as iteration number). Synchronous: run it behind a
    :class:`SinkThread`. ``announce``: the trial's location, logged once as an output artifact."""

    def __init__(self, tracker: Any, announce: str | None = None) -> None:
        self.tracker = tracker
        if announce is not None:
            tracker.log_output(name="debugger-trial", value=announce, media_type="application/x-smdbg-trial")

    def write(self, batch: StepBatch) -> None:
        times = batch.metric_times
        for r in batch.records:
            if r.reduction != "raw" or r.value is None:
                continue
            if "losses" in r.collections or "metrics" in r.collections:
                self.tracker.log_metric(r.tensor, r.value, iteration_number=batch.step)
            elif r.tensor in times:  # a save_scalar value: logged under the name the script gave
                name = r.tensor[len(SCALAR_PREFIX) :] if r.tensor.startswith(SCALAR_PREFIX) else r.tensor
                self.tracker.log_metric(name, r.value, timestamp=times[r.tensor], iteration_number=batch.step)

    def close(self) -> None:
        if hasattr(self.tracker, "flush"):
            self.tracker.flush()


class SinkThread(RecordSink):
    """Runs synchronous sinks on one background thread: ``write`` queues the batch (waiting
    while ``max_pending`` batches are queued) and returns. The first error of a sink is raised
    again by the next ``write`` or by ``close`` (the failing batch is not retried)."""

    def __init__(self, sinks: Sequence[RecordSink], name: str = "smdbg-mirrors", max_pending: int = 16) -> None:
        self.sinks = list(sinks)
        self.max_pending = max_pending
        self._queue: deque[StepBatch] = deque()
        self._cond = threading.Condition()
        self._busy = False
        self._stopping = False
        self._closed = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _raise_error(self) -> None:
        with self._cond:
            error, self._error = self._error, None
        if error is not None:
            raise error

    def write(self, batch: StepBatch) -> None:
        if self._closed:
            raise WriterClosedError(f"{self._thread.name} is closed; no more steps are accepted")
        self._raise_error()
        with self._cond:
            while len(self._queue) >= self.max_pending and self._thread.is_alive():
                self._cond.wait(0.5)
            self._queue.append(batch)
            self._cond.notify_all()

    def flush(self) -> None:
        """Return once every batch written so far went through the sinks."""
        with self._cond:
            while (self._queue or self._busy) and self._thread.is_alive():
                self._cond.wait(0.5)
        self._raise_error()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join()
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as e:  # noqa: BLE001 - raised below once every sink was closed
                self._error = self._error or e
        self._raise_error()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue:
                    return
                batch = self._queue.popleft()
                self._busy = True
                self._cond.notify_all()
            failed: BaseException | None = None
            for sink in self.sinks:
                try:
                    sink.write(batch)
                except Exception as e:  # noqa: BLE001 - surfaced to the caller by _raise_error
                    log.error("smdbg: %s failed at step %d: %s", type(sink).__name__, batch.step, e, exc_info=e)
                    failed = failed or e
            with self._cond:
                self._error = self._error or failed
                self._busy = False
                self._cond.notify_all()


def open_sinks(options: HookOptions, rank: int, writes: bool) -> tuple[StoreSink | None, SinkThread | None]:
    """The sinks of a hook starting as worker ``rank``: the trial store (when this worker
    writes), and the TensorBoard (when it writes and asked for) and tracker mirrors on one thread.
    The tracker is told where the trial is once, by the worker of rank 0."""
    worker = f"worker_{rank}"
    store = None
    mirrors: list[RecordSink] = []
    if writes:
        store = StoreSink(
            options.out_dir, worker, options.flush_secs, options.storage_options,
            keep_raw_steps=options.keep_raw_steps, size_budget_bytes=options.size_budget_bytes,
        )  # fmt: skip
        if options.export_tensorboard and options.tensorboard_dir:
            mirrors.append(TensorBoardMirror(os.path.join(options.tensorboard_dir, worker)))
    if options.tracker is not None:
        announce = options.out_dir if writes and rank == 0 else None
        mirrors.append(TrackerMirror(options.tracker, announce=announce))
    return store, (SinkThread(mirrors, name=f"smdbg-mirrors-{worker}") if mirrors else None)
