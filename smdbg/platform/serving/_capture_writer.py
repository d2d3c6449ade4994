"""The background capture writer: a buffer bounded in records and bytes, and one thread that
publishes JSONL files.

The request path appends a tuple to a deque under a short lock (no JSON, no I/O, no thread
wake-up). The thread turns the tuples into capture records, groups them by UTC hour, and
publishes them every ``flush_interval_s`` (or at ``max_batch`` records, and at close) as files of
at most ``max_file_bytes``. A file is written under a temporary name and renamed (or PUT once on
S3), so no reader sees half a file.

Memory is bounded: payloads queued plus lines not yet published stay under
``max_buffered_bytes`` and ``max_buffered_records``. What does not fit spills to local files
(:class:`~smdbg.platform.serving._capture_spill.SpillFiles`, when the writer has a spill
directory) and is published from there once the destination takes files again; only when the
spill disk fails too are records dropped (and counted). When the destination cannot be written,
the error is logged and kept in :meth:`CaptureWriter.stats`; serving goes on. The backlog is
written in pieces of ``max_file_bytes``, so a destination with a little room left takes what fits.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
from pathlib import Path
from typing import Any

from smdbg.fs import join, write_atomic
from smdbg.platform.serving._capture import DataCaptureConfig, capture_file_name, hour_prefix
from smdbg.platform.serving._capture_format import CaptureFormatter
from smdbg.platform.serving._capture_spill import SpillFiles

__all__ = ["CaptureWriter"]

log = logging.getLogger("smdbg.serving.capture")


class CaptureWriter:
    """Thread-safe :meth:`submit`; :meth:`close` is idempotent and flushes everything queued.

    ``spill_to`` is a local directory for records beyond the memory budget (None: drop them);
    ``adopt_spills`` are spill directories of instances that no longer exist, whose records this
    writer takes over. ``instance`` names the endpoint instance in the files' names.
    """

    def __init__(
        self,
        config: DataCaptureConfig,
        endpoint: str,
        variant: str = "AllTraffic",
        max_batch: int = 5000,
        spill_to: str | None = None,
        instance: int = 0,
        adopt_spills: list[Path] | None = None,
    ) -> None:
        assert config.destination_s3_uri
        self.config = config
        self._formatter = CaptureFormatter(config)
        self._spill_formatter = CaptureFormatter(config)  # used by request threads, under _submit_lock
        self._spill = SpillFiles(spill_to, config.max_file_bytes, adopt_spills) if spill_to else None
        self.instance = instance
        self.root = join(config.destination_s3_uri, endpoint, variant)
        self._max_batch = max_batch
        self._buffer: collections.deque[tuple[Any, ...]] = collections.deque()
        self._queued_bytes = 0  # payload bytes in _buffer
        self._submit_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pending: dict[str, list[str]] = {}  # hour prefix -> JSON lines not yet published
        self._pending_count = 0
        self._pending_bytes = 0
        self._lock = threading.Lock()
        self._counts = {"submitted": 0, "written": 0, "dropped": 0, "spilled": 0, "files": 0, "errors": 0}
        self._last_error: str | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="smdbg-capture", daemon=True)
        self._thread.start()

    # -- request path ---------------------------------------------------------------------
    def submit(
        self, request: bytes, request_type: str, response: bytes, response_type: str, inference_id: str | None
    ) -> None:
        """Buffer one exchange for capture. One that does not fit the memory budget is spilled to
        disk on the caller's thread (or dropped and counted without a spill directory)."""
        size = len(request) + len(response)
        item = (
            request,
            request_type,
            response,
            response_type,
            dt.datetime.now(dt.timezone.utc),
            inference_id,
        )
        cfg = self.config
        with self._submit_lock:
            self._counts["submitted"] += 1
            held = self._queued_bytes + self._pending_bytes
            if len(self._buffer) < cfg.max_buffered_records and held + size <= cfg.max_buffered_bytes:
                self._buffer.append(item)
                self._queued_bytes += size
                if len(self._buffer) == self._max_batch or self._queued_bytes > cfg.max_buffered_bytes // 2:
                    self._wake.set()
                return
            spilled = self._spill.add(self._spill_formatter.lines([item], 1)) if self._spill else 0
            self._counts["spilled" if spilled else "dropped"] += 1
        self._wake.set()

    # -- writer thread --------------------------------------------------------------------
    def _take(self) -> list[tuple[Any, ...]]:
        with self._submit_lock:
            batch = list(self._buffer)
            self._buffer.clear()
            self._queued_bytes = 0
        return batch

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.config.flush_interval_s)
            self._wake.clear()
            self._flush(self._take())
        self._flush(self._take())
        with self._lock:
            self._spill_all()

    def _add(self, lines: list[tuple[str, str]]) -> None:
        for stamp, line in lines:
            self._pending.setdefault(hour_prefix(stamp), []).append(line)
            self._pending_count += 1
            self._pending_bytes += len(line) + 1

    def _flush(self, batch: list[tuple[Any, ...]]) -> None:
        with self._lock:
            self._add(self._formatter.lines(batch, len(batch)))
            self._overflow()
            published = self._publish()
            while published and self._spill is not None and not self._pending:
                spilled = self._spill.take()  # one spill file: at most about max_file_bytes
                if not spilled:
                    break
                self._add(spilled)
                published = self._publish()

    def _publish(self) -> bool:
        """Write the pending lines in files of at most ``max_file_bytes``; True if all went."""
        limit = self.config.max_file_bytes
        ok = True
        for prefix in sorted(self._pending):
            lines = self._pending[prefix]
            while lines:
                n, size = 0, 0
                while n < len(lines) and (n == 0 or size + len(lines[n]) + 1 <= limit):
                    size += len(lines[n]) + 1
                    n += 1
                uri = join(
                    self.root, prefix, capture_file_name(dt.datetime.now(dt.timezone.utc), self.instance)
                )
                try:
                    write_atomic(uri, ("\n".join(lines[:n]) + "\n").encode())
                except Exception as e:  # keep serving; keep the records for the next flush
                    self._counts["errors"] += 1
                    self._last_error = f"cannot write capture file {uri}: {type(e).__name__}: {e}"
                    log.error("%s (%d records kept for retry)", self._last_error, self._pending_count)
                    ok = False
                    break
                del lines[:n]
                self._pending_count -= n
                self._pending_bytes -= size
                self._counts["written"] += n
                self._counts["files"] += 1
            if not lines:
                del self._pending[prefix]
        return ok

    def _overflow(self) -> None:
        """Move the oldest pending lines beyond the budget to the spill files (or drop them)."""
        cfg = self.config
        for prefix in sorted(self._pending):
            if (
                self._pending_count <= cfg.max_buffered_records
                and self._pending_bytes <= cfg.max_buffered_bytes
            ):
                break
            lines = self._pending[prefix]
            cut, size = 0, 0
            while cut < len(lines) and (
                self._pending_count - cut > cfg.max_buffered_records
                or self._pending_bytes - size > cfg.max_buffered_bytes
            ):
                size += len(lines[cut]) + 1
                cut += 1
            self._release(prefix, cut, size)

    def _release(self, prefix: str, cut: int, size: int) -> None:
        lines = self._pending[prefix]
        stamp = f"{prefix[0:4]}-{prefix[5:7]}-{prefix[8:10]}T{prefix[11:13]}"  # enough for hour_prefix
        spilled = self._spill.add((stamp, line) for line in lines[:cut]) if self._spill else 0
        self._counts["spilled"] += spilled
        self._counts["dropped"] += cut - spilled
        del lines[:cut]
        if not lines:
            del self._pending[prefix]
        self._pending_count -= cut
        self._pending_bytes -= size

    def _spill_all(self) -> None:
        """At close: keep what could not be published in the spill files, for the next server."""
        if self._spill is None:
            return
        for prefix in sorted(self._pending):
            lines = self._pending[prefix]
            self._release(prefix, len(lines), sum(len(line) + 1 for line in lines))
        self._spill.close()

    # -- control --------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Counters (submitted, written, dropped, spilled, files, errors), pending records (in
        memory and spilled), bytes held in memory, the last error."""
        with self._lock:
            spill = self._spill
            return {
                **self._counts,
                "pending": self._pending_count + len(self._buffer) + (spill.lines if spill else 0),
                "buffered_bytes": self._pending_bytes + self._queued_bytes,
                "last_error": self._last_error or (spill.last_error if spill else None),
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
        left = self._spill.lines if self._spill else self._pending_count
        if left:
            where = f"kept in {self._spill.directory} for the next server" if self._spill else "lost"
            log.error(
                "capture closed with %d records that could not be written to %s (%s): %s",
                left,
                self.root,
                where,
                self._last_error,
            )

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
