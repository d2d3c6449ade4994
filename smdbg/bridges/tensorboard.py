"""Debugger trial -> TensorBoard: scalars for raw scalar tensors and for reductions
(``<tensor>/<reduction>``), histograms for saved histograms and raw tensors, at the global step; one run directory per
worker when there are several. (An experiment's export is the tracker's own:
``smdbg.tracker.export_tensorboard``.)"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from smdbg.reductions import HISTOGRAM
from smdbg.tb import TensorBoardWriter, run_dir_name
from smdbg.trial import create_trial

__all__ = ["export_trial"]


def export_trial(trial_path: str, outdir: str | os.PathLike[str]) -> list[str]:
    """Write a debugger trial's scalars and histograms; returns the run directories."""
    trial = create_trial(trial_path, timeout=0)  # a finished trial to export: no waiting for one
    table = trial.to_arrow()  # plain columns: the export needs no pandas
    cols = {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}
    workers = sorted(set(cols["worker"].tolist()))
    runs = []
    for worker in workers:
        run = Path(outdir) / run_dir_name(worker) if len(workers) > 1 else Path(outdir)
        mine = cols["worker"] == worker
        with TensorBoardWriter(run) as w:
            for step, tensor, reduction, value in zip(
                cols["step"][mine], cols["tensor"][mine], cols["reduction"][mine], cols["value"][mine]
            ):
                if reduction == HISTOGRAM:  # the bins saved by the hook (its value: the count outside)
                    edges, counts = trial.tensor(str(tensor)).histogram(int(step), worker=worker)
                    w.add_binned_histogram(str(tensor), edges, counts, int(step))
                elif reduction != "raw":
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
