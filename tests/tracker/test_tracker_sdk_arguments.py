"""The tracker takes smexperiments'/the SageMaker SDK's arguments: AWS clients are ignored,
``search_expression`` may be the Search API's dict, ``sort_by`` follows Search's case rules or
raises (docs/compatibility.md)."""

from __future__ import annotations

import pytest

from smdbg._sdk_args import SdkArgumentError
from smdbg.tracker import (
    Experiment,
    ExperimentAnalytics,
    InvalidValueError,
    SearchExpression,
    Tracker,
    Trial,
    TrialComponent,
)

SM = object()  # stands for boto3.client("sagemaker"): never touched


@pytest.fixture
def exp(sqlite_url: str) -> str:
    """Experiment "sdk" with three components: test:accuracy 0.7/0.9/0.8 (Max), lr 0.1/0.01/0.001."""
    Experiment.create("sdk", description="d", sagemaker_boto_client=SM, db_url=sqlite_url)
    for k, (acc, lr) in enumerate([(0.7, 0.1), (0.9, 0.01), (0.8, 0.001)]):
        with Tracker.create(display_name=f"run-{k}", trial_component_name=f"run-{k}", db_url=sqlite_url,
                            boto3_session=SM, sagemaker_boto_client=SM) as tr:  # fmt: skip
            tr.log_parameters({"lr": lr, "opt": "sgd" if k else "adam"})
            tr.log_metric("test:accuracy", acc / 2)
            tr.log_metric("test:accuracy", acc)
        trial = Trial.create(f"trial-{k}", experiment_name="sdk", sagemaker_boto_client=SM, db_url=sqlite_url)
        trial.add_trial_component(tr)
    return sqlite_url


def test_aws_clients_are_accepted_everywhere(exp: str) -> None:
    assert Experiment.load("sdk", sagemaker_boto_client=SM, db_url=exp).description == "d"
    assert [e.experiment_name for e in Experiment.list(sagemaker_boto_client=SM, db_url=exp)] == ["sdk"]
    assert Trial.load("trial-1", sagemaker_boto_client=SM, db_url=exp).experiment_name == "sdk"
    assert len(list(Trial.list(experiment_name="sdk", sagemaker_boto_client=SM, db_url=exp))) == 3
    assert TrialComponent.load("run-0", sagemaker_boto_client=SM, db_url=exp).display_name == "run-0"
    assert len(TrialComponent.list(experiment_name="sdk", sagemaker_boto_client=SM, db_url=exp)) == 3
    TrialComponent.create("extra", sagemaker_boto_client=SM, db_url=exp)
    with pytest.raises(SdkArgumentError, match=r"Experiment.create\(\) got an unexpected keyword argument 'sm_client'"):
        Experiment.create("other", sm_client=SM, db_url=exp)


def test_tracker_load_by_job_name(exp: str) -> None:
    TrialComponent.create("job7-training-job", db_url=exp)
    TrialComponent.create("prep-processing-job", db_url=exp)
    with Tracker.load(training_job_name="job7", sagemaker_boto_client=SM, db_url=exp) as tr:
        assert tr.trial_component_name == "job7-training-job"
    with Tracker.load(processing_job_name="prep", boto3_session=SM, db_url=exp) as tr:
        assert tr.trial_component_name == "prep-processing-job"
    with pytest.raises(InvalidValueError, match="training_job_name='job7' and processing_job_name='prep'"):
        Tracker.load(training_job_name="job7", processing_job_name="prep", db_url=exp)


def _names(exp: str, **kwargs: object) -> list[str]:
    df = ExperimentAnalytics(db_url=exp, sagemaker_session=SM, **kwargs).dataframe()  # type: ignore[arg-type]
    return list(df["TrialComponentName"])


