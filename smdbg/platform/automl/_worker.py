"""Candidate training in a child process, so that a candidate can be stopped at its time limit.

Children are forked from a forkserver that has imported scikit-learn but never trained: forking a
process whose OpenMP runtime is already running (any HistGradientBoosting fit) can hang the child,
so the parent never trains in this module's scheme; it only schedules, scores and loads models.
"""

from __future__ import annotations

import multiprocessing as mp
import time
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sklearn.compose  # noqa: F401  (preloaded in the forkserver)
import sklearn.ensemble  # noqa: F401
import sklearn.linear_model  # noqa: F401
import sklearn.neural_network  # noqa: F401

from ._space import build_pipeline

__all__ = ["TrainTask", "CandidateFailure", "run_task", "train_task"]


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


class CandidateFailure(Exception):
    """A candidate's training failed or ran out of time; ``reason`` says which and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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
    """Run a task in this process; returns predictions on validation rows and timings."""
    frame = pd.read_pickle(task.data_path)
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
    if task.model_path is not None:
        import joblib

        model = build_pipeline(task.spec, task.feature_kinds, task.problem_type, task.random_state)
        start = time.perf_counter()
        model.fit(x, y)
        result["refit_seconds"] = time.perf_counter() - start
        joblib.dump(model, task.model_path)
    return result


def _child(task: TrainTask, conn: Any) -> None:
    try:
        conn.send(("ok", train_task(task)))
    except BaseException as e:  # report every failure to the parent, which records it
        last = traceback.format_exception_only(type(e), e)[-1].strip()
        conn.send(("error", last))
    finally:
        conn.close()


_CONTEXT: Any = None


def _context() -> Any:
    global _CONTEXT
    if _CONTEXT is None:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
        _CONTEXT = ctx
    return _CONTEXT


def run_task(task: TrainTask, timeout: float) -> dict[str, Any]:
    """Run ``task`` in a child process; raise :class:`CandidateFailure` on error or after ``timeout`` s."""
    ctx = _context()
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(task, sender), daemon=True)
    proc.start()
    sender.close()
    try:
        if not receiver.poll(max(timeout, 0.0)):
            raise CandidateFailure(f"training ran past its time limit of {timeout:.1f} s and was stopped")
        try:
            status, payload = receiver.recv()
        except EOFError:
            proc.join(5)
            raise CandidateFailure(f"training process died (exit code {proc.exitcode})") from None
        if status != "ok":
            raise CandidateFailure(str(payload))
        return dict(payload)
    finally:
        receiver.close()
        if proc.is_alive():
            proc.kill()
        proc.join(10)
