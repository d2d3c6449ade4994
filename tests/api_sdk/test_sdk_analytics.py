"""The SageMaker Python SDK v2's ExperimentAnalytics, unchanged, reads trial components that
smdbg's tracker recorded, through the API server's Search."""

from __future__ import annotations

from typing import Any

from _sdk_services import Services, run_main

RECORD = """
from smdbg.tracker import Experiment, Tracker
Experiment.create("sdk-exp")
for k, acc in enumerate([0.7, 0.9, 0.8]):
    with Tracker.create(trial_component_name=f"sdk-run-{k}") as tr:
        tr.log_parameters({"lr": 0.1 / (k + 1)})
        tr.log_metric("test:accuracy", acc / 2)
        tr.log_metric("test:accuracy", acc)
    Experiment.load("sdk-exp").create_trial(f"sdk-trial-{k}").add_trial_component(tr)
"""


def test_experiment_analytics_search_and_sort(services: Services, session: Any) -> None:
    from sagemaker.analytics import ExperimentAnalytics

    run_main(services, RECORD)
    df = ExperimentAnalytics(
        experiment_name="sdk-exp",
        sagemaker_session=session,
        sort_by="metrics.test:accuracy.max",  # the SDK examples' spelling
        sort_order="Descending",
    ).dataframe()
    assert list(df["TrialComponentName"]) == ["sdk-run-1", "sdk-run-2", "sdk-run-0"]
    assert list(df["test:accuracy - Max"]) == [0.9, 0.8, 0.7]
    expression = {"Filters": [{"Name": "Parameters.lr", "Operator": "LessThan", "Value": "0.06"}]}
    df = ExperimentAnalytics(search_expression=expression, sagemaker_session=session).dataframe()
    assert sorted(df["TrialComponentName"]) == ["sdk-run-1", "sdk-run-2"]
