"""Updating experiments and trials, removing a component's parameters and artifacts, and the
race-safe create-or-load of experiments and trials; on every backend (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from smdbg.testing.race import run_together
from smdbg.tracker import (
    Experiment,
    InvalidValueError,
    NotFoundError,
    Trial,
    TrialComponent,
    TrialComponentArtifact,
    get_backend,
)


def test_experiment_and_trial_update(db_url: str) -> None:
    e = Experiment.create("e", description="first", display_name="E one", db_url=db_url)
    assert e.update(description="second") is e
    assert (e.display_name, e.description) == ("E one", "second")
    loaded = Experiment.load("e", db_url=db_url)
    assert (loaded.display_name, loaded.description) == ("E one", "second")
    loaded.display_name = "E two"
    loaded.save()
    assert (Experiment.load("e", db_url=db_url).display_name, Experiment.load("e", db_url=db_url).description) == (
        "E two",
        "second",
    )

    t = Trial.create("t", "e", db_url=db_url, display_name="T one")
    assert Trial.load("t", db_url=db_url).display_name == "T one"
    t.update(display_name="T two")
    assert Trial.load("t", db_url=db_url).display_name == "T two" == t.display_name
    t.update()  # nothing given: nothing changes
    assert Trial.load("t", db_url=db_url).display_name == "T two"

    backend = get_backend(db_url)
    with pytest.raises(NotFoundError, match="'nope'"):
        backend.update_experiment("nope", description="x")
    with pytest.raises(NotFoundError, match="'nope'"):
        backend.update_trial("nope", display_name="x")
    Experiment.load("e", db_url=db_url).delete_all(action="--force")
    with pytest.raises(NotFoundError, match="'e'"):
        e.update(display_name="gone")


def test_component_removal(db_url: str) -> None:
    tc = TrialComponent.create("c", db_url=db_url)
    tc.parameters.update({"lr": 0.1, "opt": "sgd", "epochs": 3})
    tc.input_artifacts["data"] = TrialComponentArtifact("s3://b/train.csv", "text/csv")
    tc.input_artifacts["extra"] = TrialComponentArtifact("s3://b/extra.csv")
    tc.output_artifacts["model"] = TrialComponentArtifact("s3://b/model.tar.gz")
    tc.save()

    # deleted from the object, then saved: removed in the database
    del tc.parameters["opt"]
    del tc.input_artifacts["extra"]
    tc.save()
    got = TrialComponent.load("c", db_url=db_url)
    assert got.parameters == {"lr": 0.1, "epochs": 3.0}
    assert set(got.input_artifacts) == {"data"} and set(got.output_artifacts) == {"model"}

    # smexperiments' *_to_remove attributes; a name the component lacks is skipped
    got.parameters_to_remove = ["epochs", "never-set"]
    got.output_artifacts_to_remove = ["model"]
    got.save()
    got = TrialComponent.load("c", db_url=db_url)
    assert got.parameters == {"lr": 0.1} and got.output_artifacts == {}
    assert got.parameters_to_remove == []

    # a bad name is refused before anything is written
    got.parameters["new"] = 1.0
    got.parameters_to_remove = [""]
    with pytest.raises(InvalidValueError, match="name '' is not valid"):
        got.save()
    assert TrialComponent.load("c", db_url=db_url).parameters == {"lr": 0.1}
    got = TrialComponent.load("c", db_url=db_url)

    # remove(): at once, then the object is reloaded
    assert got.remove(parameters=["lr"], input_artifacts=["data"]) is got
    assert got.parameters == {} and got.input_artifacts == {}
    with pytest.raises(InvalidValueError, match="expected a list of names"):
        got.remove(parameters="lr")  # type: ignore[arg-type]
    with pytest.raises(NotFoundError, match="'missing'"):
        get_backend(db_url).remove("missing", parameters=["lr"])


def test_load_or_create(db_url: str) -> None:
    e = Experiment.load_or_create("e", description="made here", db_url=db_url)
    again = Experiment.load_or_create("e", description="ignored: it exists", db_url=db_url)
    assert (e.experiment_name, again.description) == ("e", "made here")
    t = Trial.load_or_create("t", "e", display_name="T", db_url=db_url)
    assert Trial.load_or_create("t", "e", db_url=db_url).display_name == "T" == t.display_name
    Experiment.create("other", db_url=db_url)
    with pytest.raises(InvalidValueError, match="belongs to experiment 'e', not 'other'"):
        Trial.load_or_create("t", "other", db_url=db_url)
    with pytest.raises(NotFoundError, match="'nope'"):
        Trial.load_or_create("t2", "nope", db_url=db_url)


def test_load_or_create_race(sqlite_url: str) -> None:
    """Threads behind a barrier all ask for the same new experiment and trial: one row each, every
    thread gets it, none fails."""
    n = 8

    def worker(i: int) -> tuple[str, str]:
        e = Experiment.load_or_create("raced", description=f"by {i}", db_url=sqlite_url)
        t = Trial.load_or_create("raced-trial", e.experiment_name, db_url=sqlite_url)
        return e.description or "", t.trial_name

    got = run_together(n, worker)  # raises the first error any thread met
    assert {t for _, t in got} == {"raced-trial"}
    assert [x.experiment_name for x in Experiment.list(db_url=sqlite_url)] == ["raced"]
    assert [x.trial_name for x in Trial.list("raced", db_url=sqlite_url)] == ["raced-trial"]
    winner = Experiment.load("raced", db_url=sqlite_url).description
    assert {d for d, _ in got} == {winner}  # every thread sees the one row the winner wrote
