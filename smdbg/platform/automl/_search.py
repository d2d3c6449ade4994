"""The time-budgeted hyperparameter search: an Optuna study whose trials are candidates.

Each trial samples a spec (algorithm, hyperparameters, preprocessing), trains it in a child
process with a time limit (:mod:`._worker`), and scores its validation predictions. A failing or
over-time candidate is recorded as Failed with its reason and the search goes on. With a storage
URL (``sqlite:///search.db``, ``postgresql://...``) and a study name, several processes or machines
join one search.

A :class:`._cancel.CancelScope` in the settings stops the search: no candidate starts once it is
cancelled, and the ones training are ended and recorded as ``Stopped``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from ._cancel import CancelScope
from ._forkhost import run_task
from ._problem import Objective
from ._space import ALGORITHMS, DEFAULT_SPECS, spec_to_trial_params, suggest_spec
from ._worker import CandidateFailure, TrainTask

__all__ = ["Candidate", "SearchSettings", "run_search"]


@dataclass
class Candidate:
    """One candidate's record (a frozen result once its status is Completed or Failed)."""

    name: str
    number: int
    spec: dict[str, Any]
    status: str = "InProgress"  # Completed, Failed, Stopped
    objective_value: float | None = None
    failure_reason: str | None = None
    creation_time: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    end_time: datetime | None = None
    fit_seconds: float = 0.0  # summed over the n_fits fits of the cross-validation (or holdout)
    n_fits: int = 0
    wall_seconds: float = 0.0  # the whole child task (loading, fits, predictions, saving)
    score_seconds: float = 0.0  # one objective score of the validation predictions
    model_path: str | None = None
    search_model_path: str | None = None  # the last fold's model, kept while it is the best
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
    # the time limit for a candidate starting now (<= 0: start none); the job's budget decides it
    candidate_seconds: Callable[[], float] = lambda: math.inf
    search_model_dir: str | None = None  # where each candidate saves its last fold's model
    # runs one candidate's task with a time limit (a fork-host child here, or a Ray task)
    run_task: Callable[[TrainTask, float, CancelScope | None], dict[str, Any]] = run_task
    cancel: CancelScope | None = None  # the job's stop switch (AutoML.stop)


def _candidate_name(job_name: str, number: int, algorithm: str) -> str:
    return f"{job_name}-{number:03d}-{algorithm.replace('_', '-')}"


def _storage(optuna: Any, url: str | None) -> Any:
    """The study's storage; a SQLite one takes its write lock at the start of every transaction.

    Optuna hands an enqueued trial to a worker by reading it as WAITING, then marking it RUNNING.
    Python's sqlite3 driver begins the transaction only at the write, so two processes could both
    read WAITING and run the same trial (the second then fails with "Cannot tell a COMPLETE
    trial"). ``BEGIN IMMEDIATE`` makes the read and the write one step under the lock.
    """
    if url is None or not url.startswith("sqlite"):
        return url
    from sqlalchemy import event

    storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 300}})

    @event.listens_for(storage.engine, "connect")
    def _no_implicit_begin(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None

    @event.listens_for(storage.engine, "begin")
    def _begin_immediate(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    storage.engine.dispose()  # connections opened while creating the schema predate the listeners
    return storage


def _stopped(s: SearchSettings) -> bool:
    return s.cancel is not None and s.cancel.cancelled()


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
        storage=_storage(optuna, s.storage),
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
        if _stopped(s):  # the job was stopped: start nothing, record nothing
            study.stop()
            raise optuna.TrialPruned("the job was stopped before this candidate started")
        limit = min(s.deadline - time.monotonic(), s.candidate_seconds())
        if limit <= 0:  # another worker thread used the time up: start nothing, record nothing
            study.stop()
            raise optuna.TrialPruned("the job's time budget ran out before this candidate started")
        if s.max_seconds_per_candidate is not None:
            limit = min(limit, s.max_seconds_per_candidate)
        if s.search_model_dir is not None:
            cand.search_model_path = f"{s.search_model_dir}/{cand.name}.joblib"
        preds: np.ndarray | None = None
        try:
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
                cand.search_model_path,
            )
            result = s.run_task(task, limit, s.cancel)
            if "node_id" in result:  # where a Ray task ran it
                trial.set_user_attr("node_id", result["node_id"])
            cand.wall_seconds = float(result["task_seconds"])
            preds = result["predictions"]
            cand.fit_seconds, cand.n_fits = float(result["fit_seconds"]), int(result["n_fits"])
            assert preds is not None
            if not np.all(np.isfinite(preds)):
                raise CandidateFailure("the model predicted non-finite values")
            started = time.monotonic()
            value = s.objective.score(y_eval, preds, None if s.classes is None else np.asarray(s.classes))
            cand.score_seconds = time.monotonic() - started
            if not math.isfinite(value):
                raise CandidateFailure(f"the objective {s.objective.name} is {value}")
        except CandidateFailure as e:
            cand.status, cand.failure_reason = ("Stopped" if e.stopped else "Failed"), e.reason
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
        if _stopped(s) or s.candidate_seconds() <= 0:
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
