"""Candidate training: cross-validated predictions and refits, run in a child of the fork host.

The caller never trains in its own process (:func:`._forkhost.run_task` runs a task); it schedules, scores and
loads saved models. A child that errs or runs past its time limit becomes a Failed candidate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sklearn.compose  # noqa: F401  (imported by the fork host, before it forks)
import sklearn.ensemble  # noqa: F401
import sklearn.linear_model  # noqa: F401
import sklearn.neural_network  # noqa: F401
import sklearn.preprocessing  # noqa: F401

from ._errors import AutoMLError
from ._space import build_pipeline

__all__ = ["TrainTask", "CandidateFailure", "train_task", "SINGLE_THREAD_ROWS"]

SINGLE_THREAD_ROWS = 20_000


@dataclass(frozen=True)
class TrainTask:
    """What a child does: evaluate ``spec`` on the folds in ``fold_ids`` and/or fit on all rows."""

    data_path: str
    target: str
    spec: dict[str, Any]
    feature_kinds: dict[str, str]
    problem_type: str
    classes: list[Any] | None
    fold_ids: np.ndarray | None  # -1: train only; k >= 0: validation rows of fold k
    model_path: str | None = None  # when set, fit on every row and save the pipeline here
    random_state: int = 0
    search_model_path: str | None = None  # when set, save the last fold's fitted pipeline here


class CandidateFailure(AutoMLError):
    """A candidate's training failed or ran out of time; ``reason`` says which and why."""

    def __init__(self, reason: str, timed_out: bool = False, stopped: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.timed_out = timed_out  # stopped at its time limit (rather than failing by itself)
        self.stopped = stopped  # ended because its job was stopped (AutoML.stop)


def _predict(model: Any, x: pd.DataFrame, classes: list[Any] | None) -> np.ndarray:
    if classes is None:
        return np.asarray(model.predict(x), dtype=float)
    proba = np.asarray(model.predict_proba(x), dtype=float)
    out = np.zeros((len(x), len(classes)))
    index = {c: i for i, c in enumerate(classes)}
    for j, c in enumerate(model.classes_):
        out[:, index[c]] = proba[:, j]
    return out


def train_task(task: TrainTask) -> dict[str, Any]:
    """Run a task in this process; returns predictions on validation rows and timings (seconds).

    Below ``SINGLE_THREAD_ROWS`` rows the native thread pools (OpenMP, BLAS) use one thread:
    on small data the threads' start-up and contention cost more than they save.
    """
    from threadpoolctl import threadpool_limits

    start = time.perf_counter()
    frame = pd.read_pickle(task.data_path)
    if len(frame) < SINGLE_THREAD_ROWS:
        with threadpool_limits(limits=1):
            result = _train(task, frame)
    else:
        result = _train(task, frame)
    result["task_seconds"] = time.perf_counter() - start  # loading, fits, predictions, saving
    return result


def _train(task: TrainTask, frame: pd.DataFrame) -> dict[str, Any]:
    y = frame[task.target].to_numpy()
    x = frame.drop(columns=[task.target])
    result: dict[str, Any] = {"predictions": None, "fit_seconds": 0.0, "n_fits": 0}
    if task.fold_ids is not None:
        width = len(task.classes) if task.classes is not None else 0
        preds = np.full((len(x), width) if width else len(x), np.nan)
        for fold in sorted(set(task.fold_ids[task.fold_ids >= 0].tolist())):
            train, valid = task.fold_ids != fold, task.fold_ids == fold
            model = build_pipeline(task.spec, task.feature_kinds, task.problem_type, task.random_state)
            start = time.perf_counter()
            model.fit(x[train], y[train])
            result["fit_seconds"] += time.perf_counter() - start
            result["n_fits"] += 1
            preds[valid] = _predict(model, x[valid], task.classes)
        result["predictions"] = preds[task.fold_ids >= 0]
        if task.search_model_path is not None:
            import joblib

            joblib.dump(model, task.search_model_path)
    if task.model_path is not None:
        import joblib

        model = build_pipeline(task.spec, task.feature_kinds, task.problem_type, task.random_state)
        start = time.perf_counter()
        model.fit(x, y)
        result["refit_seconds"] = time.perf_counter() - start
        joblib.dump(model, task.model_path)
    return result
