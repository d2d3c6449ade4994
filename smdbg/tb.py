"""A small TensorBoard event-file writer (scalars and histograms), used by hooks and exports.

Built on TensorBoard's own ``EventFileWriter`` and protos; needs the ``tensorboard`` package.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from smdbg._optional import require

__all__ = ["TensorBoardWriter", "histogram_proto", "binned_histogram_proto", "run_dir_name"]


def _tb() -> tuple[Any, Any, Any]:
    require("tensorboard", extra="tensorboard", feature="TensorBoard export")
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    return EventFileWriter, event_pb2, summary_pb2


def histogram_proto(values: np.ndarray, bins: int = 30) -> Any:
    """A TensorBoard HistogramProto of the finite values of an array (pure apart from protos)."""
    _, _, summary_pb2 = _tb()
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        x = np.zeros(1)
    counts, edges = np.histogram(x, bins=bins)
    return summary_pb2.HistogramProto(
        min=float(x.min()),
        max=float(x.max()),
        num=float(x.size),
        sum=float(x.sum()),
        sum_squares=float(np.dot(x, x)),
        bucket_limit=[float(e) for e in edges[1:]],
        bucket=[float(c) for c in counts],
    )


def binned_histogram_proto(edges: np.ndarray, counts: np.ndarray) -> Any:
    """A TensorBoard HistogramProto of a histogram saved as bins (``edges``: bins + 1 values).

    The proto's min/max are the outer edges and its sum and sum of squares are taken at the
    bin centres (the values themselves were not kept). TensorBoard reads a bucket as the
    values up to its ``bucket_limit`` above the previous limit, so the first bucket is an
    empty one ending at the lower edge."""
    _, _, summary_pb2 = _tb()
    e = np.asarray(edges, dtype=np.float64)
    c = np.asarray(counts, dtype=np.float64)
    centres = (e[:-1] + e[1:]) / 2
    return summary_pb2.HistogramProto(
        min=float(e[0]),
        max=float(e[-1]),
        num=float(c.sum()),
        sum=float(np.dot(c, centres)),
        sum_squares=float(np.dot(c, centres * centres)),
        bucket_limit=[float(e[0])] + [float(v) for v in e[1:]],
        bucket=[0.0] + [float(v) for v in c],
    )


class TensorBoardWriter:
    """Writes scalars and histograms to an event file under ``logdir``. Idempotent ``close``."""

    def __init__(self, logdir: str | os.PathLike[str], flush_secs: float = 2.0) -> None:
        event_file_writer, self._event_pb2, self._summary_pb2 = _tb()
        os.makedirs(logdir, exist_ok=True)
        self.logdir = os.fspath(logdir)
        self._writer = event_file_writer(self.logdir, flush_secs=flush_secs)
        self._closed = False

    def _add(self, step: int, value: Any, wall_time: float | None) -> None:
        summary = self._summary_pb2.Summary(value=[value])
        event = self._event_pb2.Event(wall_time=wall_time or time.time(), step=int(step), summary=summary)
        self._writer.add_event(event)

    def add_scalar(self, tag: str, value: float, step: int, wall_time: float | None = None) -> None:
        self._add(step, self._summary_pb2.Summary.Value(tag=tag, simple_value=float(value)), wall_time)

    def add_histogram(self, tag: str, values: np.ndarray, step: int, wall_time: float | None = None) -> None:
        self._add(step, self._summary_pb2.Summary.Value(tag=tag, histo=histogram_proto(values)), wall_time)

    def add_binned_histogram(self, tag: str, edges: np.ndarray, counts: np.ndarray, step: int,
                             wall_time: float | None = None) -> None:  # fmt: skip
        """A histogram saved as bins (see :func:`binned_histogram_proto`)."""
        value = self._summary_pb2.Summary.Value(tag=tag, histo=binned_histogram_proto(edges, counts))
        self._add(step, value, wall_time)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._writer.close()

    def __enter__(self) -> TensorBoardWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_dir_name(name: str) -> str:
    """A trial, component or worker name as a safe TensorBoard run directory name."""
    return "".join(ch if ch.isalnum() or ch in "-_.=" else "_" for ch in name) or "_"
