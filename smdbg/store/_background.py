"""The writer's background compactor: tiered merge rounds planned and published on a thread,
the merges themselves computed in a child process (:mod:`smdbg.store._merge_process`) or, where
that is off or impossible, on the thread, yielding the GIL between their steps (see
docs/store_long_runs.md for what each costs training)."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

from smdbg.store._merge_process import MergeProcess, _Stopped, merge_in_child
from smdbg.store.compact import FANOUT, Compactor, plan_tiered

__all__ = ["BackgroundCompactor", "lower_thread_priority"]

log = logging.getLogger(__name__)


class BackgroundCompactor:
    """Runs tiered compaction rounds for one writer, every ``interval`` seconds on its own
    daemon thread, at most ``max_groups`` merges a round (bounded work; training never waits
    on a lock of it, but shares the GIL with it: docs/store_long_runs.md measures the cost). A merge spends most of its time in pyarrow and numpy, which release the GIL; its
    Python steps are vectorised and it gives the GIL up between them (:attr:`Compactor.pause`).
    ``nice`` (Linux, this thread only; failure ignored) lowers the thread's scheduling priority.
    It is off by default, measured (``benchmarks/compaction_gil.py``): on a busy machine a
    low-priority thread that holds the GIL is descheduled while training waits for the GIL, and
    a round then cost the thread next to it seconds instead of milliseconds (priority inversion).
    An error is logged and compaction stops; the trial stays readable as written.

    ``process`` (default: ``SMDBG_COMPACT_PROCESS``, on): the heavy half of each merge runs in
    one child process (:attr:`process`), started at the first merge and stopped by :meth:`stop`;
    a store no other process can open (``memory://``) merges on the thread."""

    def __init__(self, compactor: Compactor, interval: float = 10.0, max_groups: int = 8,
                 fanout: int = FANOUT, nice: int | None = None, process: bool | None = None) -> None:  # fmt: skip
        self.compactor = compactor
        self.interval = interval
        self.max_groups = max_groups
        self.fanout = fanout
        self.nice = nice
        self.error: BaseException | None = None
        self.rounds = 0
        compactor.pause = _yield_gil
        address = compactor.fs.address() if (merge_in_child() if process is None else process) else None
        self.process = None if address is None else MergeProcess(address, compactor.compute)
        if self.process is not None:
            compactor.compute = self.process
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="smdbg-compactor", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        if self.nice is not None:
            lower_thread_priority(self.nice)
        while not self._stop.wait(self.interval):
            try:
                self.compactor.run(lambda s: plan_tiered(s, self.fanout), self.max_groups)
                self.compactor.thin(self.max_groups)  # large segments are never merged
                self.rounds += 1
            except _Stopped:
                return
            except Exception as e:  # noqa: BLE001 - logged; the trial stays as written
                log.warning("smdbg background compaction of %s stopped: %s", self.compactor.fs.url(), e)
                self.error = e
                return

    def stop(self, timeout: float | None = 60.0) -> None:
        """Stop after the merge in progress (if any), then the merge process."""
        self._stop.set()
        self._thread.join(timeout)
        if self.process is not None:
            self.process.close()


def lower_thread_priority(nice: int) -> bool:
    """Give the calling thread the scheduling priority ``nice`` (Linux: a thread's own id is a
    valid ``setpriority`` target, so this leaves the rest of the process alone); False where
    that is not supported or not allowed."""
    if not sys.platform.startswith("linux"):  # elsewhere the id would name a process
        return False
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except OSError:
        return False
    return True


def _yield_gil() -> None:
    """Let a thread waiting for the GIL (training) run now: a sleep, however short, hands the
    GIL over (``sleep(0)`` may take it straight back)."""
    time.sleep(0.0005)
