"""Experiment / Trial / TrialComponent / Tracker front end (smexperiments' names), over both backends."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from smdbg.tracker import (
    DEBUGGER_TRIAL_MEDIA_TYPE,
    AlreadyExistsError,
    Experiment,
    InvalidValueError,
    NotFoundError,
    Tracker,
    Trial,
    TrialComponent,
)


def test_experiment_trial_tracker_round_trip(db_url: str, tmp_path: Path) -> None:
    exp = Experiment.create(
        "mnist", description="digits", tags=[{"Key": "team", "Value": "vision"}], db_url=db_url
    )
    assert exp.tags == {"team": "vision"}
    trial = exp.create_trial("run-1")
    with Tracker.create(
        display_name="training", db_url=db_url, artifact_location=str(tmp_path / "art")
    ) as tr:
        tr.log_parameters({"lr": 0.01, "optimizer": "adam", "nesterov": True})
        tr.log_input("train-data", "s3://bucket/train.csv", "text/csv")
        for i in range(500):
            tr.log_metric("loss", 1.0 / (i + 1), iteration_number=i)
        trial.add_trial_component(tr)
    tc = TrialComponent.load(tr.trial_component_name, db_url=db_url)
    assert tc.status.primary_status == "Completed"
    assert tc.start_time is not None and tc.end_time is not None and tc.end_time >= tc.start_time
    assert tc.parameters == {"lr": 0.01, "optimizer": "adam", "nesterov": "True"}
    assert tc.input_artifacts["train-data"].media_type == "text/csv"
    (loss,) = tc.metrics
    assert (loss.metric_name, loss.count, loss.min, loss.max, loss.last) == (
        "loss",
        500,
        1 / 500,
        1.0,
        1 / 500,
    )
    points = tc.metric_points("loss")["loss"]
    np.testing.assert_array_equal(points.iterations, np.arange(500))
    assert [t.trial_name for t in Trial.list(experiment_name="mnist", db_url=db_url)] == ["run-1"]
    assert [c.trial_component_name for c in trial.list_trial_components()] == [tr.trial_component_name]
    assert [t.trial_name for t in exp.list_trials()] == ["run-1"]
    trial.remove_trial_component(tr.trial_component_name)
    assert list(trial.list_trial_components()) == []


def test_tracker_marks_failed_with_the_error_and_keeps_points(sqlite_url: str) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with Tracker.create(db_url=sqlite_url) as tr:
            tr.log_metric("loss", 1.5)
            raise RuntimeError("boom")
    tc = TrialComponent.load(tr.trial_component_name, db_url=sqlite_url)
    assert tc.status.primary_status == "Failed" and "boom" in (tc.status.message or "")
    assert tc.metrics[0].count == 1


def test_points_are_buffered_then_flushed_by_size_time_and_flush(sqlite_url: str) -> None:
    # by size and by flush(): a timer that never fires during the test, however slow the machine
    tr = Tracker.create(db_url=sqlite_url, batch_size=100, flush_interval_s=3600)
    other_view = lambda: TrialComponent.load(tr.trial_component_name, db_url=sqlite_url).metrics  # noqa: E731
    for i in range(99):
        tr.log_metric("m", float(i))
    assert other_view() == []  # buffered
    tr.log_metric("m", 99.0)  # the 100th point fills the batch
    assert other_view()[0].count == 100
    tr.log_metric("m", 100.0)
    assert other_view()[0].count == 100
    tr.flush()
    assert other_view()[0].count == 101
    tr.close()
    tr.close()  # idempotent

    # by time: the background flusher writes a point once it is flush_interval_s old
    timed = Tracker.create(db_url=sqlite_url, batch_size=100, flush_interval_s=0.2)
    timed_view = lambda: TrialComponent.load(timed.trial_component_name, db_url=sqlite_url).metrics  # noqa: E731
    timed.log_metric("m", 1.0)
    deadline = time.monotonic() + 60
    while not timed_view() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert timed_view()[0].count == 1
    timed.close()


def test_tracker_is_thread_safe_and_load_by_name(db_url: str) -> None:
    tr = Tracker.create(db_url=db_url, batch_size=50)
    tr.log_debugger_trial("/runs/trial-1")

    def work(k: int) -> None:
        for i in range(300):
            tr.log_metric(f"m{k % 2}", float(i), iteration_number=i)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tr.close()
    again = Tracker.load(tr.trial_component_name, db_url=db_url)
    tc = again.trial_component
    assert sorted((m.metric_name, m.count) for m in tc.metrics) == [("m0", 600), ("m1", 600)]
    art = tc.output_artifacts["debugger-trial"]
    assert (art.value, art.media_type) == ("/runs/trial-1", DEBUGGER_TRIAL_MEDIA_TYPE)


def test_hook_protocol_log_output_metric_flush(sqlite_url: str) -> None:
    """The calls a debugger hook makes (from its own thread) appear in the trial component."""
    tr = Tracker.create(db_url=sqlite_url)

    def hook_thread() -> None:
        tr.log_output(name="debugger-trial", value="/tmp/t", media_type=DEBUGGER_TRIAL_MEDIA_TYPE)
        for step in range(10):
            tr.log_metric("CrossEntropyLoss_output_0", 2.0 - step / 10, iteration_number=step)
        tr.flush()

    t = threading.Thread(target=hook_thread)
    t.start()
    t.join()
    tc = TrialComponent.load(tr.trial_component_name, db_url=sqlite_url)
    assert tc.metrics[0].count == 10 and tc.metrics[0].last == pytest.approx(1.1)
    assert tc.output_artifacts["debugger-trial"].value == "/tmp/t"
    tr.close()


def test_log_artifact_and_artifacts_copy_files(sqlite_url: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "model.json").write_text('{"w": 1}')
    (src / "sub" / "notes.txt").write_text("hello")
    tr = Tracker.create(db_url=sqlite_url, artifact_location=str(tmp_path / "store"))
    uri = tr.log_artifact(src / "model.json", media_type="application/json")
    (src / "model.json").write_text("changed later")  # the stored copy is independent
    assert Path(uri).read_text() == '{"w": 1}' and str(tmp_path / "store") in uri
    uris = tr.log_artifacts(src, is_output=False)
    assert len(uris) == 2
    tc = tr.trial_component
    assert tc.output_artifacts["model"].media_type == "application/json"
    assert Path(tc.input_artifacts["sub/notes"].value).read_text() == "hello"
    assert tc.input_artifacts["sub/notes"].media_type == "text/plain"


def test_charts_and_tables_match_scikit_learn(sqlite_url: str, tmp_path: Path) -> None:
    from sklearn import metrics

    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    score = np.clip(y * 0.3 + rng.random(200) * 0.7, 0, 1)
    tr = Tracker.create(db_url=sqlite_url, artifact_location=str(tmp_path / "store"))
    roc = json.loads(Path(tr.log_roc_curve(y, score)).read_text())
    assert roc["areaUnderCurve"] == pytest.approx(metrics.roc_auc_score(y, score))
    pr = json.loads(Path(tr.log_precision_recall(y, score, title="PR")).read_text())
    assert pr["averagePrecisionScore"] == pytest.approx(metrics.average_precision_score(y, score))
    cm = json.loads(Path(tr.log_confusion_matrix(y, (score > 0.5).astype(int))).read_text())
    assert cm["matrix"] == metrics.confusion_matrix(y, (score > 0.5).astype(int)).tolist()
    tab = json.loads(Path(tr.log_table("scores", {"a": [1, 2], "b": ["x", "y"]})).read_text())
    assert tab["data"] == {"a": [1, 2], "b": ["x", "y"]}
    assert set(tr.trial_component.output_artifacts) == {"ROCCurve", "PR", "ConfusionMatrix", "scores"}


def test_delete_all_removes_everything_in_one_go(db_url: str) -> None:
    exp = Experiment.create("e", db_url=db_url)
    for k in range(3):
        tr = Tracker.create(db_url=db_url)
        tr.log_metric("loss", 1.0)
        tr.close()
        exp.create_trial(f"t{k}").add_trial_component(tr)
    with pytest.raises(InvalidValueError, match="still has trials"):
        exp.delete()
    with pytest.raises(InvalidValueError, match="--force"):
        exp.delete_all(action="yes")
    exp.delete_all(action="--force")
    assert list(Experiment.list(db_url=db_url)) == []
    assert TrialComponent.list(db_url=db_url) == []


def test_default_database_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMDBG_TRACKER_URL", str(tmp_path / "plain-path.db"))
    Experiment.create("via-env")
    assert (tmp_path / "plain-path.db").exists()
    assert [e.experiment_name for e in Experiment.list()] == ["via-env"]


# -- bad input ---------------------------------------------------------------------------------------


def test_bad_input_errors_name_the_value_and_lose_nothing(sqlite_url: str, tmp_path: Path) -> None:
    Experiment.create("exists", db_url=sqlite_url)
    with pytest.raises(AlreadyExistsError, match="'exists'"):
        Experiment.create("exists", db_url=sqlite_url)
    with pytest.raises(NotFoundError, match="'no-such-trial'"):
        Trial.load("no-such-trial", db_url=sqlite_url).add_trial_component("x")
    with pytest.raises(NotFoundError, match="'no-such-exp'"):
        Trial.create("t", experiment_name="no-such-exp", db_url=sqlite_url)
    tr = Tracker.create(db_url=sqlite_url)
    tr.log_metric("loss", 1.0)
    for bad in ("0.5", None, float("nan"), float("inf"), -float("inf"), True):
        with pytest.raises(InvalidValueError, match="'loss'") as info:
            tr.log_metric("loss", bad)  # type: ignore[arg-type]
        assert repr(bad) in str(info.value)
    with pytest.raises(InvalidValueError, match="iteration_number 1.5"):
        tr.log_metric("loss", 1.0, iteration_number=1.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match="does-not-exist.txt"):
        tr.log_artifact(tmp_path / "does-not-exist.txt")
    with pytest.raises(InvalidValueError, match="'lr'"):
        tr.log_parameter("lr", float("nan"))
    with pytest.raises(InvalidValueError, match="Equals"):
        from smdbg.tracker import Filter

        Filter("x", "Equalz", 1)
    tr.log_metric("loss", 2.0)
    tr.close()
    assert tr.trial_component.metrics[0].count == 2  # the good points before and after survived


def test_unreachable_database_url_is_a_clear_error() -> None:
    import socket

    from smdbg.tracker import StorageUnavailableError

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+psycopg://postgres:secret@127.0.0.1:{port}/nothing"
    with pytest.raises(StorageUnavailableError, match=r"127\.0\.0\.1") as info:
        Experiment.create("x", db_url=url)
    assert "secret" not in str(info.value)  # the password is masked
    with pytest.raises(InvalidValueError, match="does not parse"):
        Experiment.list(db_url="not a url://x")
    with pytest.raises(InvalidValueError, match="nosuchdriver"):
        Experiment.list(db_url="postgresql+nosuchdriver://h/db")


def test_schema_newer_than_this_version_is_refused(sqlite_url: str) -> None:
    import sqlalchemy as sa

    from smdbg.tracker import SchemaVersionError, close_all

    Experiment.create("e", db_url=sqlite_url)
    close_all()
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as c:
        c.execute(sa.text("INSERT INTO schema_version (version) VALUES (999)"))
    engine.dispose()
    with pytest.raises(SchemaVersionError, match="999"):
        Experiment.list(db_url=sqlite_url)
