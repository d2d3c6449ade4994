"""The tracker's links to debugger trials, bound when called.

The tracker does not import the trial API (an import-linter contract): reading a debugger trial
is the job of ``smdbg.bridges``, which sees both. The tracker's entry points that take a trial
(``export_tensorboard(trial_path=...)``, ``Tracker.log_debugger_trial(..., import_metrics=True)``)
call these functions, which load the bridge by name, as ``smdbg.cli`` loads its command modules.
This is the only place where the tracker reaches above itself.
"""

from __future__ import annotations

import importlib
import os
from typing import cast

__all__ = ["export_trial_tensorboard", "import_debugger_metrics"]


def export_trial_tensorboard(trial_path: str, outdir: str | os.PathLike[str]) -> list[str]:
    """``smdbg.bridges.tensorboard.export_trial``: a debugger trial as TensorBoard event files."""
    bridge = importlib.import_module("smdbg.bridges.tensorboard")
    return cast(list[str], bridge.export_trial(trial_path, outdir))


def import_debugger_metrics(tracker: object, trial_path: str) -> int:
    """``smdbg.bridges.tracker.import_debugger_metrics``: a trial's scalars into ``tracker`` (a ``Tracker``;
    typed ``object`` so that this module does not import the tracker back)."""
    bridge = importlib.import_module("smdbg.bridges.tracker")
    return int(bridge.import_debugger_metrics(tracker, trial_path))
