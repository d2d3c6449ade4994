"""The background capture writer: a bounded queue and one thread that publishes JSONL files.

The request path only appends a tuple to a queue (no JSON, no I/O). The thread turns the tuples
into capture records, groups them by UTC hour, and publishes one file per hour directory per
flush (every ``flush_interval_s`` or ``max_batch`` records, and at close). A file is written
under a temporary name and renamed (or PUT once on S3), so no reader sees half a file. When the
destination cannot be written, the error is logged and kept in :meth:`CaptureWriter.stats`, the
records stay in memory (up to ``max_buffered_records``, oldest dropped beyond and counted) and
are retried at the next flush; serving goes on.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import queue
import threading
import time
from typing import Any

from smdbg.platform.serving._capture import DataCaptureConfig, capture_file_name, hour_prefix, make_record
from smdbg.platform.serving._storage import join, write_bytes

__all__ = ["CaptureWriter"]

log = logging.getLogger("smdbg.serving.capture")
_STOP = object()


class CaptureWriter:
    """Thread-safe :meth:`submit`; :meth:`close` is idempotent and flushes everything queued."""

    def __init__(
        self, config: DataCaptureConfig, endpoint: str, variant: str = "AllTraffic", max_batch: int = 5000
    ) -> None:
        assert config.destination_s3_uri
        self.config = config
        self.root = join(config.destination_s3_uri, endpoint, variant)
        self._max_batch = max_batch
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=config.max_buffered_records)
        self._pending: dict[str, list[str]] = {}  # hour prefix -> JSON lines not yet published
        self._pending_count = 0
        self._lock = threading.Lock()
        self._counts = {"submitted": 0, "written": 0, "dropped": 0, "files": 0, "errors": 0}
        self._last_error: str | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="smdbg-capture", daemon=True)
        self._thread.start()

    # -- request path ---------------------------------------------------------------------
    def submit(
        self, request: bytes, request_type: str, response: bytes, response_type: str, inference_id: str | None
    ) -> None:
        """Queue one exchange for capture (never blocks; a full queue drops and counts it)."""
        when = dt.datetime.now(dt.timezone.utc)
        try:
            self._queue.put_nowait((request, request_type, response, response_type, when, inference_id))
            self._counts["submitted"] += 1
        except queue.Full:
            self._counts["dropped"] += 1

    # -- writer thread --------------------------------------------------------------------
    def _run(self) -> None:
        interval = self.config.flush_interval_s
        batch: list[tuple[Any, ...]] = []
        next_flush = time.monotonic() + interval
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, next_flush - time.monotonic()))
            except queue.Empty:
                item = None
            stop = item is _STOP
            if item is not None and not stop:
                batch.append(item)
            if stop:
                while True:  # drain what came in before the stop marker
                    try:
                        rest = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if rest is not _STOP:
                        batch.append(rest)
            if stop or len(batch) >= self._max_batch or time.monotonic() >= next_flush:
                self._flush(batch)
                batch = []
                next_flush = time.monotonic() + interval
            if stop:
                return

    def _flush(self, batch: list[tuple[Any, ...]]) -> None:
        cfg = self.config
        with self._lock:
            for request, rtype, response, otype, when, inference_id in batch:
                record = make_record(cfg, request, rtype, response, otype, when, inference_id)
                line = json.dumps(record, separators=(",", ":"))
                self._pending.setdefault(hour_prefix(record["eventMetadata"]["inferenceTime"]), []).append(
                    line
                )
                self._pending_count += 1
            self._trim()
            for prefix in sorted(self._pending):
                lines = self._pending[prefix]
                uri = join(self.root, prefix, capture_file_name(dt.datetime.now(dt.timezone.utc)))
                try:
                    write_bytes(uri, ("\n".join(lines) + "\n").encode())
                except Exception as e:  # keep serving; keep the records for the next flush
                    self._counts["errors"] += 1
                    self._last_error = f"cannot write capture file {uri}: {type(e).__name__}: {e}"
                    log.error("%s (%d records kept for retry)", self._last_error, self._pending_count)
                    continue
                del self._pending[prefix]
                self._pending_count -= len(lines)
                self._counts["written"] += len(lines)
                self._counts["files"] += 1

    def _trim(self) -> None:
        over = self._pending_count - self.config.max_buffered_records
        for prefix in sorted(self._pending):
            if over <= 0:
                break
            lines = self._pending[prefix]
            cut = min(over, len(lines))
            del lines[:cut]
            if not lines:
                del self._pending[prefix]
            over -= cut
            self._pending_count -= cut
            self._counts["dropped"] += cut

    # -- control --------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Counters (submitted, written, dropped, files, errors), pending records, last error."""
        with self._lock:
            return {
                **self._counts,
                "pending": self._pending_count + self._queue.qsize(),
                "last_error": self._last_error,
                "destination": self.root,
            }

    def close(self, timeout: float = 30.0) -> None:
        """Flush everything queued and stop the thread. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._pending_count:
            log.error(
                "capture closed with %d records that could not be written to %s: %s",
                self._pending_count,
                self.root,
                self._last_error,
            )

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
