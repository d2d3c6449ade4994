"""Debugger trial -> tracker: copy a trial's losses and scalar metrics into a tracker (for trials
written without ``tracker=`` given to the hook)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from smdbg.trial import create_trial

if TYPE_CHECKING:
    from smdbg.tracker import Tracker

__all__ = ["import_debugger_metrics", "SCALAR_COLLECTIONS"]

SCALAR_COLLECTIONS = ("losses", "metrics", "scalars")


def import_debugger_metrics(tracker: Tracker, trial_path: str) -> int:
    """Log every finite raw scalar of the trial's losses/metrics/scalars collections as tracker
    metrics (iteration number = global step). Returns how many points were logged."""
    trial = create_trial(trial_path)
    names: dict[str, None] = {}
    for coll in SCALAR_COLLECTIONS:
        try:
            names.update(dict.fromkeys(trial.tensor_names(collection=coll)))
        except (KeyError, LookupError, ValueError):
            continue  # the trial has no such collection
    logged = 0
    for name in names:
        steps, values = trial.tensor(name).history()
        for step, value in zip(steps.tolist(), values.tolist()):
            if math.isfinite(value):
                tracker.log_metric(name, value, iteration_number=int(step))
                logged += 1
    tracker.flush()
    return logged
