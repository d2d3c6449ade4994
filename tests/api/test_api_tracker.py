"""Experiments, trials, trial components, association and Search through boto3."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError


def test_experiment_trial_component_flow(sm: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    exp, trial, tc = f"exp-{tag}", f"trial-{tag}", f"tc-{tag}"
    assert sm.create_experiment(ExperimentName=exp, Description="d", Tags=[{"Key": "team", "Value": "a"}])[
        "ExperimentArn"
    ].endswith(f"experiment/{exp}")
    with pytest.raises(ClientError) as e:
        sm.create_experiment(ExperimentName=exp)
    assert e.value.response["Error"]["Code"] == "ValidationException" and exp in str(e.value)
    desc = sm.describe_experiment(ExperimentName=exp)
    assert desc["Description"] == "d" and isinstance(desc["CreationTime"], dt.datetime)
    sm.create_trial(TrialName=trial, ExperimentName=exp)
    with pytest.raises(ClientError) as e:
        sm.create_trial(TrialName=f"t2-{tag}", ExperimentName="no-such-exp")
    assert e.value.response["Error"]["Code"] == "ResourceNotFound"
    start = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    sm.create_trial_component(
        TrialComponentName=tc, DisplayName="train", Status={"PrimaryStatus": "InProgress"}, StartTime=start,
        Parameters={"lr": {"NumberValue": 0.1}, "opt": {"StringValue": "sgd"}},
        InputArtifacts={"data": {"Value": "s3://b/train.csv", "MediaType": "text/csv"}},
    )  # fmt: skip
    sm.update_trial_component(TrialComponentName=tc, Status={"PrimaryStatus": "Completed"},
                              Parameters={"epochs": {"NumberValue": 3}})  # fmt: skip
    d = sm.describe_trial_component(TrialComponentName=tc)
    assert d["Status"]["PrimaryStatus"] == "Completed" and d["StartTime"] == start
    assert d["Parameters"] == {
        "lr": {"NumberValue": 0.1},
        "opt": {"StringValue": "sgd"},
        "epochs": {"NumberValue": 3.0},
    }
    assert d["InputArtifacts"]["data"] == {"Value": "s3://b/train.csv", "MediaType": "text/csv"}

    sm.associate_trial_component(TrialComponentName=tc, TrialName=trial)
    assert [
        c["TrialComponentName"] for c in sm.list_trial_components(TrialName=trial)["TrialComponentSummaries"]
    ] == [tc]
    assert [t["TrialName"] for t in sm.list_trials(ExperimentName=exp)["TrialSummaries"]] == [trial]
    assert exp in [x["ExperimentName"] for x in sm.list_experiments(MaxResults=100)["ExperimentSummaries"]]

    found = sm.search(Resource="ExperimentTrialComponent", SearchExpression={"Filters": [
        {"Name": "Parents.ExperimentName", "Operator": "Equals", "Value": exp},
        {"Name": "Parameters.lr", "Operator": "GreaterThan", "Value": "0.05"}]})["Results"]  # fmt: skip
    assert [r["TrialComponent"]["TrialComponentName"] for r in found] == [tc]
    none = sm.search(Resource="ExperimentTrialComponent", SearchExpression={"Filters": [
        {"Name": "Parameters.lr", "Operator": "GreaterThan", "Value": "1"}, {"Name": "DisplayName", "Value": "train"}]})  # fmt: skip
    assert not [r for r in none["Results"] if r["TrialComponent"]["TrialComponentName"] == tc]
    exps = sm.search(Resource="Experiment", SearchExpression={"Filters": [{"Name": "Tags.team", "Operator": "Equals", "Value": "a"},
                                                                          {"Name": "ExperimentName", "Value": exp}]})["Results"]  # fmt: skip
    assert [r["Experiment"]["ExperimentName"] for r in exps] == [exp]

    with pytest.raises(ClientError, match="associated"):
        sm.delete_trial_component(TrialComponentName=tc)
    with pytest.raises(ClientError, match="has trials"):
        sm.delete_experiment(ExperimentName=exp)
    sm.disassociate_trial_component(TrialComponentName=tc, TrialName=trial)
    sm.delete_trial_component(TrialComponentName=tc)
    sm.delete_trial(TrialName=trial)
    sm.delete_experiment(ExperimentName=exp)
    for call, kw in ((sm.describe_experiment, {"ExperimentName": exp}), (sm.describe_trial, {"TrialName": trial}),
                     (sm.describe_trial_component, {"TrialComponentName": tc})):  # fmt: skip
        with pytest.raises(ClientError) as e:
            call(**kw)
        assert e.value.response["Error"]["Code"] == "ResourceNotFound"


def test_search_errors(sm: Any) -> None:
    with pytest.raises(ClientError, match="operator .Bogus"):
        sm.search(
            Resource="Experiment",
            SearchExpression={"Filters": [{"Name": "x", "Operator": "Bogus", "Value": "1"}]},
        )
    with pytest.raises(ClientError, match="Endpoint"):
        sm.search(Resource="Endpoint")


def test_search_sorts_by_a_property(sm: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    for i, lr in enumerate((0.3, 0.1, 0.2)):
        sm.create_trial_component(TrialComponentName=f"s-{tag}-{i}", Parameters={"lr": {"NumberValue": lr}})
    found = sm.search(Resource="ExperimentTrialComponent", SortBy="Parameters.lr", SortOrder="Ascending",
                      SearchExpression={"Filters": [{"Name": "TrialComponentName", "Operator": "Contains", "Value": tag}]})  # fmt: skip
    assert [r["TrialComponent"]["TrialComponentName"] for r in found["Results"]] == [
        f"s-{tag}-{i}" for i in (1, 2, 0)
    ]
    # SageMaker's case rules for the property path; a property no result has is an error
    expr = {"Filters": [{"Name": "TrialComponentName", "Operator": "Contains", "Value": tag}]}
    found = sm.search(Resource="ExperimentTrialComponent", SortBy="parameters.lr", SortOrder="Descending",
                      SearchExpression=expr)  # fmt: skip
    assert [r["TrialComponent"]["TrialComponentName"] for r in found["Results"]] == [
        f"s-{tag}-{i}" for i in (0, 2, 1)
    ]
    with pytest.raises(ClientError, match="Parameters.nosuch"):
        sm.search(Resource="ExperimentTrialComponent", SortBy="Parameters.nosuch", SearchExpression=expr)


def test_unimplemented_and_malformed_requests(api_server: Any, sm: Any) -> None:
    import urllib.error
    import urllib.request

    with pytest.raises(ClientError) as e:
        sm.list_workteams()
    assert e.value.response["Error"]["Code"] == "UnknownOperationException" and "ListWorkteams" in str(e.value)
    req = urllib.request.Request(api_server.url + "/", data=b"{not json", method="POST",
                                 headers={"X-Amz-Target": "SageMaker.ListModels"})  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req)
    assert err.value.code == 400 and "SerializationException" in err.value.read().decode()


def test_update_experiment_trial_and_component_removal(sm: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    exp, trial, tc = f"ux-{tag}", f"ut-{tag}", f"uc-{tag}"
    sm.create_experiment(ExperimentName=exp, Description="first")
    arn = sm.update_experiment(ExperimentName=exp, DisplayName="Shown", Description="second")["ExperimentArn"]
    assert arn.endswith(f"experiment/{exp}")
    d = sm.describe_experiment(ExperimentName=exp)
    assert (d["DisplayName"], d["Description"]) == ("Shown", "second")
    sm.update_experiment(ExperimentName=exp, Description="third")  # DisplayName left as it is
    d = sm.describe_experiment(ExperimentName=exp)
    assert (d["DisplayName"], d["Description"]) == ("Shown", "third")

    sm.create_trial(TrialName=trial, ExperimentName=exp, DisplayName="T one")
    assert sm.describe_trial(TrialName=trial)["DisplayName"] == "T one"
    assert sm.update_trial(TrialName=trial, DisplayName="T two")["TrialArn"].endswith(f"experiment-trial/{trial}")
    assert sm.describe_trial(TrialName=trial)["DisplayName"] == "T two"

    sm.create_trial_component(
        TrialComponentName=tc, Parameters={"lr": {"NumberValue": 0.1}, "opt": {"StringValue": "sgd"}},
        InputArtifacts={"data": {"Value": "s3://b/train.csv"}, "extra": {"Value": "s3://b/x.csv"}},
        OutputArtifacts={"model": {"Value": "s3://b/model.tar.gz"}},
    )  # fmt: skip
    sm.update_trial_component(TrialComponentName=tc, ParametersToRemove=["opt", "never-set"],
                              InputArtifactsToRemove=["extra"], OutputArtifactsToRemove=["model"],
                              Parameters={"epochs": {"NumberValue": 3}})  # fmt: skip
    d = sm.describe_trial_component(TrialComponentName=tc)
    assert d["Parameters"] == {"lr": {"NumberValue": 0.1}, "epochs": {"NumberValue": 3.0}}
    assert list(d["InputArtifacts"]) == ["data"] and not d.get("OutputArtifacts")
    with pytest.raises(ClientError, match=r"ParametersToRemove names \['lr'\]"):
        sm.update_trial_component(TrialComponentName=tc, Parameters={"lr": {"NumberValue": 1}},
                                  ParametersToRemove=["lr"])  # fmt: skip
    assert sm.describe_trial_component(TrialComponentName=tc)["Parameters"]["lr"] == {"NumberValue": 0.1}

    for call, kw in ((sm.update_experiment, {"ExperimentName": f"no-{tag}", "Description": "x"}),
                     (sm.update_trial, {"TrialName": f"no-{tag}", "DisplayName": "x"}),
                     (sm.update_trial_component, {"TrialComponentName": f"no-{tag}", "ParametersToRemove": ["a"]})):  # fmt: skip
        with pytest.raises(ClientError) as e:
            call(**kw)
        assert e.value.response["Error"]["Code"] == "ResourceNotFound" and f"no-{tag}" in str(e.value)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_search_expression_errors_name_the_field(sm: Any) -> None:
    with pytest.raises(ClientError) as e:
        sm.search(Resource="Experiment", SearchExpression={"Operator": "And"})
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "SearchExpression" in str(e.value) and "at least one filter" in str(e.value)
    with pytest.raises(ClientError, match="SearchExpression: .*'Xor'"):
        sm.search(Resource="Experiment", SearchExpression={"Filters": [{"Name": "ExperimentName"}], "Operator": "Xor"})


def test_last_modified_time_moves_on_update(sm: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    exp, other, trial, tc = f"lm-{tag}", f"lm-{tag}-later", f"lmt-{tag}", f"lmc-{tag}"
    sm.create_experiment(ExperimentName=exp)
    sm.create_experiment(ExperimentName=other)
    d = sm.describe_experiment(ExperimentName=exp)
    assert d["LastModifiedTime"] == d["CreationTime"]
    sm.update_experiment(ExperimentName=exp, Description="changed")
    d = sm.describe_experiment(ExperimentName=exp)
    assert d["LastModifiedTime"] > d["CreationTime"]
    assert sm.describe_experiment(ExperimentName=exp)["LastModifiedTime"] == d["LastModifiedTime"]  # reads
    (summary,) = [s for s in sm.list_experiments(MaxResults=100)["ExperimentSummaries"] if s["ExperimentName"] == exp]
    assert summary["LastModifiedTime"] == d["LastModifiedTime"]
    # Search sorts by LastModifiedTime unless told otherwise (SageMaker's default), newest first
    expr = {"Filters": [{"Name": "ExperimentName", "Operator": "Contains", "Value": f"lm-{tag}"}]}
    found = sm.search(Resource="Experiment", SearchExpression=expr)["Results"]
    assert [r["Experiment"]["ExperimentName"] for r in found] == [exp, other]
    assert found[0]["Experiment"]["LastModifiedTime"] == d["LastModifiedTime"]
    by_creation = sm.search(Resource="Experiment", SearchExpression=expr, SortBy="CreationTime")["Results"]
    assert [r["Experiment"]["ExperimentName"] for r in by_creation] == [other, exp]

    sm.create_trial(TrialName=trial, ExperimentName=exp)
    t = sm.describe_trial(TrialName=trial)
    assert t["LastModifiedTime"] == t["CreationTime"]
    sm.update_trial(TrialName=trial, DisplayName="Renamed")
    updated = sm.describe_trial(TrialName=trial)["LastModifiedTime"]
    assert updated > t["CreationTime"]
    sm.create_trial_component(TrialComponentName=tc)
    sm.associate_trial_component(TrialComponentName=tc, TrialName=trial)
    associated = sm.describe_trial(TrialName=trial)["LastModifiedTime"]
    assert associated > updated
    (summary,) = sm.list_trials(ExperimentName=exp)["TrialSummaries"]
    assert summary["LastModifiedTime"] == associated
    sm.disassociate_trial_component(TrialComponentName=tc, TrialName=trial)
    assert sm.describe_trial(TrialName=trial)["LastModifiedTime"] > associated
    assert sm.describe_experiment(ExperimentName=exp)["LastModifiedTime"] == d["LastModifiedTime"]
