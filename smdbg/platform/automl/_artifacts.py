"""Model artifacts: ``model.joblib`` (a fitted Pipeline on the raw feature columns) and ``metadata.json``.

This is the contract with :mod:`smdbg.platform.serving`: the directory holds ``model.joblib``
(loadable with joblib, predicting from a DataFrame of the raw feature columns) and
``metadata.json`` = ``{"framework": "sklearn", "feature_names": [...], "target": ...,
"problem_type": ..., "objective": ..., "classes": [...]}`` (classes for classification only).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._cancel import CancelScope
from ._forkhost import run_task
from ._search import Candidate
from ._worker import TrainTask

__all__ = ["write_metadata", "save_ensemble", "json_value", "link_tree", "CandidateModels"]


def json_value(v: Any) -> Any:
    """A numpy scalar as the matching Python value (JSON cannot hold numpy types)."""
    return v.item() if hasattr(v, "item") else v


def write_metadata(
    model_dir: Path,
    feature_names: list[str],
    target: str,
    problem_type: str,
    objective: str,
    classes: list[Any] | None,
    candidate_name: str,
) -> None:
    meta: dict[str, Any] = {
        "framework": "sklearn",
        "feature_names": list(feature_names),
        "target": target,
        "problem_type": problem_type,
        "objective": objective,
        "candidate_name": candidate_name,
    }
    if classes is not None:
        meta["classes"] = [json_value(c) for c in classes]
    (model_dir / "metadata.json").write_text(json.dumps(meta, indent=1))


def save_ensemble(
    model_dir: Path, member_paths: list[str], weights: list[float], classes: list[Any] | None
) -> None:
    """Combine saved member pipelines into one Pipeline and save it as ``model.joblib``."""
    import joblib
    from sklearn.pipeline import Pipeline

    from ._ensemble import AveragingEnsemble

    members = [joblib.load(Path(p) / "model.joblib") for p in member_paths]
    model = Pipeline([("ensemble", AveragingEnsemble(members, weights, classes))])
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, model_dir / "model.joblib")


def link_tree(source: Path, target: Path) -> None:
    """``target`` as a copy of ``source`` made of hard links (a plain copy where links fail)."""
    if target.exists():
        shutil.rmtree(target)

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link)


class CandidateModels:
    """Builds and saves candidates' models under ``<job_dir>/candidates/<name>/``.

    Each method sets ``model_path`` on the candidate it saved; a candidate that has one is
    not built again. Training happens in a child of the fork host, never in this process.
    """

    def __init__(
        self,
        job_dir: Path,
        data_path: Path,
        target: str,
        feature_names: list[str],
        feature_kinds: dict[str, str],
        problem_type: str,
        objective: str,
        classes: list[Any] | None,
        seed: int,
    ) -> None:
        self.job_dir, self.data_path, self.target = job_dir, data_path, target
        self.feature_names, self.feature_kinds = feature_names, feature_kinds
        self.problem_type, self.objective, self.classes, self.seed = problem_type, objective, classes, seed

    def _dir(self, name: str) -> Path:
        return self.job_dir / "candidates" / name

    def refit(self, cand: Candidate, timeout: float, cancel: CancelScope | None = None) -> None:
        """Train ``cand`` on every row (stopped after ``timeout`` s or by ``cancel``: CandidateFailure)
        and save it."""
        if cand.model_path is not None:
            return
        model_dir = self._dir(cand.name)
        model_dir.mkdir(parents=True, exist_ok=True)
        task = TrainTask(
            str(self.data_path),
            self.target,
            cand.spec,
            self.feature_kinds,
            self.problem_type,
            self.classes,
            None,
            str(model_dir / "model.joblib"),
            self.seed,
        )
        run_task(task, timeout, cancel)
        self.write_metadata(model_dir, cand.name)
        cand.model_path = str(model_dir)

    def save_ensemble(self, ens: Candidate, candidates: Sequence[Candidate]) -> None:
        """Save ``ens`` from its members' saved models (each must be refit already)."""
        assert ens.members is not None
        by_name = {c.name: c for c in candidates}
        model_dir = self._dir(ens.name)
        member_dirs = [str(by_name[n].model_path) for n in ens.members]
        save_ensemble(model_dir, member_dirs, list(ens.members.values()), self.classes)
        self.write_metadata(model_dir, ens.name)
        ens.model_path = str(model_dir)

    def adopt_search_model(self, cand: Candidate) -> None:
        """Save the model ``cand`` fitted during the search (last fold's training part) as its model."""
        assert cand.search_model_path is not None
        model_dir = self._dir(cand.name)
        model_dir.mkdir(parents=True, exist_ok=True)
        os.replace(cand.search_model_path, model_dir / "model.joblib")
        self.write_metadata(model_dir, cand.name)
        cand.model_path, cand.search_model_path = str(model_dir), None

    def write_metadata(self, model_dir: Path, name: str) -> None:
        write_metadata(
            model_dir, self.feature_names, self.target, self.problem_type, self.objective, self.classes, name
        )
