"""SageMaker-shaped records: ListCandidatesForAutoMLJob candidates and the leaderboard file."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ._problem import Objective
from ._search import Candidate

__all__ = ["candidate_dict", "sort_candidates", "write_leaderboard", "SORT_KEYS"]

SORT_KEYS = ("FinalObjectiveMetricValue", "CreationTime", "Name")


def _time(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def candidate_dict(c: Candidate, objective: Objective) -> dict[str, Any]:
    spec = c.spec
    if c.members is not None:
        steps = [
            {"CandidateStepType": "Ensemble", "CandidateStepName": f"{c.name}-ensemble", "Members": c.members}
        ]
        algorithm = "weighted_ensemble"
    else:
        steps = [
            {
                "CandidateStepType": "Preprocessing",
                "CandidateStepName": f"{c.name}-features",
                "Parameters": dict(spec.get("features", {})),
            },
            {
                "CandidateStepType": "Training",
                "CandidateStepName": f"{c.name}-training",
                "Algorithm": spec["algorithm"],
                "Parameters": dict(spec.get("params", {})),
            },
        ]
        algorithm = spec["algorithm"]
    value = c.objective_value
    return {
        "CandidateName": c.name,
        "FinalAutoMLJobObjectiveMetric": {
            "MetricName": objective.name,
            "Value": value,
            "Type": "Maximize" if objective.maximize else "Minimize",
        },
        "ObjectiveStatus": {"Completed": "Succeeded", "Failed": "Failed"}.get(c.status, "Pending"),
        "CandidateSteps": steps,
        "CandidateStatus": c.status,
        "InferenceContainers": [
            {"Framework": "sklearn", "Algorithm": algorithm, "ModelDataUrl": c.model_path, "Environment": {}}
        ],
        "CreationTime": _time(c.creation_time),
        "EndTime": _time(c.end_time),
        "LastModifiedTime": _time(c.end_time or c.creation_time),
        "FailureReason": c.failure_reason,
        "CandidateProperties": {"FitSeconds": c.fit_seconds, "TrialNumber": c.number, "Spec": spec},
    }


def sort_candidates(
    items: list[dict[str, Any]], sort_by: str, sort_order: str | None, maximize: bool
) -> list[dict[str, Any]]:
    """Sort a list of candidate dicts; candidates without a metric value always go last."""
    if sort_by not in SORT_KEYS:
        raise ValueError(f"sort_by={sort_by!r} is not supported; expected one of {', '.join(SORT_KEYS)}")
    if sort_order not in (None, "Ascending", "Descending"):
        raise ValueError(
            f"sort_order={sort_order!r} is not supported; expected 'Ascending', 'Descending' or None"
        )
    if sort_by == "FinalObjectiveMetricValue":
        descending = maximize if sort_order is None else sort_order == "Descending"
        scored = [c for c in items if _finite(c["FinalAutoMLJobObjectiveMetric"]["Value"])]
        rest = [c for c in items if not _finite(c["FinalAutoMLJobObjectiveMetric"]["Value"])]
        scored.sort(key=lambda c: c["FinalAutoMLJobObjectiveMetric"]["Value"], reverse=descending)
        return scored + rest
    key = "CreationTime" if sort_by == "CreationTime" else "CandidateName"
    return sorted(items, key=lambda c: c[key] or "", reverse=sort_order == "Descending")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def write_leaderboard(path: Path, items: list[dict[str, Any]]) -> None:
    """Write the candidates as JSON (atomically: a temporary file renamed over the old one)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(items, indent=1, default=str))
    tmp.replace(path)
