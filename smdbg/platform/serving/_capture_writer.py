"""The background capture writer: a bounded buffer and one thread that publishes JSONL files.

The request path only appends a tuple to a deque (no JSON, no I/O, no lock, no wake-up). The thread turns the tuples
into capture records, groups them by UTC hour, and publishes one file per hour directory per
flush (every ``flush_interval_s`` or ``max_batch`` records, and at close). A file is written
under a temporary name and renamed (or PUT once on S3), so no reader sees half a file. When the
destination cannot be written, the error is logged and kept in :meth:`CaptureWriter.stats`, the
records stay in memory (up to ``max_buffered_records``, oldest dropped beyond and counted) and
are retried at the next flush; serving goes on.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
from typing import Any

from smdbg.fs import join, write_atomic
from smdbg.platform.serving._capture import DataCaptureConfig, capture_file_name, hour_prefix
from smdbg.platform.serving._capture_format import CaptureFormatter

__all__ = ["CaptureWriter"]

log = logging.getLogger("smdbg.serving.capture")


class CaptureWriter:
    """Thread-safe :meth:`submit`; :meth:`close` is idempotent and flushes everything queued."""

    def __init__(
        self, config: DataCaptureConfig, endpoint: str, variant: str = "AllTraffic", max_batch: int = 5000
    ) -> None:
        assert config.destination_s3_uri
        self.config = config
        self._formatter = CaptureFormatter(config)
        self.root = join(config.destination_s3_uri, endpoint, variant)
        self._max_batch = max_batch
        self._buffer: collections.deque[tuple[Any, ...]] = collections.deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
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
        """Buffer one exchange for capture: an append, no lock, no thread wake-up (a full
        buffer drops and counts it)."""
        if len(self._buffer) >= self.config.max_buffered_records:
            self._counts["dropped"] += 1
            return
        self._buffer.append(
            (request, request_type, response, response_type, dt.datetime.now(dt.timezone.utc), inference_id)
        )
        self._counts["submitted"] += 1
        if len(self._buffer) == self._max_batch:
            self._wake.set()

    # -- writer thread --------------------------------------------------------------------
    def _take(self) -> list[tuple[Any, ...]]:
        n = len(self._buffer)  # popleft n items: appends racing with this stay for the next flush
        return [self._buffer.popleft() for _ in range(n)]

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.config.flush_interval_s)
            self._wake.clear()
            self._flush(self._take())
        self._flush(self._take())

    def _flush(self, batch: list[tuple[Any, ...]]) -> None:
        with self._lock:
            for stamp, line in self._formatter.lines(batch, len(batch)):
                self._pending.setdefault(hour_prefix(stamp), []).append(line)
                self._pending_count += 1
            self._trim()
            for prefix in sorted(self._pending):
                lines = self._pending[prefix]
                uri = join(self.root, prefix, capture_file_name(dt.datetime.now(dt.timezone.utc)))
                try:
                    write_atomic(uri, ("\n".join(lines) + "\n").encode())
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
                "pending": self._pending_count + len(self._buffer),
                "last_error": self._last_error,
                "destination": self.root,
            }

    def close(self, timeout: float = 30.0) -> None:
        """Flush everything queued and stop the thread. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._wake.set()
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
