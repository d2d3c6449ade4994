"""One AutoML job's run: search, ensemble, refit of the winners, artifacts and its records."""

from __future__ import annotations

import json
import shutil
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smdbg._progress import Progress

from ._artifacts import CandidateModels, link_tree
from ._budget import Budget, refit_scale
from ._cancel import CancelScope, watch_stop_file
from ._errors import AutoMLError, AutoMLJobError
from ._finish import UNLIMITED_REFIT_SECONDS, Finishing, NoWinnerError, finish, finish_stopped, notebooks_fit
from ._problem import Objective
from ._records import candidate_dict, write_leaderboard
from ._search import Candidate, SearchSettings, run_search
from ._tracking import CandidateRecorder
from ._views import JobSettings

__all__ = ["JobRunner"]


class JobRunner:
    """State of one job; methods are safe to call from the caller's thread while it runs."""

    def __init__(
        self,
        automl: JobSettings,
        job_name: str,
        job_dir: Path,
        inputs: Any,
        frame: pd.DataFrame,
        problem_type: str,
        objective: Objective,
        classes: list[Any] | None,
        fold_ids: np.ndarray,
        analysis: dict[str, Any],
        created: datetime,
        deadline: float,
        logs: bool,
    ) -> None:
        self.automl, self.job_name, self.job_dir, self.inputs = automl, job_name, job_dir, inputs
        self.frame, self.problem_type, self.objective, self.classes = frame, problem_type, objective, classes
        self.fold_ids, self.analysis, self.created, self.deadline = fold_ids, analysis, created, deadline
        self.logs = logs
        self.target = automl.target_attribute_name
        self.feature_names = [c for c in frame.columns if c != self.target]
        self.feature_kinds = {
            k: v for k, v in analysis["feature_kinds"].items() if v not in ("identifier", "constant")
        }
        self.status, self.secondary_status = "InProgress", "Starting"
        self.failure_reason: str | None = None
        self.end_time: datetime | None = None
        self.candidates: list[Candidate] = []
        self.predictions: dict[str, np.ndarray] = {}
        self.best_name: str | None = None
        self.notebooks: dict[str, str] = {}
        self._lock = threading.RLock()
        self._error: BaseException | None = None
        self._kept: Candidate | None = None  # the candidate whose search-time model is kept
        # stop(): no new candidate, running trainings ended; job.json names each process started
        self.cancel = CancelScope(on_start=lambda pid: self._write_job())
        self.ended = threading.Event()  # set when run() has returned (its status is final)
        o = automl.options
        self.budget = Budget(
            deadline,
            *refit_scale(fold_ids),
            ensemble=bool(o["ensemble"]),
            notebooks=bool(o["generate_notebooks"]),
            maximize=objective.maximize,
        )
        self.recorder = CandidateRecorder(o["tracker_db_url"], o["experiment_name"] or job_name, job_name)
        self.models = CandidateModels(
            job_dir,
            self.data_path,
            self.target,
            self.feature_names,
            self.feature_kinds,
            problem_type,
            objective.name,
            classes,
            o["seed"],
        )
        self.progress = Progress(
            f"AutoML {job_name}", automl.max_candidates, enabled=False, unit="candidates"
        )

    @property
    def data_path(self) -> Path:
        return self.job_dir / "data" / "input.pkl"

    # -- lifecycle ---------------------------------------------------------------------------
    def prepare(self) -> None:
        (self.job_dir / "data").mkdir(parents=True, exist_ok=True)
        self.frame.to_pickle(self.data_path)
        (self.job_dir / "analysis.json").write_text(json.dumps(self.analysis, indent=1, default=str))
        self._write_job()

    def run(self, progress: bool | None = False) -> None:
        """Search, then finish (ensemble, refits, artifacts); after :meth:`stop`, publish the best
        candidate so far instead. ``progress``: a status line on stderr (None: when stderr is a
        terminal; see :mod:`smdbg._progress`)."""
        self.progress = Progress(f"AutoML {self.job_name}", self.automl.max_candidates, enabled=progress,
                                 unit="candidates")  # fmt: skip
        watch_stop_file(self.job_dir, self.stop, self.ended)  # stop_automl_job from another process
        try:
            try:
                self._search()
                if not self.cancel.cancelled():
                    self.finish()
            except Exception:
                if not self.cancel.cancelled():  # else: a stop ended a refit; the job is Stopped
                    raise
            if self.cancel.cancelled():
                self._publish_stopped()
            with self._lock:
                self.status = self.secondary_status = "Stopped" if self.cancel.cancelled() else "Completed"
        except BaseException as e:
            with self._lock:
                self.status, self.secondary_status = "Failed", "Failed"
                self.failure_reason = self.failure_reason or f"{type(e).__name__}: {e}"
                self._error = e
        finally:
            self.end_time = datetime.now(timezone.utc)
            self._write_job()
            self.progress.close()
            self.ended.set()

    def stop(self, reason: str) -> bool:
        """End the run early: no candidate starts any more, the trainings running are ended (their
        processes killed), and the job ends ``Stopped`` with the best candidate so far. Returns
        False when the run had already ended (nothing changes)."""
        with self._lock:
            if self.status != "InProgress":
                return False
            self.status = self.secondary_status = "Stopping"
            self.cancel.cancel(reason)
            self._write_job()
        self._log(f"stopping: {reason}")
        return True

    def _publish_stopped(self) -> None:
        """After a stop: the best candidate so far (:func:`._finish.finish_stopped`) is the job's
        best, unless :meth:`finish` had published one already."""
        winner = None if self.best_name is not None else finish_stopped(self._finishing())
        if winner is not None:
            self.best_name = winner.name
            if winner.model_path is not None:
                link_tree(Path(winner.model_path), self.job_dir / "best_model")
        with self._lock:
            self._write_leaderboard()
        shutil.rmtree(self.job_dir / "search_models", ignore_errors=True)

    def finish(self) -> None:
        """Choose and build the winner (:func:`._finish.finish`), then publish it: ``best_model``,
        the leaderboard, and the notebooks when they fit the time left."""
        try:
            winner = finish(self._finishing())
        except NoWinnerError as e:
            self.failure_reason = e.reason
            raise
        self.best_name = winner.name
        link_tree(Path(str(winner.model_path)), self.job_dir / "best_model")
        with self._lock:
            self._write_leaderboard()
        shutil.rmtree(self.job_dir / "search_models", ignore_errors=True)
        if self.automl.options["generate_notebooks"] and notebooks_fit(self.budget, self._log):
            from ._notebooks import write_notebooks

            self.notebooks = write_notebooks(self)

    def _finishing(self) -> Finishing:
        o = self.automl.options
        return Finishing(
            job_name=self.job_name,
            budget=self.budget,
            objective=self.objective,
            classes=self.classes,
            fold_ids=self.fold_ids,
            y_valid=self.frame[self.target].to_numpy()[self.fold_ids >= 0],
            predictions=self.predictions,
            candidates=self.candidates,
            lock=self._lock,
            models=self.models,
            add_candidate=lambda cand: self._on_candidate(cand, None),
            log=self._log,
            ensemble=bool(o["ensemble"]),
            total_runtime=self.automl.total_job_runtime_in_seconds,
            cancel=self.cancel,
        )

    def raise_if_failed(self) -> None:
        if self._error is not None:
            if isinstance(self._error, AutoMLError):
                raise self._error
            raise AutoMLJobError(
                f"AutoML job {self.job_name!r} failed: {self.failure_reason}"
            ) from self._error

    def _log(self, message: str) -> None:
        if self.logs:
            self.progress.note(f"[{self.job_name}] {message}", sys.stdout)

    def _show_progress(self, phase: str | None = None) -> None:
        """The status line: candidates so far, failures, the best score, time used of the budget."""
        with self._lock:
            done = list(self.candidates)
        failed = sum(c.status != "Completed" for c in done)
        scores = [
            c.objective_value for c in done if c.status == "Completed" and c.objective_value is not None
        ]
        best = (max if self.objective.maximize else min)(scores) if scores else None
        parts = [phase] if phase else []
        if failed:
            parts.append(f"{failed} failed")
        if best is not None:
            parts.append(f"best {self.objective.name} {best:.5g}")
        if self.automl.total_job_runtime_in_seconds is not None:
            parts.append(f"budget {self.automl.total_job_runtime_in_seconds:g} s")
        self.progress.update(len(done), ", ".join(parts), force=phase is not None)

    # -- search ------------------------------------------------------------------------------
    def _candidate_seconds(self) -> float:
        with self._lock:
            return self.budget.candidate_seconds(list(self.candidates))

    def _keep_search_model(self, cand: Candidate) -> None:
        """Keep the search-time model of the best candidate so far only (a fallback for its refit)."""
        path = cand.search_model_path
        if path is None:
            return
        kept = self._kept
        assert cand.objective_value is not None or cand.status != "Completed"
        if cand.status == "Completed" and (
            kept is None or self.objective.better(cand.objective_value, kept.objective_value)  # type: ignore[arg-type]
        ):
            if kept is not None and kept.search_model_path is not None:
                Path(kept.search_model_path).unlink(missing_ok=True)
                kept.search_model_path = None
            self._kept = cand
        else:
            Path(path).unlink(missing_ok=True)
            cand.search_model_path = None

    def _on_candidate(self, cand: Candidate, preds: np.ndarray | None) -> None:
        with self._lock:
            self.candidates.append(cand)
            self._keep_search_model(cand)
            if preds is not None:
                self.predictions[cand.name] = preds
            self._write_leaderboard()
            self._write_job()
        record = candidate_dict(cand, self.objective)
        self.recorder.record(record, cand.spec)
        self._show_progress()
        if cand.status == "Completed":
            self._log(
                f"{cand.name}: {self.objective.name}={cand.objective_value:.5g} ({cand.fit_seconds:.2f} s)"
            )
        else:
            self._log(f"{cand.name}: Failed: {cand.failure_reason}")

    def _search(self) -> None:
        o = self.automl.options
        self.secondary_status = "ModelTuning"
        kinds = set(self.feature_kinds.values())
        settings = SearchSettings(
            job_name=self.job_name,
            data_path=str(self.data_path),
            target=self.target,
            feature_kinds=self.feature_kinds,
            problem_type=self.problem_type,
            classes=self.classes,
            objective=self.objective,
            fold_ids=self.fold_ids,
            deadline=self.deadline,
            max_candidates=self.automl.max_candidates,
            max_seconds_per_candidate=self.automl.max_runtime_per_training_job_in_seconds,
            storage=o["storage"],
            study_name=o["study_name"],
            seed=o["seed"],
            n_jobs=o["n_jobs"],
            algorithms=o["algorithms"],
            has_categorical=bool(kinds & {"categorical", "high_cardinality"}),
            has_missing=bool(self.frame[list(self.feature_kinds)].isna().any().any()),
            candidate_seconds=self._candidate_seconds,
            search_model_dir=str(self.job_dir / "search_models") if self.budget.limited else None,
            cancel=self.cancel,
        )
        if o["backend"] == "ray":
            from ._ray import ray_task_runner

            settings.run_task = ray_task_runner(o["ray_address"], o["ray_candidate_cpus"], o["n_jobs"])
        if self.budget.limited:
            (self.job_dir / "search_models").mkdir(exist_ok=True)
        y = self.frame[self.target].to_numpy()
        self._log(f"{self.problem_type}, objective {self.objective.name}, {len(self.frame)} rows")
        self._show_progress("searching")
        run_search(settings, y[self.fold_ids >= 0], self._on_candidate)
        self._show_progress("ensemble, refit of the best, notebooks")

    # -- queries -----------------------------------------------------------------------------
    def best_saved(self) -> bool:
        return (self.job_dir / "best_model" / "model.joblib").exists()

    def ensure_model(self, candidate: dict[str, Any] | str) -> Path:
        name = candidate if isinstance(candidate, str) else candidate["CandidateName"]
        with self._lock:
            found = [c for c in self.candidates if c.name == name]
        if not found:
            raise AutoMLJobError(f"candidate {name!r} is not a candidate of job {self.job_name!r}")
        cand = found[0]
        if cand.status != "Completed":
            raise AutoMLJobError(
                f"candidate {name!r} is {cand.status} ({cand.failure_reason}); it has no model"
            )
        if cand.model_path is None:
            if cand.members:
                by_name = {c.name: c for c in self.candidates}
                for member in cand.members:
                    self.models.refit(by_name[member], timeout=UNLIMITED_REFIT_SECONDS)
                self.models.save_ensemble(cand, self.candidates)
            else:
                self.models.refit(cand, timeout=UNLIMITED_REFIT_SECONDS)
            with self._lock:
                self._write_leaderboard()
        return Path(str(cand.model_path))

    def candidate_dicts(self) -> list[dict[str, Any]]:
        with self._lock:
            return [candidate_dict(c, self.objective) for c in self.candidates]

    def _write_leaderboard(self) -> None:
        write_leaderboard(self.job_dir / "candidates.json", self.candidate_dicts())

    def describe(self) -> dict[str, Any]:
        a = self.automl
        with self._lock:
            best = next((c for c in self.candidates if c.name == self.best_name), None)
            failed = [c for c in self.candidates if c.status == "Failed"]
            out: dict[str, Any] = {
                "AutoMLJobName": self.job_name,
                "AutoMLJobArn": f"local:automl-job/{self.job_name}",
                "InputDataConfig": [
                    {"DataSource": {"Path": str(self.inputs)}, "TargetAttributeName": self.target}
                ],
                "OutputDataConfig": {"S3OutputPath": str(a.output_path)},
                "ProblemType": a.problem_type,
                "AutoMLJobObjective": {"MetricName": self.objective.name},
                "AutoMLJobConfig": {
                    "CompletionCriteria": {
                        "MaxCandidates": a.max_candidates,
                        "MaxRuntimePerTrainingJobInSeconds": a.max_runtime_per_training_job_in_seconds,
                        "MaxAutoMLJobRuntimeInSeconds": a.total_job_runtime_in_seconds,
                    }
                },
                "ResolvedAttributes": {
                    "AutoMLJobObjective": {"MetricName": self.objective.name},
                    "ProblemType": self.problem_type,
                },
                "CreationTime": self.created.isoformat(),
                "EndTime": None if self.end_time is None else self.end_time.isoformat(),
                "AutoMLJobStatus": self.status,
                "AutoMLJobSecondaryStatus": self.secondary_status,
                "FailureReason": self.failure_reason,
                "PartialFailureReasons": [
                    {"PartialFailureMessage": f"{c.name}: {c.failure_reason}"} for c in failed
                ],
                "BestCandidate": None if best is None else candidate_dict(best, self.objective),
                "AutoMLJobArtifacts": {
                    "CandidateDefinitionNotebookLocation": self.notebooks.get("candidates"),
                    "DataExplorationNotebookLocation": self.notebooks.get("exploration"),
                },
                "BestModelLocation": str(self.job_dir / "best_model") if self.best_saved() else None,
                "JobDirectory": str(self.job_dir),
                "StopReason": self.cancel.reason,
                "CandidateProcessIds": list(self.cancel.pids),
                "CandidateCount": len(self.candidates),
                "TrackerRecording": self.recorder.enabled and self.recorder.error is None,
                "TrackerError": self.recorder.error,
                "TimeBudget": self.budget.describe(a.total_job_runtime_in_seconds),
            }
        return out

    def _write_job(self) -> None:
        with self._lock:  # one writer of job.tmp at a time (the run and stop())
            tmp = self.job_dir / "job.tmp"
            tmp.write_text(json.dumps(self.describe(), indent=1, default=str))
            tmp.replace(self.job_dir / "job.json")
