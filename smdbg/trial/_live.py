"""Real-time semantics: when to refresh a trial, and which of its steps are complete.

A step is *complete* when every worker has progressed past it (its progress marker says so) or
training has ended (every worker wrote its end marker). :class:`LiveTrial` answers that for the
:class:`~smdbg.trial.Trial` and its :class:`~smdbg.trial.Tensor` objects, which share one.

Refreshing: a query refreshes at most every ``refresh_interval`` seconds, and at once when a
writer of the trial in this process has something new (it is asked to publish first), so a
reader beside a live hook sees every step the hook has passed. A query about a step beyond the
complete ones refreshes before it answers (:meth:`LiveTrial.settle`): an error says what is
true of the published trial, never of a stale view of it. A complete step needs no refresh:
progress is published only after the records it covers, and read before the segments.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass

import numpy as np

from smdbg.exceptions import NoMoreData, StepNotYetAvailable, StepUnavailable
from smdbg.modes import ModeLike
from smdbg.trial._source import MODE_NAMES, TrialSource, mode_code

__all__ = ["LiveTrial", "WorkerState", "StepState", "ALL_STEPS"]


class StepState(enum.Enum):
    """smdebug's answer to ``trial.has_passed_step(step)``."""

    UNAVAILABLE = 0  #: complete, and nothing was saved at it (or training ended before it)
    AVAILABLE = 1  #: saved and complete: every worker passed it, or training ended
    NOT_YET_AVAILABLE = 2  #: not complete yet: it may still be saved

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
        #: False inside ``no_refresh``: queries answer from what was loaded (explicit refreshes,
        #: ``wait_for_steps`` and following a trial still refresh).
        self.dynamic_refresh = True
        self._last_refresh = -1e9
        self._published = 0  # what publish_pending() said when this trial last refreshed

    def refresh(self, force: bool = False) -> None:
        """Pick up new segments (cheap when nothing changed; a no-op after training ended).
        Writers of the trial in this process publish first; if they had anything, it is read now."""
        published = self.source.publish_pending()
        if published != self._published:
            force = True
        if not force and (self.ended() or time.monotonic() - self._last_refresh < self.refresh_interval):
            return
        self.source.refresh()
        self._published = published
        self._last_refresh = time.monotonic()

    def maybe_refresh(self, force: bool = False) -> None:
        """The refresh a query makes: :meth:`refresh`, unless inside ``no_refresh``."""
        if self.dynamic_refresh:
            self.refresh(force)

    def settle(self, step: int, mode: ModeLike | None) -> bool:
        """Before answering about ``step`` from what is loaded: refresh if the step is not complete
        yet (unless inside ``no_refresh`` or after the end). True if it refreshed."""
        if not self.dynamic_refresh or self.ended() or step <= self.last_complete(mode_code(mode)):
            return False
        self.refresh(force=True)
        return True

    def step_state(self, step: int, mode: ModeLike | None) -> StepState:
        """Whether ``step`` (global, or of ``mode``) is saved and complete, as smdebug's StepState."""
        self.settle(step, mode)
        mcode = mode_code(mode)
        complete = step <= self.last_complete(mcode)
        if bool(np.any(self.source.unique_steps(mcode) == step)):
            return StepState.AVAILABLE if complete else StepState.NOT_YET_AVAILABLE
        return StepState.UNAVAILABLE if complete else StepState.NOT_YET_AVAILABLE

    def step_error(self, step: int, mode: ModeLike | None) -> Exception:
        """The error for a step with nothing to answer from (call after :meth:`settle`): not yet
        complete, past the end of training, or complete and not saved (a mode that has no saved
        step at all: never saved, rather than past the end)."""
        mcode = mode_code(mode)
        if self.ended():
            last = self.max_step(mcode)
            if step > last >= 0:
                return NoMoreData(f"training ended at step {last}; step {step} was never saved")
        elif step > self.last_complete(mcode):
            return StepNotYetAvailable(step, mode)
        return StepUnavailable(step, mode)

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
