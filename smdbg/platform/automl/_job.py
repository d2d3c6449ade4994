"""The AutoML front end: SageMaker Autopilot's ``AutoML`` object, run locally in-process."""

from __future__ import annotations

import json
import math
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from smdbg._optional import require_installed
from smdbg._sdk_args import sdk_kwargs
from smdbg.fs import check_path_component

from ._analysis import analyze
from ._cancel import request_stop
from ._data import check_frame, fold_plan, load_frame, sorted_classes
from ._errors import AutoMLInputError, AutoMLJobError
from ._problem import (
    OBJECTIVES,
    REGRESSION,
    check_target,
    infer_problem_type,
    resolve_objective,
    resolve_problem_type,
)
from ._records import sort_candidates
from ._runner import JobRunner
from ._space import ALGORITHMS

__all__ = ["AutoML", "DEFAULT_TOTAL_RUNTIME", "read_job", "stop_automl_job"]

DEFAULT_TOTAL_RUNTIME = 600.0


def _positive(name: str, value: float | None) -> float | None:
    if value is not None and (not isinstance(value, (int, float)) or not value > 0):
        raise AutoMLInputError(
            f"{name}={value!r} is not a positive number of seconds; pass a number > 0 or None"
        )
    return None if value is None else float(value)


def _check_backend(backend: str, ray_address: str | None, cpus: float) -> str:
    if backend not in ("local", "ray"):
        raise AutoMLInputError(f"backend={backend!r}: expected 'local' or 'ray'")
    if backend == "local" and ray_address is not None:
        raise AutoMLInputError(f"ray_address={ray_address!r} is given but backend='local'; pass backend='ray'")
    if not (isinstance(cpus, int | float) and cpus > 0):
        raise AutoMLInputError(f"ray_candidate_cpus={cpus!r}: expected a number of CPUs > 0 (e.g. 0.5)")
    return backend


