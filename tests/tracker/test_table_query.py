"""``query_components`` (smdbg/tracker/_table.py) on every backend: the SQL answer equals the
reference answer (``page_in_memory``) for sorts, filters, searches and slices, and bad fields are
refused with a message naming them."""

from __future__ import annotations

import time

import numpy as np
import pytest

from smdbg.tracker import ComponentQuery, Filter, InvalidValueError, NotFoundError, get_backend
from smdbg.tracker._records import ComponentRecord, ExperimentRecord, MetricBatch, TrialRecord
from smdbg.tracker._table import page_in_memory


@pytest.fixture()
def backend(db_url: str):  # type: ignore[no-untyped-def]
    b = get_backend(db_url)
    now = time.time()
    b.create_experiment(ExperimentRecord("exp", "exp", None, {}, now))
    b.create_experiment(ExperimentRecord("other", "other", None, {}, now))
    names = []
    for i in range(12):
        name = f"run-{i:02d}"
        names.append(name)
        status = "Completed" if i % 3 else "Failed"
        b.create_component(ComponentRecord(name, f"Run {i}", status, None, now + i, None, now + i, now + i))
        params: dict[str, str | float] = {"lr": [0.1, 0.01, 0.001][i % 3], "opt": ["sgd", "adam"][i % 2]}
        if i % 4 == 0:
            params["odd"] = "x" if i else 5.0  # mixed kinds; missing on most
        loss = np.linspace(1.0, 0.1 * (i + 1), 5 + i)
        metrics = [MetricBatch("loss", loss, np.full(len(loss), now), np.arange(len(loss)))]
        if i % 2:
            metrics.append(MetricBatch("acc", np.array([0.5, 0.6 + i / 100]), np.full(2, now), np.arange(2)))
        b.write(name, parameters=params, metrics=metrics)
    b.create_trial(TrialRecord("t-a", "exp", "t-a", {}, now), names[:8])
    b.create_trial(TrialRecord("t-b", "exp", "t-b", {}, now + 1), names[8:11])
    b.create_trial(TrialRecord("t-o", "other", "t-o", {}, now + 2), names[11:])
    return b


QUERIES = [
    ComponentQuery(experiment_name="exp"),
    ComponentQuery(experiment_name="exp", sort_by="Metrics.loss.Last", descending=True, limit=4),
    ComponentQuery(experiment_name="exp", sort_by="Metrics.acc.Max", offset=2, limit=5),
    ComponentQuery(experiment_name="exp", sort_by="Metrics.loss.StdDev"),
    ComponentQuery(experiment_name="exp", sort_by="Parameters.lr", descending=True),
    ComponentQuery(experiment_name="exp", sort_by="Parameters.odd"),
    ComponentQuery(experiment_name="exp", sort_by="Parameters.odd", descending=True),
    ComponentQuery(experiment_name="exp", sort_by="Status"),
    ComponentQuery(trial_name="t-b", sort_by="DisplayName", descending=True),
    ComponentQuery(search="ADAM"),
    ComponentQuery(search="run-1"),
    ComponentQuery(search="fail"),
    ComponentQuery(search="%"),
    ComponentQuery(filters=[Filter("Parameters.lr", "LessThan", 0.05)], sort_by="Metrics.loss.Min"),
    ComponentQuery(filters=[Filter("Parameters.opt", "Equals", "sgd"), Filter("Status", "Equals", "Completed")]),
    ComponentQuery(filters=[Filter("Parameters.opt", "NotEquals", "sgd")]),
    ComponentQuery(filters=[Filter("Parameters.odd", "NotEquals", "x")]),
    ComponentQuery(filters=[Filter("Parameters.odd", "Exists")]),
    ComponentQuery(filters=[Filter("Metrics.acc.Last", "GreaterThanOrEqualTo", 0.65)]),
    ComponentQuery(filters=[Filter("Metrics.acc.Count", "NotEquals", 2)]),
    ComponentQuery(filters=[Filter("Metrics.loss.StdDev", "GreaterThan", 0.2)]),
    ComponentQuery(filters=[Filter("Metrics.acc.Min", "NotExists")], sort_by="TrialComponentName"),
    ComponentQuery(filters=[Filter("TrialComponentName", "Contains", "-0")], search="sgd"),
    ComponentQuery(filters=[Filter("StartTime", "GreaterThan", 0)], sort_by="StartTime", descending=True),
    ComponentQuery(experiment_name="exp", metrics=["acc"], with_names=False, offset=3, limit=3),
    ComponentQuery(experiment_name="exp", offset=50),
    ComponentQuery(experiment_name="exp", first_metrics=1, sort_by="Metrics.loss.Min"),
    ComponentQuery(experiment_name="exp", first_metrics=1, limit=1),
    ComponentQuery(experiment_name="exp", first_metrics=0, metrics=["loss"]),
]


@pytest.mark.parametrize("q", QUERIES, ids=[str(i) for i in range(len(QUERIES))])
def test_sql_answer_equals_the_reference(backend, q: ComponentQuery) -> None:  # type: ignore[no-untyped-def]
    got = backend.query_components(q)
    want = page_in_memory(backend.list_components(q.experiment_name, q.trial_name), q)
    assert [r.name for r in got.components] == [r.name for r in want.components]
    assert got.total == want.total
    assert got.parameter_names == want.parameter_names
    assert got.metric_names == want.metric_names
    assert got.components == want.components


def test_expected_order_and_counts(backend) -> None:  # type: ignore[no-untyped-def]
    page = backend.query_components(ComponentQuery(experiment_name="exp", sort_by="Metrics.loss.Last", limit=3))
    assert page.total == 11
    assert [r.name for r in page.components] == ["run-00", "run-01", "run-02"]
    assert page.parameter_names == ["lr", "odd", "opt"]
    assert page.metric_names == ["acc", "loss"]
    adam = backend.query_components(ComponentQuery(search="adam", limit=100))
    assert {r.name for r in adam.components} == {f"run-{i:02d}" for i in range(1, 12, 2)}


def test_count_components_by_trial(backend) -> None:  # type: ignore[no-untyped-def]
    backend.create_trial(TrialRecord("t-empty", "exp", "t-empty", {}, time.time()))
    assert backend.count_components("exp") == {"t-a": 8, "t-b": 3, "t-empty": 0}
    with pytest.raises(NotFoundError, match="'nope'"):
        backend.count_components("nope")


def test_bad_queries_name_the_value(backend) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidValueError, match="'Metrics.loss.Median'"):
        ComponentQuery(sort_by="Metrics.loss.Median")
    with pytest.raises(InvalidValueError, match="'Bogus'"):
        ComponentQuery(filters=[Filter("Bogus", "Equals", 1)])
    with pytest.raises(InvalidValueError, match="offset -1"):
        ComponentQuery(offset=-1)
    with pytest.raises(NotFoundError, match="'nope'"):
        backend.query_components(ComponentQuery(experiment_name="nope"))
