"""ExperimentAnalytics DataFrames and SearchExpression filters."""

from __future__ import annotations

import pytest

from smdbg.tracker import (
    BooleanOperator,
    Experiment,
    ExperimentAnalytics,
    Filter,
    InvalidValueError,
    Operator,
    SearchExpression,
    Tracker,
)


@pytest.fixture
def experiment(db_url: str) -> str:
    exp = Experiment.create("cmp", db_url=db_url)
    for k, lr in enumerate([0.1, 0.01, 0.001]):
        with Tracker.create(display_name=f"train-{k}", trial_component_name=f"tc-{k}", db_url=db_url) as tr:
            tr.log_parameters({"lr": lr, "optimizer": "sgd" if k else "adam"})
            tr.log_input("data", f"s3://b/data-{k}.csv", "text/csv")
            for i in range(10):
                tr.log_metric("loss", (k + 1) * (10 - i))
            if k == 2:
                tr.log_metric("accuracy", 0.9)
        exp.create_trial(f"trial-{k}").add_trial_component(tr)
    Tracker.create(trial_component_name="orphan", db_url=db_url).close()  # in no experiment
    return db_url


def test_dataframe_has_smexperiments_columns(experiment: str) -> None:
    df = ExperimentAnalytics(experiment_name="cmp", db_url=experiment).dataframe()
    stats = ["Min", "Max", "Avg", "StdDev", "Last", "Count"]
    assert list(df.columns) == [
        "TrialComponentName",
        "DisplayName",
        "lr",
        "optimizer",
        *[f"loss - {s}" for s in stats],
        *[f"accuracy - {s}" for s in stats],
        "data - MediaType",
        "data - Value",
        "Trials",
        "Experiments",
    ]
    assert list(df["TrialComponentName"]) == ["tc-0", "tc-1", "tc-2"]
    assert list(df["loss - Max"]) == [10.0, 20.0, 30.0]
    assert list(df["loss - Count"]) == [10, 10, 10]
    assert df["loss - StdDev"][0] == pytest.approx(3.0276503540974917)
    assert df["accuracy - Last"].isna().tolist() == [True, True, False]
    assert df["Trials"][1] == ["trial-1"] and df["Experiments"][1] == ["cmp"]


def test_dataframe_selects_names_and_sorts(experiment: str) -> None:
    df = ExperimentAnalytics(
        experiment_name="cmp",
        sort_by="Parameters.lr",
        sort_order="Ascending",
        metric_names=["loss"],
        parameter_names=["lr"],
        db_url=experiment,
    ).dataframe()
    assert list(df["lr"]) == [0.001, 0.01, 0.1]
    assert [c for c in df.columns if c.startswith("accuracy") or c == "optimizer"] == []
    df = ExperimentAnalytics(
        "cmp", sort_by="Metrics.loss.Avg", sort_order="Descending", db_url=experiment
    ).dataframe()
    assert list(df["TrialComponentName"]) == ["tc-2", "tc-1", "tc-0"]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (Filter("Parameters.optimizer", Operator.EQUALS, "sgd"), ["tc-1", "tc-2"]),
        (Filter("Parameters.optimizer", "NotEquals", "sgd"), ["tc-0"]),
        (Filter("Parameters.lr", Operator.GREATER_THAN, "0.01"), ["tc-0"]),
        (Filter("Parameters.lr", Operator.GREATER_THAN_OR_EQUAL, 0.01), ["tc-0", "tc-1"]),
        (Filter("Metrics.loss.Max", Operator.LESS_THAN, 20), ["tc-0"]),
        (Filter("Metrics.loss.Max", Operator.LESS_THAN_OR_EQUAL, 20), ["tc-0", "tc-1"]),
        (Filter("DisplayName", Operator.CONTAINS, "-2"), ["tc-2"]),
        (Filter("Metrics.accuracy.Last", Operator.EXISTS), ["tc-2"]),
        (Filter("Metrics.accuracy.Last", Operator.NOT_EXISTS), ["tc-0", "tc-1"]),
        (Filter("Parents.TrialName", Operator.EQUALS, "trial-1"), ["tc-1"]),
    ],
)
def test_search_operators(experiment: str, flt: Filter, expected: list[str]) -> None:
    df = ExperimentAnalytics(
        "cmp", search_expression=SearchExpression(filters=[flt]), db_url=experiment
    ).dataframe()
    assert list(df["TrialComponentName"]) == expected


def test_search_without_experiment_and_boolean_or(experiment: str) -> None:
    expr = SearchExpression(
        filters=[Filter("TrialComponentName", "Equals", "orphan"), Filter("Parameters.lr", "Equals", "0.1")],
        boolean_operator=BooleanOperator.OR,
    )
    df = ExperimentAnalytics(search_expression=expr, db_url=experiment).dataframe()
    assert list(df["TrialComponentName"]) == ["tc-0", "orphan"]
    assert [
        e.experiment_name
        for e in Experiment.search(
            SearchExpression([Filter("ExperimentName", "Contains", "cm")]), db_url=experiment
        )
    ] == ["cmp"]


def test_analytics_bad_input(experiment: str) -> None:
    with pytest.raises(InvalidValueError, match="experiment_name"):
        ExperimentAnalytics(db_url=experiment)
    with pytest.raises(InvalidValueError, match="'Sideways'"):
        ExperimentAnalytics("cmp", sort_order="Sideways", db_url=experiment)
    with pytest.raises(LookupError, match="'missing'"):
        ExperimentAnalytics("missing", db_url=experiment).dataframe()