def test_sort_by_follows_search_case_rules(exp: str) -> None:
    # the SageMaker examples' spelling: lower-case path and statistic, Descending by default
    assert _names(exp, experiment_name="sdk", sort_by="metrics.test:accuracy.max") == ["run-1", "run-2", "run-0"]
    assert _names(exp, experiment_name="sdk", sort_by="METRICS.test:accuracy.MAX", sort_order="Ascending") == [
        "run-0", "run-2", "run-1",
    ]  # fmt: skip
    assert _names(exp, experiment_name="sdk", sort_by="parameters.lr", sort_order="Ascending") == [
        "run-2", "run-1", "run-0",
    ]  # fmt: skip
    assert _names(exp, experiment_name="sdk", sort_by="trialcomponentname") == ["run-2", "run-1", "run-0"]


def test_sort_by_that_matches_nothing_raises_naming_it(exp: str) -> None:
    with pytest.raises(InvalidValueError, match="sort_by='Metrics.Test:Accuracy.Max' matches no trial component.*did you mean 'Metrics.test:accuracy.Max'"):  # fmt: skip
        _names(exp, experiment_name="sdk", sort_by="metrics.Test:Accuracy.max")
    with pytest.raises(InvalidValueError, match="sort_by='Metrics.test:accuracy.Maximum' matches no trial component"):
        _names(exp, experiment_name="sdk", sort_by="Metrics.test:accuracy.Maximum")
    with pytest.raises(InvalidValueError, match="sort_by='' is not valid"):
        _names(exp, experiment_name="sdk", sort_by="")
    with pytest.raises(InvalidValueError, match="sort_order 'descending' is not valid"):
        _names(exp, experiment_name="sdk", sort_by="Parameters.lr", sort_order="descending")


def test_search_expression_as_the_api_dict(exp: str) -> None:
    expression = {
        "Filters": [{"Name": "Parents.ExperimentName", "Operator": "Equals", "Value": "sdk"}],
        "SubExpressions": [
            {
                "Filters": [
                    {"Name": "metrics.test:accuracy.max", "Operator": "GreaterThan", "Value": "0.75"},
                    {"Name": "Parameters.opt", "Operator": "Equals", "Value": "adam"},
                ],
                "Operator": "Or",
            }
        ],
        "NestedFilters": [
            {"NestedPropertyName": "Parents", "Filters": [{"Name": "Parents.TrialName", "Operator": "In",
                                                           "Value": "trial-0,trial-1"}]},  # fmt: skip
        ],
        "Operator": "And",
    }
    assert _names(exp, search_expression=expression, sort_by="Parameters.lr", sort_order="Ascending") == [
        "run-1", "run-0",
    ]  # fmt: skip
    found = Experiment.search({"Filters": [{"Name": "experimentname", "Value": "sdk"}]}, db_url=exp)
    assert [e.experiment_name for e in found] == ["sdk"]
    assert _names(exp, search_expression={"Filters": [{"Name": "Parameters.opt"}]}, sort_by="Parameters.lr") == [
        "run-0", "run-1", "run-2",
    ]  # fmt: skip  (a bare Name: components that have the property)
    assert _names(exp, search_expression={"Filters": [{"Name": "Parameters.momentum"}]}) == []


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"Filter": []}, r"unknown key\(s\) \['Filter'\]"),
        ({"Filters": [{"Operator": "Equals", "Value": "x"}]}, "has no 'Name'"),
        ({"Filters": [{"Name": "DisplayName", "Operator": "Like", "Value": "x"}]}, "search operator 'Like'"),
        ({"Filters": [{"Name": "DisplayName", "Value": "x", "Extra": 1}]}, r"unknown key\(s\) \['Extra'\]"),
        ({"Filters": [{"Name": "DisplayName", "Value": "x"}], "Operator": "Xor"}, "boolean_operator 'Xor'"),
        ({}, "needs at least one filter"),
        ("DisplayName=x", "search_expression='DisplayName=x'"),
    ],
)
def test_bad_search_expression_dicts_name_the_problem(exp: str, bad: object, message: str) -> None:
    with pytest.raises(InvalidValueError, match=message):
        ExperimentAnalytics(search_expression=bad, db_url=exp)  # type: ignore[arg-type]


def test_search_expression_object_still_works(exp: str) -> None:
    expression = SearchExpression.from_dict({"Filters": [{"Name": "Parameters.opt", "Value": "sgd"}]})
    assert sorted(_names(exp, search_expression=expression)) == ["run-1", "run-2"]
