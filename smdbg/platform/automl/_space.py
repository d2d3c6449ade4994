"""Candidate algorithms, their hyperparameter ranges, and pipelines built from a candidate spec.

A *spec* is a JSON-serialisable dict ``{"algorithm": name, "params": {...}, "features": {...}}``:
``params`` go to the estimator, ``features`` to :func:`build_preprocessor`. Ranges are data
(:data:`SEARCH_SPACES`), so the candidate notebook can print them and an Optuna trial can sample them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._features import DEFAULT_FEATURE_PARAMS, build_preprocessor
from ._problem import REGRESSION

__all__ = [
    "ALGORITHMS",
    "SEARCH_SPACES",
    "Range",
    "DEFAULT_SPECS",
    "build_pipeline",
    "suggest_spec",
    "spec_to_trial_params",
]

ALGORITHMS = ("hist_gradient_boosting", "random_forest", "extra_trees", "linear", "mlp")
# Linear models and MLPs need scaled inputs; trees do not care.
_SCALED = {"linear", "mlp"}


@dataclass(frozen=True)
class Range:
    """One hyperparameter's range: ints or floats in ``[low, high]`` (log scale if ``log``), or ``choices``."""

    kind: str  # "int", "float" or "categorical"
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    choices: tuple[Any, ...] = ()

    def describe(self) -> str:
        if self.kind == "categorical":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        scale = " (log scale)" if self.log else ""
        return f"{self.kind} in [{self.low:g}, {self.high:g}]{scale}"


SEARCH_SPACES: dict[str, dict[str, Range]] = {
    "hist_gradient_boosting": {
        "learning_rate": Range("float", 0.01, 0.3, log=True),
        "max_iter": Range("int", 50, 1000, log=True),
        "max_leaf_nodes": Range("int", 8, 128, log=True),
        "min_samples_leaf": Range("int", 2, 100, log=True),
        "l2_regularization": Range("float", 1e-6, 10.0, log=True),
        "max_features": Range("float", 0.3, 1.0),
    },
    "random_forest": {
        "n_estimators": Range("int", 100, 500, log=True),
        "max_features": Range("float", 0.1, 1.0),
        "min_samples_leaf": Range("int", 1, 10, log=True),
    },
    "extra_trees": {
        "n_estimators": Range("int", 100, 500, log=True),
        "max_features": Range("float", 0.1, 1.0),
        "min_samples_leaf": Range("int", 1, 10, log=True),
    },
    "linear": {"C_or_alpha": Range("float", 1e-3, 1e3, log=True)},
    "mlp": {
        "width": Range("int", 16, 256, log=True),
        "depth": Range("int", 1, 3),
        "alpha": Range("float", 1e-6, 1e-1, log=True),
        "learning_rate_init": Range("float", 1e-4, 1e-2, log=True),
    },
}

FEATURE_SPACE: dict[str, Range] = {
    "numeric_impute": Range("categorical", choices=("median", "mean")),
    "missing_indicator": Range("categorical", choices=(False, True)),
    "categorical_encoding": Range("categorical", choices=("onehot", "target")),
}

# Well-known starting points, tried first (scikit-learn's defaults where they are sensible).
_HGB_DEFAULTS = {
    "learning_rate": 0.1,
    "max_iter": 100,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 20,
    "l2_regularization": 1e-6,
    "max_features": 1.0,
}
_BASE_FEATURES = {"numeric_impute": "median", "missing_indicator": False, "categorical_encoding": "onehot"}

# Well-known starting points, tried first (scikit-learn's defaults where they are sensible).
DEFAULT_SPECS: list[dict[str, Any]] = [
    {"algorithm": "hist_gradient_boosting", "params": _HGB_DEFAULTS},
    {
        "algorithm": "random_forest",
        "params": {"n_estimators": 300, "max_features": 0.5, "min_samples_leaf": 1},
    },
    {"algorithm": "linear", "params": {"C_or_alpha": 1.0}},
    {"algorithm": "extra_trees", "params": {"n_estimators": 300, "max_features": 0.7, "min_samples_leaf": 1}},
    {
        "algorithm": "hist_gradient_boosting",
        "params": {**_HGB_DEFAULTS, "learning_rate": 0.05, "max_iter": 300, "max_leaf_nodes": 15},
    },
    {
        "algorithm": "mlp",
        "params": {"width": 64, "depth": 1, "alpha": 1e-4, "learning_rate_init": 1e-3},
    },
]
for _spec in DEFAULT_SPECS:
    _spec["features"] = dict(_BASE_FEATURES)


