"""Following a live trial: windows of newly complete steps until training ends.

Rule jobs and ``invoke_rule`` both evaluate a rule window by window with this one loop::

    for window in follow_steps(trial, start_step, end_step, poll_interval=0.5):
        if window.first:
            rule.check()
        findings = rule.evaluate(window.start, window.end)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from smdbg.trial._trial import Trial

__all__ = ["StepWindow", "follow_steps"]


@dataclass(frozen=True)
class StepWindow:
    """Global steps ``[start, end)`` that became complete since the previous window (possibly
    none: ``start == end``). ``first``: the first window, yielded once the trial has a complete
    step or training ended (or at once when not following). ``last``: no window follows (training
    ended, ``end_step`` was reached, or the caller does not follow). ``ended``: training had ended."""

    start: int
    end: int
    first: bool
    last: bool
    ended: bool


def follow_steps(trial: Trial, start_step: int = 0, end_step: int | None = None, *, follow: bool = True,
                 poll_interval: float = 0.5, timeout: float | None = None) -> Iterator[StepWindow]:  # fmt: skip
    """Windows of complete global steps from ``start_step`` up to ``end_step`` (None: until training
    ends), one every ``poll_interval`` seconds while training runs. ``follow=False``: one window
    over what is complete now. Raises TimeoutError after ``timeout`` seconds without the last window."""
    deadline = None if timeout is None else time.monotonic() + timeout
    nxt = start_step
    ready = yielded = False
    while True:
        trial.refresh(force=True)
        ended = trial.training_has_ended()
        ready = ready or ended or not follow or bool(trial.steps())
        if ready:
            complete_end = trial.last_complete_step() + 1
            end = max(nxt, complete_end if end_step is None else min(complete_end, end_step))
            last = not follow or ended or (end_step is not None and end >= end_step)
            yield StepWindow(nxt, end, not yielded, last, ended)
            yielded, nxt = True, end
            if last:
                return
        if deadline is not None and time.monotonic() >= deadline:
            until = "training ended" if end_step is None else f"training reached step {end_step}"
            raise TimeoutError(
                f"stopped following {trial.path} after its timeout of {timeout:g}s, before {until}"
            )
        time.sleep(poll_interval)
