"""Problem types, their inference from the target column, and the objective metrics.

Names follow SageMaker Autopilot: problem types ``BinaryClassification``,
``MulticlassClassification`` and ``Regression``; objectives ``Accuracy``, ``AUC``,
``BalancedAccuracy``, ``F1``, ``F1macro``, ``MAE``, ``MSE``, ``Precision``, ``R2``, ``Recall`` and
``RMSE``. The defaults are Autopilot's: MSE for regression, F1 for binary and Accuracy for
multiclass classification.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._errors import AutoMLInputError

__all__ = [
    "BINARY",
    "MULTICLASS",
    "REGRESSION",
    "PROBLEM_TYPES",
    "Objective",
    "OBJECTIVES",
    "default_objective",
    "resolve_objective",
    "resolve_problem_type",
    "infer_problem_type",
]

BINARY = "BinaryClassification"
MULTICLASS = "MulticlassClassification"
REGRESSION = "Regression"
PROBLEM_TYPES = (BINARY, MULTICLASS, REGRESSION)

_ALIASES = {
    "binary": BINARY,
    "binaryclassification": BINARY,
    "multiclass": MULTICLASS,
    "multiclassclassification": MULTICLASS,
    "regression": REGRESSION,
}

# A numeric target with at most this many distinct integer values is read as class labels.
MAX_INTEGER_CLASSES = 20


@dataclass(frozen=True)
class Objective:
    """An objective metric: its name, direction, the problem types it applies to and how it scores.

    ``score(y_true, prediction)`` takes the labels (or values) and, for classification, the class
    probabilities ``(n, n_classes)`` in the order of ``classes``; it returns one float.
    """

    name: str
    maximize: bool
    problem_types: tuple[str, ...]
    scorer: Callable[[np.ndarray, np.ndarray, np.ndarray | None], float]

    @property
    def direction(self) -> str:
        return "maximize" if self.maximize else "minimize"

    def score(self, y_true: np.ndarray, prediction: np.ndarray, classes: np.ndarray | None = None) -> float:
        return float(self.scorer(np.asarray(y_true), np.asarray(prediction), classes))

    def better(self, a: float, b: float) -> bool:
        """True when score ``a`` is strictly better than ``b``."""
        return a > b if self.maximize else a < b


def _labels(proba: np.ndarray, classes: np.ndarray | None) -> np.ndarray:
    assert classes is not None
    return np.asarray(classes)[np.argmax(proba, axis=1)]


def _positive(classes: np.ndarray | None) -> Any:
    assert classes is not None and len(classes) == 2
    return classes[1]


def _accuracy(y: np.ndarray, p: np.ndarray, c: np.ndarray | None) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(y, _labels(p, c)))


def _balanced_accuracy(y: np.ndarray, p: np.ndarray, c: np.ndarray | None) -> float:
    from sklearn.metrics import balanced_accuracy_score

    return float(balanced_accuracy_score(y, _labels(p, c)))


def _f1(y: np.ndarray, p: np.ndarray, c: np.ndarray | None) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y, _labels(p, c), pos_label=_positive(c), zero_division=0.0))


def _f1_macro(y: np.ndarray, p: np.ndarray, c: np.ndarray | None) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y, _labels(p, c), average="macro", zero_division=0.0))


def _precision(y: np.ndarray, p: np.ndarray, c: np.ndarray | None) -> float:
    from sklearn.metrics import precision_score

    return float(precision_score(y, _labels(p, c), pos_label=_positive(c), zero_division=0.0))


def _recall(y: np.ndarray, p: np.ndarray, c: np.ndarray | None) -> float:
    from sklearn.metrics import recall_score

    return float(recall_score(y, _labels(p, c), pos_label=_positive(c), zero_division=0.0))


def _auc(y: np.ndarray, p: np.ndarray, c: np.ndarray | None) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y == _positive(c), p[:, 1]))


def _mse(y: np.ndarray, p: np.ndarray, c: np.ndarray | None) -> float:
    return float(np.mean((y.astype(float) - p.astype(float)) ** 2))


def _rmse(y: np.ndarray, p: np.ndarray, c: np.ndarray | None) -> float:
    return float(np.sqrt(_mse(y, p, c)))


def _mae(y: np.ndarray, p: np.ndarray, c: np.ndarray | None) -> float:
    return float(np.mean(np.abs(y.astype(float) - p.astype(float))))


def _r2(y: np.ndarray, p: np.ndarray, c: np.ndarray | None) -> float:
    from sklearn.metrics import r2_score

    return float(r2_score(y.astype(float), p.astype(float)))


_CLS = (BINARY, MULTICLASS)
OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in (
        Objective("Accuracy", True, _CLS, _accuracy),
        Objective("BalancedAccuracy", True, _CLS, _balanced_accuracy),
        Objective("F1", True, (BINARY,), _f1),
        Objective("F1macro", True, _CLS, _f1_macro),
        Objective("Precision", True, (BINARY,), _precision),
        Objective("Recall", True, (BINARY,), _recall),
        Objective("AUC", True, (BINARY,), _auc),
        Objective("MSE", False, (REGRESSION,), _mse),
        Objective("RMSE", False, (REGRESSION,), _rmse),
        Objective("MAE", False, (REGRESSION,), _mae),
        Objective("R2", True, (REGRESSION,), _r2),
    )
}
_DEFAULTS = {REGRESSION: "MSE", BINARY: "F1", MULTICLASS: "Accuracy"}


def default_objective(problem_type: str) -> Objective:
    return OBJECTIVES[_DEFAULTS[problem_type]]


def resolve_problem_type(problem_type: str) -> str:
    """Map a SageMaker name or a short alias (``binary``, ``multiclass``, ``regression``) to the canonical name."""
    key = str(problem_type).replace("_", "").replace("-", "").lower()
    if key not in _ALIASES:
        raise AutoMLInputError(
            f"problem_type {problem_type!r} is not known; expected one of {', '.join(PROBLEM_TYPES)} "
            "(or binary, multiclass, regression); pass one of those or None to infer it from the target"
        )
    return _ALIASES[key]


def resolve_objective(job_objective: str | dict[str, str] | None, problem_type: str) -> Objective:
    """The objective for ``job_objective`` (a name or ``{"MetricName": name}``), checked against the problem type."""
    if job_objective is None:
        return default_objective(problem_type)
    name = job_objective.get("MetricName") if isinstance(job_objective, dict) else job_objective
    by_lower = {k.lower(): v for k, v in OBJECTIVES.items()}
    objective = by_lower.get(str(name).lower())
    if objective is None:
        raise AutoMLInputError(
            f"job_objective {name!r} is not a known objective metric; expected one of "
            f"{', '.join(sorted(OBJECTIVES))}; pass one of those, or None for the default of the problem type"
        )
    if problem_type not in objective.problem_types:
        allowed = [k for k, v in OBJECTIVES.items() if problem_type in v.problem_types]
        raise AutoMLInputError(
            f"job_objective {objective.name!r} does not apply to {problem_type}; "
            f"for {problem_type} use one of {', '.join(allowed)}"
        )
    return objective


def infer_problem_type(target: pd.Series) -> str:
    """Binary, multiclass or regression from the target's values.

    Non-numeric targets are classes; a numeric target is classes when it has two values, or when
    its values are integers and there are at most ``MAX_INTEGER_CLASSES`` of them; else regression.
    """
    values = target.dropna()
    n_unique = int(values.nunique())
    if n_unique <= 2:
        return BINARY
    if not (pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)):
        return MULTICLASS
    numeric = values.to_numpy(dtype=float)
    if (
        n_unique <= MAX_INTEGER_CLASSES
        and np.all(np.isfinite(numeric))
        and np.all(numeric == np.round(numeric))
    ):
        return MULTICLASS
    return REGRESSION


def check_target(target: pd.Series, problem_type: str) -> None:
    """Raise :class:`AutoMLInputError` when the target cannot be learned for ``problem_type``."""
    name = target.name
    values = target.dropna()
    if len(values) == 0:
        raise AutoMLInputError(
            f"target column {name!r} has no values (all {len(target)} rows are missing); "
            "expected a column with labels or values; fill the target column"
        )
    n_unique = int(values.nunique())
    if problem_type == REGRESSION:
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            sample = ", ".join(repr(v) for v in values.unique()[:3])
            raise AutoMLInputError(
                f"target column {name!r} is not numeric (dtype {values.dtype}, values such as {sample}) "
                "but the problem type is Regression, which needs numeric targets; convert the column "
                "to numbers or use a classification problem type"
            )
        return
    if n_unique < 2:
        raise AutoMLInputError(
            f"target column {name!r} has one class only ({values.iloc[0]!r}); classification needs at "
            "least two classes; check the target column or the rows selected"
        )
    if problem_type == BINARY and n_unique != 2:
        raise AutoMLInputError(
            f"target column {name!r} has {n_unique} classes but the problem type is BinaryClassification, "
            "which needs exactly 2; use MulticlassClassification or problem_type=None"
        )
