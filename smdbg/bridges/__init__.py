"""Bridges: the code that links the debugger's trials to the tracker's experiments.

The trial API (``smdbg.trial``) and the tracker (``smdbg.tracker``) do not know each other (an
import-linter contract keeps the tracker off the trial API). What needs both lives here, above
them and below the platform:

* :func:`~smdbg.bridges.tensorboard.export_trial`: a debugger trial's scalars and histograms as
  TensorBoard event files;
* :func:`~smdbg.bridges.tracker.import_debugger_metrics`: a debugger trial's losses and scalar
  metrics logged into a tracker.

The tracker's own entry points for these (``export_tensorboard(trial_path=...)``,
``Tracker.log_debugger_trial(..., import_metrics=True)``, ``smdbg export tensorboard --trial``)
load this package by name when called (``smdbg/tracker/_links.py``), so importing the tracker
never imports the trial API.
"""

from smdbg.bridges.tensorboard import export_trial
from smdbg.bridges.tracker import SCALAR_COLLECTIONS, import_debugger_metrics

__all__ = ["export_trial", "import_debugger_metrics", "SCALAR_COLLECTIONS"]
