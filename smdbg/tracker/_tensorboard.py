"""TensorBoard export: an experiment's metrics, or a debugger trial's scalars and raw tensors, as
event files that TensorBoard's own reader loads.

Experiment: one run directory per trial component, ``OUTDIR/<trial>/<trial component>``; every
metric point is a scalar at its iteration number (or its position when none was logged) and its
logging time. Debugger trial: scalars for raw scalar tensors and for reductions
(``<tensor>/<reduction>``), histograms for raw tensors, at the global step; one run directory per
worker when there are several.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from smdbg.tracker._config import get_backend
from smdbg.tracker._errors import InvalidValueError
from smdbg.tracker._records import NO_ITERATION

__all__ = ["export_tensorboard", "export_experiment", "export_trial"]


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_.=" else "_" for ch in name) or "_"


def export_experiment(
    experiment_name: str, outdir: str | os.PathLike[str], db_url: str | None = None
) -> list[str]:
    """Write one event file per trial component of the experiment; returns the run directories."""
    from smdbg.tb import TensorBoardWriter

    backend = get_backend(db_url)
    runs = []
    for trial in backend.list_trials(experiment_name=experiment_name):
        for comp in backend.list_components(trial_name=trial.name):
            run = Path(outdir) / _safe(trial.name) / _safe(comp.name)
            with TensorBoardWriter(run) as w:
                for pts in backend.read_metric_points(comp.name):
                    steps = np.where(
                        pts.iterations == NO_ITERATION, np.arange(len(pts.values)), pts.iterations
                    )
                    for v, t, s in zip(pts.values.tolist(), pts.timestamps.tolist(), steps.tolist()):
                        w.add_scalar(pts.metric_name, v, int(s), wall_time=t)
            runs.append(str(run))
    return runs


def export_trial(trial_path: str, outdir: str | os.PathLike[str]) -> list[str]:
    """Write a debugger trial's scalars and histograms; returns the run directories."""
    from smdbg.tb import TensorBoardWriter
    from smdbg.trials import create_trial

    trial = create_trial(trial_path)
    table = trial.to_arrow()  # plain columns: the export needs no pandas
    cols = {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}
    workers = sorted(set(cols["worker"].tolist()))
    runs = []
    for worker in workers:
        run = Path(outdir) / _safe(worker) if len(workers) > 1 else Path(outdir)
        mine = cols["worker"] == worker
        with TensorBoardWriter(run) as w:
            for step, tensor, reduction, value in zip(
                cols["step"][mine], cols["tensor"][mine], cols["reduction"][mine], cols["value"][mine]
            ):
                if reduction != "raw":
                    w.add_scalar(f"{tensor}/{reduction}", float(value), int(step))
                elif not math.isnan(value):
                    w.add_scalar(str(tensor), float(value), int(step))
                else:
                    arr: Any = trial.tensor(str(tensor)).value(int(step), worker=worker)
                    if np.size(arr) <= 1:
                        w.add_scalar(
                            str(tensor), float(np.asarray(arr, dtype=np.float64).reshape(-1)[0]), int(step)
                        )
                    else:
                        w.add_histogram(str(tensor), np.asarray(arr), int(step))
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
    return export_trial(str(trial_path), outdir)
