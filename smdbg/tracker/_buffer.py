"""A thread-safe buffer of metric points for one trial component, written in batches.

Points are written in one transaction when the buffer holds ``batch_size`` points, when the oldest
buffered point is ``flush_interval_s`` old (a daemon thread checks), on ``flush()`` and on
``close()``. A failed write puts the points back in front of newer ones, so nothing is lost; an
error raised in the background thread is raised again on the caller's next call.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from smdbg.tracker._backend import TrackerBackend
from smdbg.tracker._records import MetricBatch

__all__ = ["MetricBuffer"]

_Points = dict[str, tuple[list[float], list[float], list[int]]]


class MetricBuffer:
    def __init__(
        self, backend: TrackerBackend, component_name: str, batch_size: int, flush_interval_s: float
    ) -> None:
        self._backend = backend
        self._component = component_name
        self._batch_size = max(1, int(batch_size))
        self._interval = float(flush_interval_s)
        self._lock = threading.Lock()  # guards the fields below
        self._flush_lock = threading.Lock()  # one write at a time, in order
        self._points: _Points = {}
        self._count = 0
        self._oldest = 0.0
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def pending(self) -> int:
        return self._count

    def add(self, name: str, value: float, timestamp: float, iteration: int) -> None:
        self.raise_background_error()
        with self._lock:
            p = self._points.get(name)
            if p is None:
                p = self._points[name] = ([], [], [])
            p[0].append(value)
            p[1].append(timestamp)
            p[2].append(iteration)
            self._count += 1
            if self._count == 1:
                self._oldest = time.monotonic()
                if self._thread is None and self._interval > 0:
                    self._start_thread()
            full = self._count >= self._batch_size
        if full:
            self.flush()

    def flush(self) -> None:
        self.raise_background_error()
        self._flush()

    def _flush(self) -> None:
        with self._flush_lock:
            with self._lock:
                points, self._points, self._count = self._points, {}, 0
            if not points:
                return
            try:  # a point that cannot be converted or written: every point goes back, none is lost
                batches = [
                    MetricBatch(
                        name,
                        np.asarray(v, dtype=np.float64),
                        np.asarray(t, dtype=np.float64),
                        np.asarray(i, dtype=np.int64),
                    )
                    for name, (v, t, i) in points.items()
                ]
                self._backend.write(self._component, metrics=batches)
            except BaseException:
                self._put_back(points)
                raise

    def _put_back(self, points: _Points) -> None:
        with self._lock:
            for name, (v, t, i) in points.items():
                newer = self._points.get(name, ([], [], []))
                self._points[name] = (v + newer[0], t + newer[1], i + newer[2])
                self._count += len(v)
            self._oldest = time.monotonic()

    def raise_background_error(self) -> None:
        err, self._error = self._error, None
        if err is not None:
            raise err

    # -- time-based flushing -----------------------------------------------------------------------
    def _start_thread(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(self._stop,), name=f"smdbg-tracker-flush-{self._component}", daemon=True
        )
        self._thread.start()

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self._interval / 4):
            if self._count and time.monotonic() - self._oldest >= self._interval:
                try:
                    self._flush()
                except Exception as e:  # surfaced on the caller's next call
                    self._error = e

    def close(self) -> None:
        """Stop the background thread and write what is buffered. Idempotent."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            if thread is not threading.current_thread():
                thread.join()
        self.flush()
