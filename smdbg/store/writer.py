"""Writing a trial: the bounded background writer in front of the per-worker sink.

Layers (each does one job): :class:`~smdbg.store._sink.TrialWriter` publishes segments, progress
and markers through a :class:`~smdbg.store.fs.StoreFS` and keeps the manifest;
:class:`BackgroundWriter` queues records from the training thread and hands full or aged buffers
to the sink on its own thread.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from smdbg.exceptions import StoreWriteError, WriterClosedError
from smdbg.store._background import BackgroundCompactor
from smdbg.store._merge_process import merge_in_child
from smdbg.store._segment import ColumnBuffer, Record, record_nbytes, warm_pyarrow
from smdbg.store._sink import TrialWriter
from smdbg.store.compact import Compactor
from smdbg.store.format import worker_dirname
from smdbg.store.fs import open_fs
from smdbg.store.lease import HEARTBEAT_SECS, STALE_SECS, Lease, LeaseHeldError
from smdbg.store.local_writers import register, unregister
from smdbg.store.retention import SizeBudget, check_keep_raw_steps, check_size_budget

__all__ = ["TrialWriter", "BackgroundWriter", "Record"]

log = logging.getLogger(__name__)


class BackgroundWriter:
    """Bounded, threaded front of a :class:`TrialWriter`.

    ``add`` hands records over and returns at once unless ``max_pending_bytes`` are already
    queued (then it waits: back-pressure, never loss). A segment is published when the buffer
    reaches ``segment_bytes`` or its oldest record is ``flush_secs`` old. An error on the
    writer thread is raised (as :class:`StoreWriteError`, with the cause) by the caller's next
    ``add``/``flush``/``close``. ``close`` is idempotent; writing after it raises.
    ``on_tick`` (optional) is called on the writer thread at every tick (at most 0.25 s apart).
    Every ``compact_secs`` a :class:`~smdbg.store.compact.BackgroundCompactor` merges small
    segments on its own thread (``compact_secs=None``: never); ``close`` writes the manifest.

    The writer holds the stream's lease (:mod:`smdbg.store.lease`): opening a stream another live
    writer holds raises :class:`~smdbg.store.lease.LeaseHeldError`; a stream an earlier run wrote (segments, progress or an end marker) raises
    :class:`~smdbg.exceptions.TrialExistsError` unless ``overwrite=True`` (which replaces it) or
    ``append=True`` (which continues it, taking a dead writer's lease over with a warning). The
    writer thread renews the lease every 5 s; readers take a lease without heartbeat for ``lease_stale_after`` s as a crash.

    While open, the writer is listed in :mod:`smdbg.store.local_writers`: a reader of the same
    trial in this process calls :meth:`publish_pending` before it lists the trial.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        worker: str = "worker_0",
        *,
        flush_secs: float = 1.0,
        segment_bytes: int = 64 << 20,
        max_pending_bytes: int = 256 << 20,
        compression: str = "zstd",
        fsync: bool = True,
        storage_options: Mapping[str, Any] | None = None,
        on_tick: Callable[[], None] | None = None,
        compact_secs: float | None = 10.0,
        overwrite: bool = False,
        append: bool = False,
        lease_stale_after: float = STALE_SECS,
        keep_raw_steps: int | None = None,
        size_budget_bytes: int | None = None,
    ) -> None:
        if flush_secs <= 0:
            raise ValueError(f"flush_secs={flush_secs!r}: expected a positive number of seconds")
        if segment_bytes <= 0 or max_pending_bytes <= 0:
            raise ValueError("segment_bytes and max_pending_bytes must be positive")
        keep_raw_steps = check_keep_raw_steps(keep_raw_steps)
        check_size_budget(size_budget_bytes)
        in_child = merge_in_child()  # SMDBG_COMPACT_PROCESS checked before the lease is taken
        self.fs = open_fs(path, **dict(storage_options or {}))
        self._lease = Lease(self.fs, worker_dirname(worker), lease_stale_after)
        self._lease.acquire(overwrite=overwrite, append=append)
        self._beat_at = time.monotonic()
        self.sink = TrialWriter(self.fs, worker, compression=compression, fsync=fsync)
        self.worker = worker
        self.budget = SizeBudget(size_budget_bytes, self.fs.url(), worker, self.sink.existing_bytes())
        self.flush_secs = flush_secs
        self._on_tick = on_tick  # called on the writer thread at each tick (<= 0.25 s)
        self.segment_bytes = segment_bytes
        self.max_pending_bytes = max_pending_bytes
        self._queue: deque[tuple[int, str, int, float, Sequence[Record], int]] = deque()
        self._pending = 0
        self._cond = threading.Condition()
        self._buf = ColumnBuffer()
        self._buf_since = 0.0
        self._progress: dict[str, Any] = {"step": -1, "mode_steps": {}}
        self._progress_dirty = False
        self._progress_at = 0.0
        self._latest_step = -1
        self._latest_modes: dict[str, int | None] = {}
        self._flush_requested = 0
        self._flushed = 0
        self._error: BaseException | None = None
        self._closed = False
        self._stopping = False
        self.records_written = 0
        self.publications = 0  # segments and progress files published (for local_writers)
        warm_pyarrow()
        self._thread = threading.Thread(target=self._run, name=f"smdbg-writer-{worker}", daemon=True)
        self._thread.start()
        self._compactor = (
            None
            if compact_secs is None
            else BackgroundCompactor(
                Compactor(self.fs, worker_dirname(worker), self.sink.manifest, compression, fsync, keep_raw_steps),
                interval=compact_secs,
                process=in_child,
            )
        )
        register(self.fs, self)

    # -- caller side --------------------------------------------------------------------------
    def _check(self) -> None:
        if self._error is not None:
            raise StoreWriteError(
                f"writing the trial at {self.fs.url()} failed: {self._error}"
            ) from self._error
        if self._closed:
            raise WriterClosedError(
                f"the trial writer for {self.fs.url()} is closed; no more writes are accepted"
            )

    def add(
        self, step: int, mode: str, mode_step: int, records: Sequence[Record], wall_time: float | None = None
    ) -> None:
        """Queue the records of one step (back-pressure when too much is pending)."""
        self._check()
        if not records:
            return
        nbytes = record_nbytes(records)
        item = (step, mode, mode_step, time.time() if wall_time is None else wall_time, records, nbytes)
        with self._cond:
            while self._pending and self._pending + nbytes > self.max_pending_bytes and self._error is None:
                self._cond.wait(0.5)
            self._check()
            self._queue.append(item)
            self._pending += nbytes
            if self._pending >= self.segment_bytes:
                self._cond.notify_all()
            # else the writer thread takes the records at its next tick (<= 0.25 s): waking it
            # at every saved step would make it compete with training for the GIL

    def set_progress(self, step: int, mode: str | None = None, mode_step: int | None = None) -> None:
        """Training has reached ``step``: every record of earlier steps was handed over.

        Called at every training step, so it takes no lock: two stores that are atomic under
        the GIL; the writer thread reads them before it takes queued records (so a published
        progress never runs ahead of the records handed over before it)."""
        if mode is not None:
            self._latest_modes[mode] = mode_step
        self._latest_step = step

    def _fold_progress(self) -> None:
        """Fold the latest ``set_progress`` into the progress to publish (holding the lock)."""
        p = self._progress
        step, modes = self._latest_step, dict(self._latest_modes)
        if step != p["step"] or any(p["mode_steps"].get(m) != v for m, v in modes.items()):
            p["step"] = step
            p["mode_steps"].update(modes)
            self._progress_dirty = True

    def flush(self, timeout: float | None = None) -> None:
        """Publish everything handed over so far; returns when it is on storage."""
        self._check()
        with self._cond:
            self._flush_requested += 1
            target = self._flush_requested
            self._cond.notify_all()
            deadline = None if timeout is None else time.monotonic() + timeout
            while self._flushed < target and self._error is None and self._thread.is_alive():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"flushing the trial writer took longer than {timeout}s")
                self._cond.wait(remaining if remaining is not None else 1.0)
        self._check()

    def publish_pending(self, timeout: float | None = 60.0) -> bool:
        """For a reader in this process: publish what was handed over and is not on storage yet
        (queued or buffered records, a newer progress), as :meth:`flush` does; True if there was
        any. False at once when nothing is pending, from the writer's own thread, and after a
        failure or ``close`` (the training side reports those), so a reader never raises here."""
        if self._closed or self._error is not None or threading.current_thread() is self._thread:
            return False
        with self._cond:
            published, modes = self._progress, dict(self._latest_modes)
            idle = (
                not self._queue
                and not len(self._buf)
                and not self._progress_dirty
                and self._latest_step == published["step"]
                and all(published["mode_steps"].get(m) == v for m, v in modes.items())
            )
        if idle:
            return False
        try:
            self.flush(timeout)
        except (StoreWriteError, WriterClosedError, TimeoutError) as e:
            log.debug("publishing %s for a reader in this process: %s", self.fs.url(), e)
            return False
        return True

    def write_trial_metadata(self, meta: Mapping[str, Any]) -> None:
        self._check()
        self.sink.write_trial_metadata(meta)

    def close(self, end_info: Mapping[str, Any] | None = None) -> None:
        """Flush, write the end-of-training marker and stop the thread. Idempotent."""
        if self._closed:
            return
        unregister(self.fs, self)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join()
        self._closed = True
        if self._compactor is not None:
            self._compactor.stop()
        if self._error is not None:
            self._close_after_error(end_info)
        else:
            self._finish(end_info)

    def _finish(self, end_info: Mapping[str, Any] | None) -> None:
        """Manifest, end marker, lease released: the stream ended cleanly."""
        try:
            self.sink.manifest.save()
        except OSError as e:  # a hint only: readers fall back to the listing
            log.warning("could not write the manifest under %s: %s", self.fs.url(), e)
        try:
            self.sink.write_end(self._end_info(end_info))
        except OSError as e:
            raise StoreWriteError(
                f"writing the end-of-training marker under {self.fs.url()} failed: {e}"
            ) from e
        try:
            self._lease.release()
        except OSError as e:
            log.warning("could not remove the lease of %s: %s", self.fs.url(), e)

    def _end_info(self, end_info: Mapping[str, Any] | None, **extra: Any) -> dict[str, Any]:
        self._fold_progress()
        return {
            "worker": self.worker,
            "time": time.time(),
            "last_step": self._progress["step"],
            **dict(end_info or {}),
            **extra,
        }

    def _close_after_error(self, end_info: Mapping[str, Any] | None, tries: int = 3) -> None:
        """Retry what is buffered (a full disk may have been cleared meanwhile); then close
        normally, or mark the stream as ended abnormally and report how many records were lost."""
        cause: BaseException = self._error  # type: ignore[assignment]
        for attempt in range(tries):
            try:
                self._drain(force=True)
            except BaseException as e:  # noqa: BLE001 - reported below with the cause
                cause = e
                time.sleep(0.2 * (attempt + 1))
                continue
            self._error = None
            log.warning("smdbg: the trial writer for %s recovered at close; nothing was lost", self.fs.url())
            self._finish(end_info)
            return
        lost = len(self._buf) + sum(len(i[4]) for i in self._queue)
        info = self._end_info(end_info, abnormal=True, lost_records=lost, reason=f"write error: {cause}")
        for attempt in range(2):
            try:
                self.sink.write_end(info)
                self._lease.release()
                break
            except OSError as e:
                if attempt:  # readers still learn it from the lease going stale
                    log.error("could not mark %s as ended abnormally: %s", self.fs.url(), e)
                else:  # make room: the lease file's space is enough for the marker
                    self._lease.release()
        raise StoreWriteError(
            f"closing the trial at {self.fs.url()}: {lost} records could not be written ({cause}); "
            "segments already published stay readable and the trial is marked as ended abnormally"
        ) from cause

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writer thread ------------------------------------------------------------------------
    def _take(self) -> None:
        """Move queued items into the column buffer (holding the lock)."""
        while self._queue and (
            not len(self._buf) or self._buf.nbytes + self._queue[0][5] <= self.segment_bytes
        ):
            step, mode, mode_step, wall, records, nbytes = self._queue.popleft()
            if not len(self._buf):
                self._buf_since = time.monotonic()
            self._buf.extend(step, mode, mode_step, wall, records, nbytes)
            self._pending -= nbytes
        self._cond.notify_all()

    def _drain(self, force: bool) -> None:
        """Publish segments that are due (or all, when forced), then the progress if it changed.

        Progress may only claim what is published: while records are still buffered or queued,
        it waits for their segment (a reader trusting it would otherwise skip those steps).
        """
        while True:
            with self._cond:
                self._fold_progress()  # before taking records: see set_progress
                self._take()
                progress = dict(self._progress, mode_steps=dict(self._progress["mode_steps"]))
                dirty = self._progress_dirty
                more = bool(self._queue)  # the buffer reached segment_bytes
            now = time.monotonic()
            wrote = False
            if len(self._buf) and (
                force
                or more
                or self._buf.nbytes >= self.segment_bytes
                or now - self._buf_since >= self.flush_secs
            ):
                n = len(self._buf)
                self.sink.write_segment(self._buf)
                self.budget.add(self.sink.last_bytes)
                self.records_written += n
                self._buf.clear()
                self.publications += 1
                wrote = True
            if more:
                continue
            if wrote or (
                dirty and not len(self._buf) and (force or now - self._progress_at >= self.flush_secs)
            ):
                self.sink.write_progress({**progress, "records": self.records_written, "time": time.time()})
                self.publications += 1
                self._progress_at = now
                with self._cond:
                    if self._progress == progress:
                        self._progress_dirty = False
            return

    def _heartbeat(self) -> None:
        """Renew the lease every HEARTBEAT_SECS (a failed renewal is retried at the next tick;
        losing the lease to another writer stops this one)."""
        now = time.monotonic()
        if now - self._beat_at < HEARTBEAT_SECS:
            return
        self._beat_at = now
        try:
            self._lease.heartbeat()
        except LeaseHeldError:
            raise
        except OSError as e:
            log.warning("renewing the lease of %s failed (retrying): %s", self.fs.url(), e)

    def _run(self) -> None:
        tick = min(self.flush_secs / 4, 0.25)
        while True:
            with self._cond:
                if not (self._queue or self._stopping or self._flush_requested > self._flushed):
                    self._cond.wait(tick)
                stopping = self._stopping
                flush_target = self._flush_requested
            force = stopping or flush_target > self._flushed
            try:
                if self._on_tick is not None:
                    self._on_tick()
                self._drain(force=force)
                self._heartbeat()
            except BaseException as e:  # noqa: BLE001 - surfaced to the caller by _check()
                log.error("smdbg trial writer for %s failed: %s", self.fs.url(), e, exc_info=True)
                with self._cond:
                    self._error = e
                    self._cond.notify_all()
                return
            if force:
                with self._cond:
                    self._flushed = max(self._flushed, flush_target)
                    self._cond.notify_all()
            if stopping:
                return