def _estimator(algorithm: str, params: dict[str, Any], problem_type: str, random_state: int) -> Any:
    from sklearn import ensemble, linear_model, neural_network

    classify = problem_type != REGRESSION
    p = dict(params)
    if algorithm == "hist_gradient_boosting":
        cls = ensemble.HistGradientBoostingClassifier if classify else ensemble.HistGradientBoostingRegressor
        return cls(random_state=random_state, **p)
    if algorithm in ("random_forest", "extra_trees"):
        kind = "RandomForest" if algorithm == "random_forest" else "ExtraTrees"
        cls = getattr(ensemble, kind + ("Classifier" if classify else "Regressor"))
        return cls(random_state=random_state, n_jobs=1, **p)
    if algorithm == "linear":
        c_or_alpha = float(p.pop("C_or_alpha", 1.0))
        if classify:
            return linear_model.LogisticRegression(C=c_or_alpha, max_iter=2000)
        return linear_model.Ridge(alpha=c_or_alpha)
    if algorithm == "mlp":
        width, depth = int(p.pop("width", 100)), int(p.pop("depth", 1))
        cls = neural_network.MLPClassifier if classify else neural_network.MLPRegressor
        return cls(
            hidden_layer_sizes=(width,) * depth,
            early_stopping=True,
            max_iter=300,
            random_state=random_state,
            **p,
        )
    raise ValueError(f"algorithm {algorithm!r} is not known; expected one of {', '.join(ALGORITHMS)}")


def build_pipeline(
    spec: dict[str, Any], feature_kinds: dict[str, str], problem_type: str, random_state: int = 0
) -> Any:
    """The unfitted scikit-learn Pipeline (preprocessing, then the estimator) for a candidate spec."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    algorithm = spec["algorithm"]
    features = {**DEFAULT_FEATURE_PARAMS, **spec.get("features", {})}
    features["scale"] = algorithm in _SCALED
    estimator = _estimator(algorithm, spec.get("params", {}), problem_type, random_state)
    if problem_type == REGRESSION and algorithm == "mlp":
        estimator = TransformedTargetRegressor(regressor=estimator, transformer=StandardScaler())
    return Pipeline([("features", build_preprocessor(feature_kinds, features)), ("model", estimator)])


def _suggest(trial: Any, name: str, r: Range) -> Any:
    if r.kind == "categorical":
        return trial.suggest_categorical(name, list(r.choices))
    if r.kind == "int":
        return trial.suggest_int(name, int(r.low), int(r.high), log=r.log)
    return trial.suggest_float(name, r.low, r.high, log=r.log)


def suggest_spec(
    trial: Any, algorithms: tuple[str, ...], has_categorical: bool, has_missing: bool
) -> dict[str, Any]:
    """Sample a spec from an Optuna trial; parameter names are ``<algorithm>__<param>``."""
    algorithm = trial.suggest_categorical("algorithm", list(algorithms))
    params = {k: _suggest(trial, f"{algorithm}__{k}", r) for k, r in SEARCH_SPACES[algorithm].items()}
    features: dict[str, Any] = {
        "numeric_impute": _suggest(trial, "numeric_impute", FEATURE_SPACE["numeric_impute"])
    }
    if has_missing:
        features["missing_indicator"] = _suggest(
            trial, "missing_indicator", FEATURE_SPACE["missing_indicator"]
        )
    if has_categorical:
        features["categorical_encoding"] = _suggest(
            trial, "categorical_encoding", FEATURE_SPACE["categorical_encoding"]
        )
    return {"algorithm": algorithm, "params": params, "features": features}


def spec_to_trial_params(spec: dict[str, Any]) -> dict[str, Any]:
    """Optuna parameter names and values for a (partial) spec, for ``study.enqueue_trial``."""
    algorithm = spec["algorithm"]
    out: dict[str, Any] = {"algorithm": algorithm}
    out.update({f"{algorithm}__{k}": v for k, v in spec.get("params", {}).items()})
    out.update(spec.get("features", {}))
    return out
