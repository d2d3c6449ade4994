"""Feature engineering: scikit-learn ColumnTransformers built from the analysis' column kinds.

Every transformer works on a DataFrame of the raw feature columns, so a fitted pipeline predicts
from the same columns a user sends to an endpoint. Options (searched by the optimizer):

- ``numeric_impute``: ``median`` or ``mean``; ``missing_indicator``: add 0/1 columns for gaps;
- ``scale``: standardise numeric columns (always on for linear models and MLPs);
- ``categorical_encoding``: ``onehot`` or ``target`` for low-cardinality columns
  (high-cardinality columns are always target encoded).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["build_preprocessor", "DEFAULT_FEATURE_PARAMS"]

DEFAULT_FEATURE_PARAMS: dict[str, Any] = {
    "numeric_impute": "median",
    "missing_indicator": False,
    "scale": False,
    "categorical_encoding": "onehot",
}


def _as_object(x: Any) -> Any:
    """Categorical columns as plain Python objects with NaN for gaps (pandas string dtypes vary)."""
    frame = pd.DataFrame(x)
    return frame.astype(object).where(frame.notna(), np.nan)


def _datetime_to_number(x: Any) -> Any:
    """Datetimes as float seconds since the epoch (NaN for gaps)."""
    frame = pd.DataFrame(x)
    out = pd.DataFrame(index=frame.index)
    for name in frame.columns:
        ts = pd.to_datetime(frame[name], errors="coerce")
        seconds = (ts - pd.Timestamp("1970-01-01")).dt.total_seconds()
        out[name] = seconds.astype(float)
    return out


def _target_encoder() -> Any:
    """A deterministic TargetEncoder (scikit-learn 1.9 takes a CV splitter; earlier ones a seed)."""
    import sklearn
    from sklearn.model_selection import KFold
    from sklearn.preprocessing import TargetEncoder

    major, minor = (int(p) for p in sklearn.__version__.split(".")[:2])
    if (major, minor) >= (1, 9):
        return TargetEncoder(cv=KFold(5, shuffle=True, random_state=0))
    return TargetEncoder(random_state=0)


def build_preprocessor(feature_kinds: dict[str, str], params: dict[str, Any] | None = None) -> Any:
    """A ColumnTransformer for columns of the given kinds; identifier and constant columns are dropped."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    p = {**DEFAULT_FEATURE_PARAMS, **(params or {})}
    numeric = [c for c, k in feature_kinds.items() if k == "numeric"]
    dates = [c for c, k in feature_kinds.items() if k == "datetime"]
    low = [c for c, k in feature_kinds.items() if k == "categorical"]
    high = [c for c, k in feature_kinds.items() if k == "high_cardinality"]
    if p["categorical_encoding"] == "target":
        high, low = high + low, []

    def numeric_steps(first: list[tuple[str, Any]]) -> Pipeline:
        steps = first + [
            (
                "impute",
                SimpleImputer(strategy=p["numeric_impute"], add_indicator=bool(p["missing_indicator"])),
            )
        ]
        if p["scale"]:
            steps.append(("scale", StandardScaler()))
        return Pipeline(steps)

    parts: list[tuple[str, Any, list[str]]] = []
    if numeric:
        parts.append(("numeric", numeric_steps([]), numeric))
    if dates:
        to_num = FunctionTransformer(_datetime_to_number, feature_names_out="one-to-one")
        parts.append(("datetime", numeric_steps([("to_number", to_num)]), dates))
    to_obj = ("as_object", FunctionTransformer(_as_object, feature_names_out="one-to-one"))
    fill = ("impute", SimpleImputer(strategy="constant", fill_value="__missing__"))
    if low:
        onehot = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=2, sparse_output=False)
        parts.append(("categorical", Pipeline([to_obj, fill, ("onehot", onehot)]), low))
    if high:
        encoder = _target_encoder()
        steps: list[tuple[str, Any]] = [to_obj, fill, ("target", encoder)]
        if p["scale"]:
            steps.append(("scale", StandardScaler()))
        parts.append(("target_encoded", Pipeline(steps), high))
    if not parts:
        raise ValueError("no usable feature columns: every column is an identifier or constant")
    return ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0, verbose_feature_names_out=False)
