"""Problem types, objectives, data analysis, bad input: fast checks without training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smdbg.platform.automl import AutoML, AutoMLInputError
from smdbg.platform.automl._analysis import analyze
from smdbg.platform.automl._ensemble import select_ensemble
from smdbg.platform.automl._problem import (
    OBJECTIVES,
    infer_problem_type,
    resolve_objective,
    resolve_problem_type,
)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["a", "b", "a", "b"], "BinaryClassification"),
        ([0, 1, 1, 0], "BinaryClassification"),
        ([True, False, True, True], "BinaryClassification"),
        (["a", "b", "c", "a"], "MulticlassClassification"),
        ([0, 1, 2, 3, 2, 1], "MulticlassClassification"),
        ([0.5, 1.25, 2.0, 3.75, 4.1], "Regression"),
        (list(range(100)), "Regression"),
    ],
)
def test_problem_type_inferred_from_target(values: list[object], expected: str) -> None:
    assert infer_problem_type(pd.Series(values)) == expected


def test_defaults_and_objective_directions() -> None:
    assert resolve_objective(None, "Regression").name == "MSE"
    assert resolve_objective(None, "BinaryClassification").name == "F1"
    assert resolve_objective(None, "MulticlassClassification").name == "Accuracy"
    assert resolve_objective({"MetricName": "auc"}, "BinaryClassification").name == "AUC"
    assert not OBJECTIVES["RMSE"].maximize and OBJECTIVES["R2"].maximize
    assert resolve_problem_type("multiclass") == "MulticlassClassification"
    expected = {
        "Accuracy",
        "AUC",
        "BalancedAccuracy",
        "F1",
        "F1macro",
        "MAE",
        "MSE",
        "Precision",
        "R2",
        "Recall",
        "RMSE",
    }
    assert expected <= set(OBJECTIVES)


def test_objective_scores_match_scikit_learn() -> None:
    from sklearn.metrics import f1_score, mean_absolute_error, roc_auc_score

    y = np.array(["n", "y", "y", "n", "y"])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.1, 0.9]])
    classes = np.array(["n", "y"])
    labels = classes[proba.argmax(1)]
    assert OBJECTIVES["F1"].score(y, proba, classes) == pytest.approx(f1_score(y, labels, pos_label="y"))
    assert OBJECTIVES["AUC"].score(y, proba, classes) == pytest.approx(roc_auc_score(y == "y", proba[:, 1]))
    t, p = np.array([1.0, 2.0, 4.0]), np.array([1.5, 2.0, 3.0])
    assert OBJECTIVES["MAE"].score(t, p) == pytest.approx(mean_absolute_error(t, p))
    assert OBJECTIVES["RMSE"].score(t, p) == pytest.approx(np.sqrt(np.mean((t - p) ** 2)))


def test_analysis_reports_kinds_missing_balance_and_leakage() -> None:
    rng = np.random.default_rng(0)
    n = 200
    y = rng.integers(0, 2, n)
    frame = pd.DataFrame(
        {
            "x": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
            "color": rng.choice(["red", "green", "blue"], n),
            "row_id": [f"id-{i}" for i in range(n)],
            "constant": 1,
            "leak": y * 2.0 + 1.0,
            "label": y,
        }
    )
    report = analyze(frame, "label", "BinaryClassification")
    assert report["feature_kinds"] == {
        "x": "numeric",
        "color": "categorical",
        "row_id": "identifier",
        "constant": "constant",
        "leak": "numeric",
    }
    assert report["columns"]["x"]["missing"] == int(frame["x"].isna().sum()) > 0
    assert set(report["dropped_columns"]) == {"row_id", "constant"}
    assert [w["column"] for w in report["leakage_warnings"]] == ["leak"]
    assert sum(report["target"]["class_counts"].values()) == n


def test_ensemble_selection_beats_members_on_complementary_errors() -> None:
    y = np.array([0.0, 0.0, 0.0, 0.0])
    preds = {"a": np.array([1.0, -1.0, 1.0, -1.0]), "b": np.array([-1.0, 1.0, -1.0, 1.0])}
    weights, score = select_ensemble(preds, y, OBJECTIVES["MSE"], None)
    assert weights == {"a": 0.5, "b": 0.5}
    assert score == pytest.approx(0.0)


def _frame(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n), "y": rng.integers(0, 2, n)})


@pytest.mark.parametrize(
    ("kwargs", "frame", "message"),
    [
        ({"target_attribute_name": "missing"}, _frame(), "target column 'missing' is not in the data"),
        ({"target_attribute_name": "y"}, _frame().assign(y=1), "one class only"),
        ({"target_attribute_name": "y"}, _frame(6), "has 6 rows with a target value"),
        (
            {"target_attribute_name": "y", "problem_type": "Regression"},
            _frame().assign(y=["a", "b"] * 20),
            "is not numeric",
        ),
        (
            {"target_attribute_name": "y", "job_objective": "MSE"},
            _frame(),
            "does not apply to BinaryClassification",
        ),
        ({"target_attribute_name": "y"}, _frame().assign(y=[0] * 39 + [1]), "single row"),
    ],
)
def test_bad_input_is_named_and_writes_nothing(
    tmp_path: object, kwargs: dict[str, object], frame: pd.DataFrame, message: str
) -> None:
    from pathlib import Path

    out = Path(str(tmp_path)) / "out"
    automl = AutoML(output_path=out, max_candidates=1, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(AutoMLInputError, match=message):
        automl.fit(frame, job_name="bad", logs=False)
    assert not out.exists()


def test_bad_settings_are_named() -> None:
    with pytest.raises(AutoMLInputError, match="'LogLossy' is not a known objective"):
        AutoML("y", job_objective="LogLossy")
    with pytest.raises(AutoMLInputError, match="problem_type 'ranking' is not known"):
        AutoML("y", problem_type="ranking")
    with pytest.raises(AutoMLInputError, match="total_job_runtime_in_seconds=-1"):
        AutoML("y", total_job_runtime_in_seconds=-1)
    with pytest.raises(AutoMLInputError, match="unknown or no names \\['xgboost'\\]"):
        AutoML("y", algorithms=["xgboost"])


def test_unreadable_inputs_are_named(tmp_path: object) -> None:
    from pathlib import Path

    with pytest.raises(AutoMLInputError, match="does not exist"):
        AutoML("y", max_candidates=1).fit(str(Path(str(tmp_path)) / "nope.csv"))
    with pytest.raises(AutoMLInputError, match="cannot be read"):
        AutoML("y", max_candidates=1).fit(42)