class AutoML:
    """Search candidate pipelines for a tabular dataset and keep the best one ready to deploy.

    Mirrors ``sagemaker.automl.automl.AutoML``: ``fit``, ``describe_auto_ml_job``,
    ``list_candidates``, ``best_candidate``, ``create_model`` and ``deploy``. Everything runs on
    this machine; ``output_path`` is a local folder holding one sub-folder per job.

    Extra, keyword-only settings: ``storage`` and ``study_name`` (an Optuna storage URL, so that
    several processes join one search), ``tracker_db_url`` and ``experiment_name`` (where the
    candidates are recorded as trial components), ``algorithms`` (a subset of
    :data:`ALGORITHMS`), ``ensemble``, ``n_jobs`` (candidates trained at once), ``seed``,
    ``cv_max_rows`` (k-fold cross-validation up to that many rows, a holdout split above) and
    ``validation_fraction``. ``backend='ray'`` trains each candidate as a Ray task on the
    cluster at ``ray_address`` (else ``SMDBG_RAY_ADDRESS``) with ``ray_candidate_cpus`` CPUs;
    ``n_jobs`` candidates run at once. The SageMaker SDK's AWS-only arguments (``role``,
    ``sagemaker_session``, ``vpc_config``, ...) are accepted and ignored (docs/compatibility.md).
    """

    def __init__(
        self,
        target_attribute_name: str,
        problem_type: str | None = None,
        job_objective: str | dict[str, str] | None = None,
        max_candidates: int | None = None,
        max_runtime_per_training_job_in_seconds: float | None = None,
        total_job_runtime_in_seconds: float | None = None,
        output_path: str | Path = "automl-output",
        *,
        storage: str | None = None,
        study_name: str | None = None,
        tracker_db_url: str | None = None,
        experiment_name: str | None = None,
        algorithms: list[str] | tuple[str, ...] | None = None,
        ensemble: bool = True,
        n_jobs: int = 1,
        seed: int = 0,
        cv_max_rows: int = 5000,
        validation_fraction: float = 0.2,
        generate_notebooks: bool = True,
        backend: str = "local",
        ray_address: str | None = None,
        ray_candidate_cpus: float = 1.0,
        **kwargs: Any,
    ) -> None:
        #: the SageMaker SDK's AWS-only arguments given (role, sagemaker_session, ...), ignored
        self.sdk_arguments = sdk_kwargs("AutoML", kwargs).values
        self.target_attribute_name = str(target_attribute_name)
        self.problem_type = None if problem_type is None else resolve_problem_type(problem_type)
        name = job_objective.get("MetricName") if isinstance(job_objective, dict) else job_objective
        if name is not None and str(name).lower() not in {k.lower() for k in OBJECTIVES}:
            resolve_objective(name, REGRESSION)  # raises the unknown-objective error
        self.job_objective = job_objective
        if max_candidates is not None and (not isinstance(max_candidates, int) or max_candidates < 1):
            raise AutoMLInputError(
                f"max_candidates={max_candidates!r} is not a positive integer; pass >= 1 or None"
            )
        self.max_candidates = max_candidates
        self.max_runtime_per_training_job_in_seconds = _positive(
            "max_runtime_per_training_job_in_seconds", max_runtime_per_training_job_in_seconds
        )
        total = _positive("total_job_runtime_in_seconds", total_job_runtime_in_seconds)
        if total is None and max_candidates is None:
            total = DEFAULT_TOTAL_RUNTIME
        self.total_job_runtime_in_seconds = total
        self.output_path = Path(output_path)
        unknown = sorted(set(algorithms or ()) - set(ALGORITHMS))
        if unknown or (algorithms is not None and not algorithms):
            raise AutoMLInputError(
                f"algorithms={algorithms!r} holds unknown or no names {unknown}; expected a non-empty "
                f"subset of {', '.join(ALGORITHMS)}"
            )
        if not 0.05 <= validation_fraction <= 0.5:
            raise AutoMLInputError(f"validation_fraction={validation_fraction!r} is outside [0.05, 0.5]")
        self.options: dict[str, Any] = {
            "storage": storage,
            "study_name": study_name,
            "tracker_db_url": tracker_db_url,
            "experiment_name": experiment_name,
            "algorithms": tuple(algorithms) if algorithms else ALGORITHMS,
            "ensemble": bool(ensemble),
            "n_jobs": int(n_jobs),
            "backend": _check_backend(backend, ray_address, ray_candidate_cpus),
            "ray_address": ray_address,
            "ray_candidate_cpus": float(ray_candidate_cpus),
            "seed": int(seed),
            "cv_max_rows": int(cv_max_rows),
            "validation_fraction": float(validation_fraction),
            "generate_notebooks": bool(generate_notebooks),
        }
        if generate_notebooks:  # written after the search: a missing nbformat must not wait until then
            require_installed(
                "nbformat", extra="platform", feature="AutoML's notebooks (generate_notebooks=True)"
            )
        self._runner: JobRunner | None = None
        self._thread: threading.Thread | None = None

    # -- running -----------------------------------------------------------------------------
    def fit(self, inputs: Any, job_name: str | None = None, wait: bool = True, logs: bool = True,
            progress: bool | None = None) -> None:  # fmt: skip
        """Analyse ``inputs`` (CSV/Parquet path or DataFrame), search candidates, save the best.

        Input problems raise :class:`AutoMLInputError` before anything is written. With
        ``wait=False`` the search runs in a background thread; poll :meth:`describe_auto_ml_job`.
        ``progress``: a status line on stderr (candidates, failures, best score); by default
        when stderr is a terminal and ``wait`` is true.
        """
        if self._thread is not None and self._thread.is_alive():
            raise AutoMLJobError(f"job {self._runner.job_name if self._runner else ''!r} is still running")
        runner = self._new_runner(inputs, job_name, logs)
        runner.prepare()
        self._runner = runner
        if wait:
            self._runner.run(progress)
            self._runner.raise_if_failed()
        else:
            name = self._runner.job_name
            self._thread = threading.Thread(
                target=self._runner.run, args=(bool(progress),), name=f"automl-{name}", daemon=True
            )
            self._thread.start()

    def _new_runner(self, inputs: Any, job_name: str | None, logs: bool) -> JobRunner:
        """Check ``inputs`` and set up the job; its time budget starts now."""
        start = time.monotonic()
        created = datetime.now(timezone.utc)
        frame = load_frame(inputs)
        frame.columns = [str(c) for c in frame.columns]
        target = self.target_attribute_name
        frame = check_frame(frame, target)
        problem_type = self.problem_type or infer_problem_type(frame[target])
        check_target(frame[target], problem_type)
        objective = resolve_objective(self.job_objective, problem_type)
        if problem_type == REGRESSION:
            frame[target] = frame[target].astype(float)
        classes = None if problem_type == REGRESSION else sorted_classes(frame[target])
        o = self.options
        fold_ids = fold_plan(
            frame[target], problem_type, o["cv_max_rows"], o["validation_fraction"], o["seed"]
        )
        analysis = analyze(frame, target, problem_type)
        if not any(k not in ("identifier", "constant") for k in analysis["feature_kinds"].values()):
            raise AutoMLInputError(
                f"no usable feature column: every column besides {target!r} is an identifier or "
                f"constant ({analysis['feature_kinds']}); add informative columns"
            )
        name = job_name or f"automl-{created:%Y%m%d-%H%M%S-%f}"[:32]
        check_path_component(name, "job_name (the job's folder under output_path)", error=AutoMLInputError)
        job_dir = self.output_path / name
        if (job_dir / "job.json").exists():
            raise AutoMLInputError(
                f"job {name!r} already exists in {str(self.output_path)!r}; pass another job_name "
                "(the existing job is left as it is)"
            )
        deadline = (
            math.inf
            if self.total_job_runtime_in_seconds is None
            else start + self.total_job_runtime_in_seconds
        )
        return JobRunner(
            automl=self,
            job_name=name,
            job_dir=job_dir,
            inputs=inputs if isinstance(inputs, (str, Path)) else "DataFrame",
            frame=frame,
            problem_type=problem_type,
            objective=objective,
            classes=classes,
            fold_ids=fold_ids,
            analysis=analysis,
            created=created,
            deadline=deadline,
            logs=logs,
        )

    def wait(self, timeout: float | None = None) -> None:
        """Block until a ``fit(wait=False)`` job ends; raise its error if it failed."""
        if self._thread is not None:
            self._thread.join(timeout)
        self._require().raise_if_failed()

    def stop(self, wait: bool = True, timeout: float = 60.0, reason: str = "stopped by the user") -> dict[str, Any]:
        """Stop the running job (StopAutoMLJob): no new candidate starts, the candidate trainings
        running are ended (their processes killed), and the job ends ``Stopped`` (``StopReason``:
        ``reason``) keeping the best candidate so far: leaderboard, ``BestCandidate``, and
        ``best_model/`` when the search kept that candidate's model. A job that already ended is
        left as it is. With ``wait``, blocks until the job has ended (up to ``timeout`` s).
        Returns :meth:`describe_auto_ml_job`. Callable from any thread, e.g. while ``fit(wait=True)``
        runs in another.
        """
        runner = self._require()
        runner.stop(reason)
        if wait:
            runner.ended.wait(timeout)
        return runner.describe()

    # -- reading -----------------------------------------------------------------------------
    def _require(self) -> JobRunner:
        if self._runner is None:
            raise AutoMLJobError("no AutoML job has been started; call fit(inputs) first")
        return self._runner

    def describe_auto_ml_job(self, job_name: str | None = None) -> dict[str, Any]:
        """The job's status, settings, best candidate and artifacts (DescribeAutoMLJob's shape)."""
        runner = self._require()
        if job_name is not None and job_name != runner.job_name:
            raise AutoMLJobError(f"job_name {job_name!r} is not this object's job ({runner.job_name!r})")
        return runner.describe()

    def list_candidates(
        self,
        job_name: str | None = None,
        status_equals: str | None = None,
        candidate_name: str | None = None,
        candidate_arn: str | None = None,
        sort_order: str | None = None,
        sort_by: str = "FinalObjectiveMetricValue",
        max_results: int | None = None,
    ) -> list[dict[str, Any]]:
        """Candidates as ListCandidatesForAutoMLJob returns them; by default best objective first."""
        runner = self._require()
        items = runner.candidate_dicts()
        if status_equals is not None:
            items = [c for c in items if c["CandidateStatus"] == status_equals]
        if candidate_name is not None:
            items = [c for c in items if c["CandidateName"] == candidate_name]
        try:
            items = sort_candidates(items, sort_by, sort_order, runner.objective.maximize)
        except ValueError as e:
            raise AutoMLInputError(str(e)) from None
        return items if max_results is None else items[:max_results]

    def best_candidate(self, job_name: str | None = None) -> dict[str, Any]:
        """The completed candidate with the best objective value (an ensemble when it won)."""
        completed = self.list_candidates(job_name, status_equals="Completed")
        if not completed:
            raise AutoMLJobError(f"job {self._require().job_name!r} has no completed candidate yet")
        return completed[0]

    # -- models ------------------------------------------------------------------------------
    def model_dir(self, candidate: dict[str, Any] | str | None = None) -> Path:
        """The folder with ``model.joblib`` and ``metadata.json`` for a candidate (trained now if needed)."""
        runner = self._require()
        if candidate is None:
            return (
                runner.job_dir / "best_model"
                if runner.best_saved()
                else runner.ensure_model(self.best_candidate())
            )
        name = candidate if isinstance(candidate, str) else candidate["CandidateName"]
        return runner.ensure_model(name)

    def create_model(self, candidate: dict[str, Any] | str | None = None, name: str | None = None) -> Any:
        """A :class:`smdbg.platform.serving.Model` for ``candidate`` (default: the best)."""
        model_dir = self.model_dir(candidate)
        try:
            from smdbg.platform.serving import Model
        except ImportError as e:
            raise AutoMLJobError(
                f"the serving layer (smdbg.platform.serving) cannot be imported ({e}); the model "
                f"artifact is at {str(model_dir)!r}"
            ) from e
        return Model(model_data=str(model_dir), framework="sklearn", name=name)

    def deploy(
        self,
        initial_instance_count: int = 1,
        instance_type: str = "local",
        candidate: dict[str, Any] | str | None = None,
        endpoint_name: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Deploy ``candidate`` (default: the best) as an endpoint; returns the serving Predictor."""
        model = self.create_model(candidate)
        return model.deploy(
            initial_instance_count=initial_instance_count,
            instance_type=instance_type,
            endpoint_name=endpoint_name,
            **kwargs,
        )

    def predict(self, data: Any, candidate: dict[str, Any] | str | None = None) -> np.ndarray:
        """Predict in this process with a candidate's saved pipeline (default: the best)."""
        import joblib

        model = joblib.load(self.model_dir(candidate) / "model.joblib")
        return np.asarray(model.predict(load_frame(data)))

    def __repr__(self) -> str:
        job = self._runner.job_name if self._runner else None
        return f"AutoML(target={self.target_attribute_name!r}, job={job!r})"


def read_job(job_dir: str | Path) -> dict[str, Any]:
    """The ``job.json`` description a finished or running job wrote (no AutoML object needed)."""
    path = Path(job_dir) / "job.json"
    if not path.exists():
        raise AutoMLInputError(f"{str(path)!r} does not exist; pass the folder of an AutoML job")
    return dict(json.loads(path.read_text()))


def stop_automl_job(
    job_dir: str | Path, reason: str = "stopped by the user", wait: bool = True, timeout: float = 60.0
) -> dict[str, Any]:
    """:meth:`AutoML.stop` for a job running in another process on this machine, by its folder
    (``<output_path>/<job_name>``): the request is a file the job looks for every 0.2 s. A job
    that has ended is left as it is. With ``wait``, blocks until ``job.json`` shows the job ended
    (up to ``timeout`` s); returns ``job.json``'s description."""
    job = read_job(job_dir)
    if job.get("AutoMLJobStatus") not in ("InProgress", "Stopping"):
        return job
    request_stop(Path(job_dir), reason)
    deadline = time.monotonic() + timeout
    while wait and time.monotonic() < deadline and job.get("AutoMLJobStatus") in ("InProgress", "Stopping"):
        time.sleep(0.1)
        job = read_job(job_dir)
    return job


def candidates_of(job_dir: str | Path, objective_maximize: bool = True) -> list[dict[str, Any]]:
    path = Path(job_dir) / "candidates.json"
    items = json.loads(path.read_text()) if path.exists() else []
    return sort_candidates(items, "FinalObjectiveMetricValue", None, objective_maximize)
