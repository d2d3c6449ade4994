"""Pure functions building the JSON payloads of tables and classifier charts (no I/O)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from smdbg.tracker._errors import InvalidValueError

__all__ = ["table", "confusion_matrix", "roc_curve", "precision_recall"]


def table(title: str, values: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    lengths = {k: len(v) for k, v in values.items()}
    if len(set(lengths.values())) > 1:
        raise InvalidValueError(
            f"table {title!r} has columns of different lengths {lengths}; expected equal lengths"
        )
    cols = {k: [x.item() if isinstance(x, np.generic) else x for x in v] for k, v in values.items()}
    return {"type": "Table", "version": 0, "title": title, "fields": list(cols), "data": cols}


def _pair(y_true: Sequence[Any], other: Sequence[Any], what: str) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(y_true), np.asarray(other)
    if a.ndim != 1 or a.shape != b.shape or len(a) == 0:
        raise InvalidValueError(
            f"y_true has shape {a.shape} and {what} has shape {b.shape}; expected two non-empty 1-D sequences of equal length"
        )
    return a, b


def confusion_matrix(title: str, y_true: Sequence[Any], y_pred: Sequence[Any]) -> dict[str, Any]:
    a, b = _pair(y_true, y_pred, "y_pred")
    labels = np.unique(np.concatenate([a, b]))
    index = {v: i for i, v in enumerate(labels.tolist())}
    m = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(m, ([index[v] for v in a.tolist()], [index[v] for v in b.tolist()]), 1)
    return {
        "type": "ConfusionMatrix",
        "version": 0,
        "title": title,
        "labels": labels.tolist(),
        "matrix": m.tolist(),
    }


def _binary_counts(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative true and false positives at each distinct score threshold, highest first."""
    order = np.argsort(-score, kind="mergesort")
    s, y = score[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp = np.cumsum(y)[last]
    return tp, (last + 1) - tp, s[last]


def _labels(y_true: np.ndarray, positive_label: Any) -> np.ndarray:
    if positive_label is None:
        uniq = set(np.unique(y_true).tolist())
        if not uniq <= {0, 1}:
            raise InvalidValueError(
                f"y_true has labels {sorted(uniq)}; pass positive_label= or use 0/1 labels"
            )
        positive_label = 1
    return (y_true == positive_label).astype(np.int64)


def roc_curve(
    title: str, y_true: Sequence[Any], y_score: Sequence[float], positive_label: Any = None
) -> dict[str, Any]:
    a, s = _pair(y_true, y_score, "y_score")
    y = _labels(a, positive_label)
    tp, fp, thr = _binary_counts(y, s.astype(np.float64))
    tpr = np.r_[0.0, tp / max(tp[-1], 1)]
    fpr = np.r_[0.0, fp / max(fp[-1], 1)]
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    return {
        "type": "ROCCurve",
        "version": 0,
        "title": title,
        "fpr": fpr.tolist(),
        "tpr": tpr.tolist(),
        "thresholds": np.r_[np.inf, thr].tolist(),
        "areaUnderCurve": auc,
    }


def precision_recall(
    title: str,
    y_true: Sequence[Any],
    probabilities: Sequence[float],
    positive_label: Any = None,
    no_skill: float | None = None,
) -> dict[str, Any]:
    a, s = _pair(y_true, probabilities, "predicted_probabilities")
    y = _labels(a, positive_label)
    tp, fp, thr = _binary_counts(y, s.astype(np.float64))
    precision = tp / (tp + fp)
    recall = tp / max(tp[-1], 1)
    ap = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return {
        "type": "PrecisionRecallCurve",
        "version": 0,
        "title": title,
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "thresholds": thr.tolist(),
        "averagePrecisionScore": ap,
        "noSkill": float(y.mean()) if no_skill is None else float(no_skill),
    }
