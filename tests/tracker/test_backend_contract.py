"""The storage contract (smdbg/tracker/_backend.py), run against every backend: SQLite and a real
PostgreSQL server."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from smdbg.tracker import AlreadyExistsError, InvalidValueError, NotFoundError, get_backend
from smdbg.tracker._records import (
    ComponentRecord,
    ExperimentRecord,
    MetricBatch,
    TrialComponentArtifact,
    TrialRecord,
)


def _exp(name: str) -> ExperimentRecord:
    return ExperimentRecord(name, name, "about " + name, {"team": "a"}, time.time())


def _comp(name: str, **kw: object) -> ComponentRecord:
    now = time.time()
    return ComponentRecord(name, name, "InProgress", None, None, None, now, now, **kw)  # type: ignore[arg-type]


def _batch(name: str, values: np.ndarray, first_iteration: int = 0) -> MetricBatch:
    n = len(values)
    return MetricBatch(name, values, np.full(n, 1.0e9), np.arange(first_iteration, first_iteration + n))


def test_experiments_create_get_list_delete(db_url: str) -> None:
    b = get_backend(db_url)
    b.create_experiment(_exp("e1"))
    b.create_experiment(_exp("e2"))
    got = b.get_experiment("e1")
    assert (got.name, got.description, got.tags) == ("e1", "about e1", {"team": "a"})
    assert [e.name for e in b.list_experiments()] == ["e1", "e2"]
    with pytest.raises(AlreadyExistsError, match="'e1'"):
        b.create_experiment(_exp("e1"))
    b.delete_experiment("e2", cascade=False)
    assert [e.name for e in b.list_experiments()] == ["e1"]
    with pytest.raises(NotFoundError, match="'e2'"):
        b.get_experiment("e2")


def test_trials_and_associations(db_url: str) -> None:
    b = get_backend(db_url)
    b.create_experiment(_exp("e"))
    b.create_component(_comp("c1", parameters={"lr": 0.1, "opt": "sgd"}))
    b.create_component(_comp("c2"))
    b.create_trial(TrialRecord("t1", "e", "t1", {}, time.time()), ["c1"])
    b.create_trial(TrialRecord("t2", "e", "t2", {}, time.time()))
    b.associate("t2", "c1")
    b.associate("t2", "c1")  # idempotent
    b.associate("t2", "c2")
    assert [t.name for t in b.list_trials("e")] == ["t1", "t2"]
    assert [t.name for t in b.list_trials(component_name="c2")] == ["t2"]
    assert [c.name for c in b.list_components(trial_name="t1")] == ["c1"]
    c1 = b.get_component("c1")
    assert c1.trial_names == ("t1", "t2") and c1.experiment_names == ("e",)
    assert c1.parameters == {"lr": 0.1, "opt": "sgd"}
    with pytest.raises(InvalidValueError, match="still has trial components"):
        b.delete_trial("t2")
    b.associate("t2", "c1", associated=False)
    b.associate("t2", "c2", associated=False)
    b.delete_trial("t2")
    assert [t.name for t in b.list_trials()] == ["t1"]
    with pytest.raises(InvalidValueError, match="still has trials"):
        b.delete_experiment("e", cascade=False)


def test_trial_in_missing_experiment_and_missing_component(db_url: str) -> None:
    b = get_backend(db_url)
    with pytest.raises(NotFoundError, match="'nope'"):
        b.create_trial(TrialRecord("t", "nope", "t", {}, time.time()))
    b.create_experiment(_exp("e"))
    with pytest.raises(NotFoundError, match="'ghost'"):
        b.create_trial(TrialRecord("t", "e", "t", {}, time.time()), ["ghost"])
    assert b.list_trials() == []  # nothing half-written
    with pytest.raises(NotFoundError, match="trial 't'"):
        b.associate("t", "ghost")
    b.create_trial(TrialRecord("t", "e", "t", {}, time.time()))
    with pytest.raises(NotFoundError, match="trial component 'ghost'"):
        b.associate("t", "ghost")


def test_write_parameters_artifacts_and_metric_summaries(db_url: str) -> None:
    b = get_backend(db_url)
    b.create_component(_comp("c"))
    rng = np.random.default_rng(0)
    parts = [rng.normal(5, 2, n) for n in (1, 7, 100, 3)]
    for i, part in enumerate(parts):
        b.write(
            "c",
            parameters={"epochs": i, "name": f"run{i}"},
            output_artifacts={"model": TrialComponentArtifact(f"s3://b/m{i}", "application/x-model")},
            metrics=[_batch("loss", part), _batch("acc", part[:1])],
        )
    b.write("c", input_artifacts={"data": TrialComponentArtifact("/data/train.csv")})
    rec = b.get_component("c")
    allv = np.concatenate(parts)
    s = rec.metrics["loss"]
    assert s.count == len(allv)
    assert s.min == allv.min() and s.max == allv.max() and s.last == allv[-1]
    assert s.avg == pytest.approx(allv.mean(), rel=1e-12)
    assert s.std_dev == pytest.approx(allv.std(ddof=1), rel=1e-10)
    assert rec.metrics["acc"].count == 4
    assert rec.parameters == {"epochs": 3.0, "name": "run3"}
    assert rec.output_artifacts["model"] == TrialComponentArtifact("s3://b/m3", "application/x-model")
    assert rec.input_artifacts["data"].value == "/data/train.csv"
    (points,) = b.read_metric_points("c", "loss")
    np.testing.assert_array_equal(points.values, allv)
    assert len(b.read_metric_points("c")) == 2


def test_write_to_missing_component_writes_nothing(db_url: str) -> None:
    b = get_backend(db_url)
    with pytest.raises(NotFoundError, match="'ghost'"):
        b.write("ghost", metrics=[_batch("loss", np.ones(3))])


def test_update_and_delete_component(db_url: str) -> None:
    b = get_backend(db_url)
    b.create_component(_comp("c", tags={"a": "1"}))
    b.update_component("c", status="Completed", end_time=123.0, tags={"b": "2"})
    rec = b.get_component("c")
    assert (rec.status, rec.end_time, rec.tags) == ("Completed", 123.0, {"a": "1", "b": "2"})
    b.write("c", metrics=[_batch("loss", np.ones(3))])
    b.delete_component("c")
    with pytest.raises(NotFoundError):
        b.get_component("c")
    b.create_component(_comp("c"))  # the name is free again, with no old points
    assert b.read_metric_points("c") == []


def test_delete_experiment_cascade_keeps_shared_components(db_url: str) -> None:
    b = get_backend(db_url)
    for e in ("e", "other"):
        b.create_experiment(_exp(e))
    for c in ("mine", "shared"):
        b.create_component(_comp(c))
        b.write(c, metrics=[_batch("loss", np.ones(2))])
    b.create_trial(TrialRecord("t", "e", "t", {}, time.time()), ["mine", "shared"])
    b.create_trial(TrialRecord("t-other", "other", "t-other", {}, time.time()), ["shared"])
    b.delete_experiment("e", cascade=True)
    assert [e.name for e in b.list_experiments()] == ["other"]
    with pytest.raises(NotFoundError):
        b.get_component("mine")
    assert b.get_component("shared").trial_names == ("t-other",)
    assert [c.name for c in b.list_components(experiment_name="other")] == ["shared"]


def test_concurrent_writers_from_threads_lose_nothing(db_url: str) -> None:
    b = get_backend(db_url)
    b.create_component(_comp("c"))
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(20):
                b.write("c", parameters={f"p{k}": i}, metrics=[_batch("loss", np.full(10, float(k)))])
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rec = b.get_component("c")
    assert rec.metrics["loss"].count == 6 * 20 * 10
    assert rec.metrics["loss"].avg == pytest.approx(2.5)
    assert len(rec.parameters) == 6
    assert len(b.read_metric_points("c", "loss")[0].values) == 1200
