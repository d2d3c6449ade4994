"""The time-budgeted hyperparameter search: an Optuna study whose trials are candidates.

Each trial samples a spec (algorithm, hyperparameters, preprocessing), trains it in a child
process with a time limit (:mod:`._worker`), and scores its validation predictions. A failing or
over-time candidate is recorded as Failed with its reason and the search goes on. With a storage
URL (``sqlite:///search.db``, ``postgresql://...``) and a study name, several processes or machines
join one search.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from ._problem import Objective
from ._space import ALGORITHMS, DEFAULT_SPECS, spec_to_trial_params, suggest_spec
from ._worker import CandidateFailure, TrainTask, run_task

__all__ = ["Candidate", "SearchSettings", "run_search"]


@dataclass
class Candidate:
    """One candidate's record (a frozen result once its status is Completed or Failed)."""

    name: str
    number: int
    spec: dict[str, Any]
    status: str = "InProgress"  # Completed, Failed
    objective_value: float | None = None
    failure_reason: str | None = None
    creation_time: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    end_time: datetime | None = None
    fit_seconds: float = 0.0
    n_fits: int = 0
    model_path: str | None = None
    members: dict[str, float] | None = None  # ensembles: member name -> weight


@dataclass
class SearchSettings:
    """Everything the search needs besides the data."""

    job_name: str
    data_path: str
    target: str
    feature_kinds: dict[str, str]
    problem_type: str
    classes: list[Any] | None
    objective: Objective
    fold_ids: np.ndarray
    deadline: float  # time.monotonic() after which no candidate starts
    max_candidates: int | None = None
    max_seconds_per_candidate: float | None = None
    storage: str | None = None
    study_name: str | None = None
    seed: int = 0
    n_jobs: int = 1
    algorithms: tuple[str, ...] = ALGORITHMS
    has_categorical: bool = False
    has_missing: bool = False
    reserve: Callable[[], float] = lambda: 0.0  # seconds to keep for refitting the winners


def _candidate_name(job_name: str, number: int, algorithm: str) -> str:
    return f"{job_name}-{number:03d}-{algorithm.replace('_', '-')}"


def run_search(
    settings: SearchSettings,
    y_eval: np.ndarray,
    on_candidate: Callable[[Candidate, np.ndarray | None], None],
) -> Any:
    """Run the study until the deadline or ``max_candidates``; calls ``on_candidate`` for each finished one.

    Returns the Optuna study.
    """
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        return _run(optuna, settings, y_eval, on_candidate)
    finally:
        optuna.logging.set_verbosity(verbosity)


def _run(
    optuna: Any,
    s: SearchSettings,
    y_eval: np.ndarray,
    on_candidate: Callable[[Candidate, np.ndarray | None], None],
) -> Any:
    sampler = optuna.samplers.TPESampler(seed=s.seed, n_startup_trials=8)
    study = optuna.create_study(
        storage=s.storage,
        study_name=s.study_name or s.job_name,
        direction=s.objective.direction,
        sampler=sampler,
        load_if_exists=True,
    )
    if not study.trials:
        for spec in DEFAULT_SPECS:
            if spec["algorithm"] in s.algorithms:
                study.enqueue_trial(spec_to_trial_params(spec), skip_if_exists=True)

    def objective(trial: optuna.Trial) -> float:
        spec = suggest_spec(trial, s.algorithms, s.has_categorical, s.has_missing)
        cand = Candidate(_candidate_name(s.job_name, trial.number, spec["algorithm"]), trial.number, spec)
        trial.set_user_attr("candidate_name", cand.name)
        trial.set_user_attr("job_name", s.job_name)
        limit = s.deadline - time.monotonic()
        if s.max_seconds_per_candidate is not None:
            limit = min(limit, s.max_seconds_per_candidate)
        preds: np.ndarray | None = None
        try:
            if limit <= 0:
                raise CandidateFailure("the job's time budget ran out before this candidate started")
            task = TrainTask(
                s.data_path,
                s.target,
                spec,
                s.feature_kinds,
                s.problem_type,
                s.classes,
                s.fold_ids,
                None,
                s.seed,
            )
            result = run_task(task, limit)
            preds = result["predictions"]
            cand.fit_seconds, cand.n_fits = float(result["fit_seconds"]), int(result["n_fits"])
            assert preds is not None
            if not np.all(np.isfinite(preds)):
                raise CandidateFailure("the model predicted non-finite values")
            value = s.objective.score(y_eval, preds, None if s.classes is None else np.asarray(s.classes))
            if not math.isfinite(value):
                raise CandidateFailure(f"the objective {s.objective.name} is {value}")
        except CandidateFailure as e:
            cand.status, cand.failure_reason = "Failed", e.reason
            cand.end_time = datetime.now(timezone.utc)
            trial.set_user_attr("failure_reason", e.reason)
            on_candidate(cand, None)
            raise
        cand.status, cand.objective_value = "Completed", value
        cand.end_time = datetime.now(timezone.utc)
        trial.set_user_attr("fit_seconds", cand.fit_seconds)
        on_candidate(cand, preds)
        return value

    def stop_when_out_of_time(study: optuna.Study, trial: Any) -> None:
        if time.monotonic() + s.reserve() >= s.deadline:
            study.stop()

    remaining = s.deadline - time.monotonic()
    study.optimize(
        objective,
        n_trials=s.max_candidates,
        timeout=None if math.isinf(remaining) else max(remaining, 0.001),
        n_jobs=s.n_jobs,
        catch=(CandidateFailure,),
        callbacks=[stop_when_out_of_time],
    )
    return study
