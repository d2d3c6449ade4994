"""A job's stop switch: what the search starts registers how to end it; ``cancel`` ends it all.

One :class:`CancelScope` belongs to one AutoML job. Before a candidate's training starts, its
runner asks :meth:`CancelScope.cancelled` (a stopped job starts nothing new). While the training
runs, the runner holds an *ender* in the scope (kill this fork-host child, cancel this Ray
task); :meth:`CancelScope.cancel` calls every ender held, once, from the caller's thread. An
ender registered after the cancel is called at once, so a training that was about to start when
the stop came is ended as soon as it exists. The scope also keeps every process id the job
started (:attr:`CancelScope.pids`), so that a caller can check that none of them survives.

From another process, a stop is a file: :func:`request_stop` writes ``<job_dir>/stop-requested``
(its text is the reason) and :func:`watch_stop_file`, running beside the job, turns it into a stop.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from pathlib import Path

__all__ = ["CancelScope", "STOP_FILE", "request_stop", "watch_stop_file"]

STOP_FILE = "stop-requested"
POLL_S = 0.2


class CancelScope:
    """Thread safe. ``reason`` is set by the first :meth:`cancel` and never changes after."""

    def __init__(self, on_start: Callable[[int], None] | None = None) -> None:
        self._on_start = on_start  # called with each pid recorded (outside the scope's lock)
        self._lock = threading.Lock()
        self._enders: dict[int, Callable[[], None]] = {}
        self._ids = itertools.count()
        self.reason: str | None = None
        self.pids: list[int] = []  # every candidate or refit process this job started, in order

    def cancelled(self) -> bool:
        return self.reason is not None

    def cancel(self, reason: str) -> bool:
        """Stop the job's trainings (every ender held is called); False if it was cancelled before."""
        with self._lock:
            if self.reason is not None:
                return False
            self.reason = reason
            enders = list(self._enders.values())
            self._enders.clear()
        for end in enders:
            end()
        return True

    def hold(self, end: Callable[[], None]) -> int:
        """Register ``end`` while a training runs; it is called at once if the scope is cancelled.
        Returns the token for :meth:`release`."""
        with self._lock:
            token = next(self._ids)
            if self.reason is None:
                self._enders[token] = end
                return token
        end()
        return token

    def release(self, token: int) -> None:
        """The training ended by itself: forget its ender."""
        with self._lock:
            self._enders.pop(token, None)

    def running(self) -> int:
        """How many trainings hold an ender now."""
        with self._lock:
            return len(self._enders)

    def record_pid(self, pid: int) -> None:
        with self._lock:
            self.pids.append(pid)
        if self._on_start is not None:
            self._on_start(pid)


def request_stop(job_dir: Path, reason: str) -> None:
    """Ask the job running in ``job_dir`` (in any process on this machine) to stop."""
    tmp = job_dir / f"{STOP_FILE}.tmp"
    tmp.write_text(reason)
    tmp.replace(job_dir / STOP_FILE)


def watch_stop_file(job_dir: Path, stop: Callable[[str], object], ended: threading.Event) -> None:
    """Until ``ended`` is set, call ``stop(reason)`` once ``<job_dir>/stop-requested`` exists
    (looked for every 0.2 s, in a daemon thread)."""

    def watch() -> None:
        path = job_dir / STOP_FILE
        while not ended.wait(POLL_S):
            if path.exists():
                stop(path.read_text(errors="replace").strip() or "stop requested")
                return

    threading.Thread(target=watch, name=f"automl-stop-{job_dir.name}", daemon=True).start()
