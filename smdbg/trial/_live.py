"""Real-time semantics: when to refresh a trial, and which of its steps are complete.

A step is *complete* when every worker has progressed past it (its progress marker says so) or
training has ended (every worker wrote its end marker). :class:`LiveTrial` answers that for the
:class:`~smdbg.trial.Trial` and its :class:`~smdbg.trial.Tensor` objects, which share one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from smdbg.trial._source import MODE_NAMES, TrialSource

__all__ = ["LiveTrial", "WorkerState", "ALL_STEPS"]

#: ``last_complete`` once training has ended: every step is complete.
ALL_STEPS = 2**62


@dataclass(frozen=True)
class WorkerState:
    """One worker's last word: its latest progress marker and whether it closed the trial."""

    worker: str  #: the worker's directory name
    step: int  #: the global step it was at (-1 before its first)
    time: float | None  #: wall time of its last progress marker
    ended: bool  #: it wrote its end-of-training marker


class LiveTrial:
    """A source, refreshed at most every ``refresh_interval`` seconds until training ends."""

    def __init__(self, source: TrialSource, refresh_interval: float) -> None:
        self.source = source
        self.refresh_interval = refresh_interval
        self._last_refresh = -1e9

    def refresh(self, force: bool = False) -> None:
        """Pick up new segments (cheap when nothing changed; a no-op after training ended)."""
        if not force and (self.ended() or time.monotonic() - self._last_refresh < self.refresh_interval):
            return
        self.source.refresh()
        self._last_refresh = time.monotonic()

    def ended(self) -> bool:
        """Every worker (at least ``num_workers`` of them) wrote its end marker."""
        s = self.source
        dirs, ended = s.worker_dirs, s.ended
        expected = int(s.metadata.get("num_workers") or 0) or len(dirs)
        return bool(dirs) and len(ended) >= max(expected, 1) and len(ended) >= len(dirs)

    def last_complete(self, mode_code: int | None) -> int:
        """The highest step (global, or of one mode) every worker has passed; -1 if none."""
        s = self.source
        if self.ended():
            return ALL_STEPS
        dirs = s.worker_dirs
        expected = max(int(s.metadata.get("num_workers") or 0), len(dirs), 1)
        if len(dirs) < expected:
            return -1
        passed = []
        for w in dirs:
            if w in s.ended:
                continue
            p = s.progress.get(w)
            if p is None:
                return -1
            passed.append(
                int(p.get("step", -1))
                if mode_code is None
                else int(p.get("mode_steps", {}).get(MODE_NAMES[mode_code], 0))
            )
        return min(passed) - 1 if passed else ALL_STEPS

    def max_step(self, mode_code: int | None) -> int:
        """The highest saved step (global, or of one mode); -1 if none."""
        steps = self.source.unique_steps(mode_code)
        return int(steps[-1]) if len(steps) else -1

    def worker_states(self) -> list[WorkerState]:
        """Every worker's latest progress and end marker, by directory name."""
        s = self.source
        out = []
        for w in s.worker_dirs:
            p = s.progress.get(w) or {}
            t = p.get("time")
            out.append(WorkerState(w, int(p.get("step", -1)), None if t is None else float(t), w in s.ended))
        return out
