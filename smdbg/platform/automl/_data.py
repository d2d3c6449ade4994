"""Reading the input, checking it, and the validation plan (cross-validation folds or a holdout)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smdbg.platform._text import utf8_problem

from ._errors import AutoMLInputError
from ._problem import REGRESSION

__all__ = ["load_frame", "check_frame", "fold_plan", "sorted_classes", "MIN_ROWS"]

MIN_ROWS = 10


def load_frame(inputs: Any) -> pd.DataFrame:
    """A DataFrame from a DataFrame, or a CSV or Parquet file path (a copy; the input is not modified)."""
    if isinstance(inputs, pd.DataFrame):
        return inputs.copy()
    if not isinstance(inputs, (str, Path)):
        raise AutoMLInputError(
            f"inputs of type {type(inputs).__name__} cannot be read; expected a pandas DataFrame "
            "or the path of a .csv or .parquet file"
        )
    path = Path(inputs)
    if not path.exists():
        raise AutoMLInputError(
            f"inputs path {str(path)!r} does not exist; pass an existing CSV or Parquet file"
        )
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq") or (path.is_dir() and any(path.glob("*.parquet"))):
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt", ".gz") and path.is_file():
            return pd.read_csv(path)
    except UnicodeDecodeError:
        where = utf8_problem(path.read_bytes(), csv_header=True) if suffix == ".csv" else None
        raise AutoMLInputError(
            f"inputs {str(path)!r} is not UTF-8 text ({where or 'a byte cannot be decoded'}); re-encode it as "
            "UTF-8 (e.g. iconv -f latin1 -t utf-8 in.csv > out.csv) or pass a DataFrame"
        ) from None
    except (ValueError, OSError) as e:
        raise AutoMLInputError(f"cannot read inputs {str(path)!r}: {e}") from e
    raise AutoMLInputError(
        f"inputs path {str(path)!r} is neither a .csv nor a .parquet file (or a folder of .parquet "
        "files); convert it or pass a DataFrame"
    )


def check_frame(frame: pd.DataFrame, target: str) -> pd.DataFrame:
    """Check the target column exists; return the rows that have a target value."""
    if target not in frame.columns:
        shown = ", ".join(repr(str(c)) for c in list(frame.columns)[:20])
        raise AutoMLInputError(
            f"target column {target!r} is not in the data (columns: {shown}); pass the name of an "
            "existing column as target_attribute_name"
        )
    if len(frame.columns) < 2:
        raise AutoMLInputError(
            f"the data has only the target column {target!r}; expected at least one feature column"
        )
    _check_finite(frame, target)
    labelled = frame[frame[target].notna()].reset_index(drop=True)
    if len(labelled) < MIN_ROWS:
        raise AutoMLInputError(
            f"the data has {len(labelled)} rows with a target value; a train/validation split needs at "
            f"least {MIN_ROWS}; add rows"
        )
    return labelled


def _check_finite(frame: pd.DataFrame, target: str) -> None:
    """Infinite numbers fail every candidate late: refuse them now, target first, naming the column."""
    columns = [target, *(c for c in frame.columns if c != target)]
    for col in columns:
        values = frame[col]
        if not pd.api.types.is_float_dtype(values.dtype):
            continue
        bad = np.isinf(values.to_numpy(dtype=np.float64, na_value=np.nan))
        if bad.any():
            rows = np.flatnonzero(bad)[:5].tolist()
            role = "target column" if col == target else "feature column"
            raise AutoMLInputError(
                f"{role} {col!r} holds {int(bad.sum())} infinite value(s) (rows {rows}, 0-based); "
                "expected finite numbers: drop those rows or replace the values (NaN counts as missing)"
            )


def sorted_classes(target: pd.Series) -> list[Any]:
    values = list(pd.unique(target.dropna()))
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def fold_plan(
    y: pd.Series, problem_type: str, cv_max_rows: int, validation_fraction: float, seed: int
) -> np.ndarray:
    """Fold ids per row: 0..k-1 for k-fold cross-validation (up to ``cv_max_rows`` rows), else -1/0 for a holdout.

    Classification folds are stratified; every class needs at least two rows.
    """
    from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

    n = len(y)
    classify = problem_type != REGRESSION
    if classify:
        counts = y.value_counts()
        if counts.min() < 2:
            rare = counts[counts < 2].index.tolist()[:5]
            raise AutoMLInputError(
                f"class(es) {rare} of target column {y.name!r} have a single row; a train/validation "
                "split needs at least 2 rows per class; add rows or drop those classes"
            )
    fold_ids = np.full(n, -1, dtype=np.int64)
    if n <= cv_max_rows:
        k = 5 if not classify else int(min(5, y.value_counts().min()))
        splitter: Any = (
            StratifiedKFold(k, shuffle=True, random_state=seed)
            if classify
            else KFold(k, shuffle=True, random_state=seed)
        )
        for fold, (_, valid) in enumerate(splitter.split(np.zeros(n), y)):
            fold_ids[valid] = fold
        return fold_ids
    index = np.arange(n)
    _, valid = train_test_split(
        index, test_size=validation_fraction, random_state=seed, stratify=y if classify else None
    )
    fold_ids[valid] = 0
    return fold_ids
