"""Model artifacts: ``model.joblib`` (a fitted Pipeline on the raw feature columns) and ``metadata.json``.

This is the contract with :mod:`smdbg.platform.serving`: the directory holds ``model.joblib``
(loadable with joblib, predicting from a DataFrame of the raw feature columns) and
``metadata.json`` = ``{"framework": "sklearn", "feature_names": [...], "target": ...,
"problem_type": ..., "objective": ..., "classes": [...]}`` (classes for classification only).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["write_metadata", "save_ensemble", "json_value"]


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
