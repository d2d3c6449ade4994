"""Data analysis: column types, missing values, cardinality, target balance, leakage-like columns.

The report is a plain JSON-serialisable dict; the data-exploration notebook and the feature
builders both read it. Column kinds:

- ``numeric``: numbers and booleans;
- ``categorical``: few distinct values (one-hot encoded);
- ``high_cardinality``: many distinct values but repeated (target encoded);
- ``datetime``: datetimes (turned into numbers);
- ``identifier``: a distinct non-numeric value on (nearly) every row, or a text column; dropped;
- ``constant``: a single value; dropped.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["analyze", "column_kind", "MAX_ONEHOT_CARDINALITY"]

MAX_ONEHOT_CARDINALITY = 30
LEAKAGE_CORRELATION = 0.99


def column_kind(col: pd.Series) -> str:
    values = col.dropna()
    n_unique = int(values.nunique())
    if n_unique <= 1:
        return "constant"
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(values):
        return "datetime"
    if n_unique <= MAX_ONEHOT_CARDINALITY:
        return "categorical"
    if n_unique >= 0.9 * len(values):
        return "identifier"
    mean_len = float(values.astype(str).str.len().mean())
    if mean_len > 40:
        return "identifier"
    return "high_cardinality"


def _target_codes(target: pd.Series, problem_type: str) -> np.ndarray | None:
    if problem_type == "Regression":
        return target.to_numpy(dtype=float)
    if target.nunique() == 2:
        return (target == sorted(target.dropna().unique(), key=str)[1]).to_numpy(dtype=float)
    return None


def _leakage(df: pd.DataFrame, target: str, problem_type: str, kinds: dict[str, str]) -> list[dict[str, Any]]:
    """Columns that predict the target (almost) perfectly: likely leaks of the label."""
    found: list[dict[str, Any]] = []
    y = df[target]
    codes = _target_codes(y, problem_type)
    for name, kind in kinds.items():
        col = df[name]
        if kind == "numeric" and codes is not None:
            x = col.to_numpy(dtype=float)
            ok = np.isfinite(x) & np.isfinite(codes)
            if ok.sum() > 2 and np.std(x[ok]) > 0 and np.std(codes[ok]) > 0:
                corr = float(np.corrcoef(x[ok], codes[ok])[0, 1])
                if abs(corr) >= LEAKAGE_CORRELATION:
                    found.append({"column": name, "reason": f"correlation with the target is {corr:.4f}"})
        elif kind in ("categorical", "high_cardinality") and problem_type != "Regression":
            pairs = pd.DataFrame({"x": col, "y": y}).dropna()
            if len(pairs) and pairs.groupby("x", observed=True)["y"].nunique().max() == 1:
                if pairs["x"].nunique() < 0.5 * len(pairs):
                    found.append({"column": name, "reason": "each value maps to exactly one target class"})
    return found


def analyze(df: pd.DataFrame, target: str, problem_type: str) -> dict[str, Any]:
    """A JSON-serialisable report on ``df`` (features and ``target``)."""
    features = [c for c in df.columns if c != target]
    columns: dict[str, dict[str, Any]] = {}
    kinds: dict[str, str] = {}
    for name in features:
        col = df[name]
        kind = column_kind(col)
        kinds[name] = kind
        info: dict[str, Any] = {
            "dtype": str(col.dtype),
            "kind": kind,
            "missing": int(col.isna().sum()),
            "missing_fraction": float(col.isna().mean()) if len(col) else 0.0,
            "n_unique": int(col.nunique()),
        }
        if kind == "numeric":
            num = col.astype(float)
            info.update(mean=_num(num.mean()), std=_num(num.std()), min=_num(num.min()), max=_num(num.max()))
        else:
            top = col.astype(str)[col.notna()].value_counts().head(5)
            info["top_values"] = {str(k): int(v) for k, v in top.items()}
        columns[str(name)] = info
    y = df[target]
    target_info: dict[str, Any] = {
        "name": target,
        "dtype": str(y.dtype),
        "missing": int(y.isna().sum()),
        "n_unique": int(y.nunique()),
    }
    if problem_type == "Regression":
        num = y.astype(float)
        target_info.update(
            mean=_num(num.mean()), std=_num(num.std()), min=_num(num.min()), max=_num(num.max())
        )
    else:
        counts = y.value_counts()
        target_info["class_counts"] = {str(k): int(v) for k, v in counts.items()}
        target_info["imbalance_ratio"] = float(counts.max() / counts.min()) if len(counts) else 1.0
    dropped = {n: k for n, k in kinds.items() if k in ("identifier", "constant")}
    return {
        "n_rows": len(df),
        "n_features": len(features),
        "problem_type": problem_type,
        "target": target_info,
        "columns": columns,
        "feature_kinds": {str(k): v for k, v in kinds.items()},
        "dropped_columns": {str(k): v for k, v in dropped.items()},
        "leakage_warnings": _leakage(df, target, problem_type, kinds),
        "duplicate_rows": int(df.duplicated().sum()),
    }


def _num(value: Any) -> float | None:
    f = float(value)
    return f if np.isfinite(f) else None
