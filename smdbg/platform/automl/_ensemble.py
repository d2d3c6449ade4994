"""Ensembles of the best candidates: greedy ensemble selection and a weighted-average estimator.

Selection follows Caruana et al. (2004): start empty, repeatedly add (with replacement) the
candidate whose addition gives the best objective on the validation predictions; the weights are
how often each candidate was picked. It only needs the candidates' validation predictions (no
training), so it runs in the parent process in milliseconds.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from ._problem import Objective

__all__ = ["select_ensemble", "AveragingEnsemble"]


def select_ensemble(
    predictions: dict[str, np.ndarray],
    y_true: np.ndarray,
    objective: Objective,
    classes: np.ndarray | None,
    rounds: int = 25,
) -> tuple[dict[str, float], float]:
    """Weights (summing to 1) per candidate name and the ensemble's score on ``y_true``."""
    names = list(predictions)
    if not names:
        raise ValueError("no candidate predictions to ensemble")
    total = np.zeros_like(predictions[names[0]], dtype=float)
    picked: list[str] = []
    best_score = float("nan")
    best_len = 0
    for _ in range(rounds):
        round_best: tuple[float, str] | None = None
        for name in names:
            trial = (total + predictions[name]) / (len(picked) + 1)
            score = objective.score(y_true, trial, classes)
            if round_best is None or objective.better(score, round_best[0]):
                round_best = (score, name)
        assert round_best is not None
        score, name = round_best
        picked.append(name)
        total += predictions[name]
        if len(picked) == 1 or objective.better(score, best_score) or score == best_score:
            best_score = score
            best_len = len(picked)
    counts = Counter(picked[:best_len])
    weights = {n: c / best_len for n, c in counts.items()}
    return weights, best_score


class AveragingEnsemble(BaseEstimator):
    """A fitted weighted average of fitted pipelines (probabilities, or regression values).

    Follows scikit-learn's estimator interface for prediction: ``predict`` and, for
    classification, ``predict_proba`` and ``classes_``.
    """

    def __init__(self, members: list[Any], weights: list[float], classes: list[Any] | None = None) -> None:
        if len(members) != len(weights) or not members:
            raise ValueError("an ensemble needs one weight per member and at least one member")
        self.members = members
        self.weights = [float(w) / float(sum(weights)) for w in weights]
        self.classes = classes
        self.classes_ = None if classes is None else np.asarray(classes)

    def fit(self, x: Any, y: Any = None) -> AveragingEnsemble:
        """Members are fitted already; refit each on ``x, y``."""
        for member in self.members:
            member.fit(x, y)
        return self

    def predict_proba(self, x: Any) -> np.ndarray:
        if self.classes_ is None:
            raise AttributeError("predict_proba is for classification ensembles")
        out = np.zeros((len(x), len(self.classes_)))
        index = {c: i for i, c in enumerate(self.classes_.tolist())}
        for member, weight in zip(self.members, self.weights):
            proba = member.predict_proba(x)
            for j, c in enumerate(member.classes_.tolist()):
                out[:, index[c]] += weight * proba[:, j]
        return out

    def predict(self, x: Any) -> np.ndarray:
        if self.classes_ is not None:
            return self.classes_[np.argmax(self.predict_proba(x), axis=1)]
        return np.sum(
            [w * np.asarray(m.predict(x), dtype=float) for m, w in zip(self.members, self.weights)], axis=0
        )
