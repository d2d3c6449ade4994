"""TensorBoard export: an experiment's metrics, or a debugger trial's scalars and raw tensors, as
event files that TensorBoard's own reader loads.

Experiment: one run directory per trial component, ``OUTDIR/<trial>/<trial component>``; every
metric point is a scalar at its iteration number (or its position when none was logged) and its
logging time. A debugger trial is exported by ``smdbg.bridges.tensorboard`` (the tracker does not
read trials itself; see ``_links.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from smdbg.tracker._config import get_backend
from smdbg.tracker._errors import InvalidValueError
from smdbg.tracker._links import export_trial_tensorboard
from smdbg.tracker._records import NO_ITERATION

__all__ = ["export_tensorboard", "export_experiment"]


def export_experiment(
    experiment_name: str, outdir: str | os.PathLike[str], db_url: str | None = None
) -> list[str]:
    """Write one event file per trial component of the experiment; returns the run directories."""
    from smdbg.tb import TensorBoardWriter, run_dir_name

    backend = get_backend(db_url)
    runs = []
    for trial in backend.list_trials(experiment_name=experiment_name):
        for comp in backend.list_components(trial_name=trial.name):
            run = Path(outdir) / run_dir_name(trial.name) / run_dir_name(comp.name)
            with TensorBoardWriter(run) as w:
                for pts in backend.read_metric_points(comp.name):
                    steps = np.where(
                        pts.iterations == NO_ITERATION, np.arange(len(pts.values)), pts.iterations
                    )
                    for v, t, s in zip(pts.values.tolist(), pts.timestamps.tolist(), steps.tolist()):
                        w.add_scalar(pts.metric_name, v, int(s), wall_time=t)
            runs.append(str(run))
    return runs


def export_tensorboard(
    outdir: str | os.PathLike[str],
    *,
    experiment_name: str | None = None,
    trial_path: str | None = None,
    db_url: str | None = None,
) -> list[str]:
    """Export exactly one of an experiment (from the tracker database) or a debugger trial."""
    if (experiment_name is None) == (trial_path is None):
        raise InvalidValueError("export_tensorboard needs exactly one of experiment_name= or trial_path=")
    if experiment_name is not None:
        return export_experiment(experiment_name, outdir, db_url)
    return export_trial_tensorboard(str(trial_path), outdir)
