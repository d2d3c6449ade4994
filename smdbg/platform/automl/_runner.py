"""One AutoML job's run: search, ensemble, refit of the winners, artifacts and its records."""

from __future__ import annotations

import json
import shutil
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._artifacts import save_ensemble, write_metadata
from ._ensemble import select_ensemble
from ._errors import AutoMLError, AutoMLJobError
from ._problem import Objective
from ._records import candidate_dict, write_leaderboard
from ._search import Candidate, SearchSettings, run_search
from ._tracking import CandidateRecorder
from ._worker import CandidateFailure, TrainTask, run_task

if TYPE_CHECKING:
    from ._job import AutoML

__all__ = ["JobRunner"]

ENSEMBLE_POOL = 10  # best candidates the ensemble selection chooses from
REFIT_GRACE = 60.0  # seconds a refit may run past the job's deadline


class JobRunner:
    """State of one job; methods are safe to call from the caller's thread while it runs."""

    def __init__(
        self,
        automl: AutoML,
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
        self.fold_ids, self.analysis, self.created, self.deadline, self.logs = (
            fold_ids,
            analysis,
            created,
            deadline,
            logs,
        )
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
        o = automl.options
        self.recorder = CandidateRecorder(o["tracker_db_url"], o["experiment_name"] or job_name, job_name)

    @property
    def data_path(self) -> Path:
        return self.job_dir / "data" / "input.pkl"

    # -- lifecycle ---------------------------------------------------------------------------
    def prepare(self) -> None:
        (self.job_dir / "data").mkdir(parents=True, exist_ok=True)
        self.frame.to_pickle(self.data_path)
        (self.job_dir / "analysis.json").write_text(json.dumps(self.analysis, indent=1, default=str))
        self._write_job()

    def run(self) -> None:
        try:
            self._search()
            self._finish()
            with self._lock:
                self.status = "Completed"
                self.secondary_status = "Completed"
        except BaseException as e:
            with self._lock:
                self.status, self.secondary_status = "Failed", "Failed"
                self.failure_reason = self.failure_reason or f"{type(e).__name__}: {e}"
                self._error = e
        finally:
            self.end_time = datetime.now(timezone.utc)
            self._write_job()

    def raise_if_failed(self) -> None:
        if self._error is not None:
            if isinstance(self._error, AutoMLError):
                raise self._error
            raise AutoMLJobError(
                f"AutoML job {self.job_name!r} failed: {self.failure_reason}"
            ) from self._error

    def _log(self, message: str) -> None:
        if self.logs:
            print(f"[{self.job_name}] {message}", file=sys.stdout, flush=True)

    # -- search ------------------------------------------------------------------------------
    def _reserve(self) -> float:
        with self._lock:
            done = [c for c in self.candidates if c.status == "Completed" and c.n_fits]
        done.sort(key=lambda c: c.objective_value or 0.0, reverse=self.objective.maximize)
        return sum(1.3 * c.fit_seconds / c.n_fits for c in done[:3])

    def _on_candidate(self, cand: Candidate, preds: np.ndarray | None) -> None:
        with self._lock:
            self.candidates.append(cand)
            if preds is not None:
                self.predictions[cand.name] = preds
            self._write_leaderboard()
        record = candidate_dict(cand, self.objective)
        self.recorder.record(record, cand.spec)
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
            reserve=self._reserve,
        )
        y = self.frame[self.target].to_numpy()
        self._log(f"{self.problem_type}, objective {self.objective.name}, {len(self.frame)} rows")
        run_search(settings, y[self.fold_ids >= 0], self._on_candidate)

    # -- winners -----------------------------------------------------------------------------
    def _finish(self) -> None:
        with self._lock:
            done = [c for c in self.candidates if c.status == "Completed"]
        if not done:
            reasons = sorted({c.failure_reason or "" for c in self.candidates})[:3]
            self.failure_reason = (
                f"no candidate completed ({len(self.candidates)} failed: {'; '.join(reasons)})"
            )
            raise AutoMLJobError(f"AutoML job {self.job_name!r} failed: {self.failure_reason}")
        done.sort(key=lambda c: c.objective_value or 0.0, reverse=self.objective.maximize)
        best = done[0]
        winner = best
        if self.automl.options["ensemble"] and len(done) > 1:
            ens = self._ensemble(done[:ENSEMBLE_POOL], best)
            winner = ens or best
        try:
            self._refit_winner(winner)
        except CandidateFailure as e:
            if winner is best:
                raise AutoMLJobError(f"refitting the best candidate {best.name!r} failed: {e.reason}") from e
            self._log(f"ensemble dropped, a member's refit failed: {e.reason}")
            with self._lock:
                winner.status, winner.failure_reason = "Failed", f"refit of a member failed: {e.reason}"
            winner = best
            self._refit_winner(best)
        self.best_name = winner.name
        best_dir = self.job_dir / "best_model"
        if best_dir.exists():
            shutil.rmtree(best_dir)
        assert winner.model_path is not None
        shutil.copytree(winner.model_path, best_dir)
        with self._lock:
            self._write_leaderboard()
        if self.automl.options["generate_notebooks"]:
            from ._notebooks import write_notebooks

            self.notebooks = write_notebooks(self)

    def _ensemble(self, pool: list[Candidate], best: Candidate) -> Candidate | None:
        y = self.frame[self.target].to_numpy()[self.fold_ids >= 0]
        preds = {c.name: self.predictions[c.name] for c in pool}
        classes = None if self.classes is None else np.asarray(self.classes)
        weights, score = select_ensemble(preds, y, self.objective, classes)
        assert best.objective_value is not None
        if len(weights) < 2 or not self.objective.better(score, best.objective_value):
            self._log(f"ensemble not better than {best.name} ({score:.5g}); keeping the single best")
            return None
        now = datetime.now(timezone.utc)
        members = {c.name: weights[c.name] for c in pool if c.name in weights}
        ens = Candidate(
            name=f"{self.job_name}-ensemble",
            number=-1,
            spec={"algorithm": "weighted_ensemble", "members": members},
            status="Completed",
            objective_value=score,
            creation_time=now,
            end_time=now,
            fit_seconds=sum(c.fit_seconds for c in pool if c.name in members),
            members=members,
        )
        self._on_candidate(ens, None)
        return ens

    def _refit_winner(self, winner: Candidate) -> None:
        if winner.members is None:
            self._refit(winner)
            return
        by_name = {c.name: c for c in self.candidates}
        member_dirs = []
        for name in winner.members:
            self._refit(by_name[name])
            member_dirs.append(str(by_name[name].model_path))
        model_dir = self.job_dir / "candidates" / winner.name
        save_ensemble(model_dir, member_dirs, list(winner.members.values()), self.classes)
        self._metadata(model_dir, winner.name)
        winner.model_path = str(model_dir)

    def _refit(self, cand: Candidate, timeout: float | None = None) -> None:
        """Train ``cand`` on every row (in a child process) and save its artifact folder."""
        if cand.model_path is not None:
            return
        model_dir = self.job_dir / "candidates" / cand.name
        model_dir.mkdir(parents=True, exist_ok=True)
        if timeout is None:
            timeout = max(self.deadline - time.monotonic(), 0.0) + REFIT_GRACE
            timeout = min(timeout, 3600.0)
        task = TrainTask(
            str(self.data_path),
            self.target,
            cand.spec,
            self.feature_kinds,
            self.problem_type,
            self.classes,
            None,
            str(model_dir / "model.joblib"),
            self.automl.options["seed"],
        )
        run_task(task, timeout)
        self._metadata(model_dir, cand.name)
        cand.model_path = str(model_dir)

    def _metadata(self, model_dir: Path, name: str) -> None:
        write_metadata(
            model_dir,
            self.feature_names,
            self.target,
            self.problem_type,
            self.objective.name,
            self.classes,
            name,
        )

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
            self._refit_winner(cand) if cand.members else self._refit(cand, timeout=3600.0)
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
                "BestModelLocation": str(self.job_dir / "best_model") if best is not None else None,
                "JobDirectory": str(self.job_dir),
                "CandidateCount": len(self.candidates),
                "TrackerRecording": self.recorder.enabled and self.recorder.error is None,
                "TrackerError": self.recorder.error,
            }
        return out

    def _write_job(self) -> None:
        tmp = self.job_dir / "job.tmp"
        tmp.write_text(json.dumps(self.describe(), indent=1, default=str))
        tmp.replace(self.job_dir / "job.json")
