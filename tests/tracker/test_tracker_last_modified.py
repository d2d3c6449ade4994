"""When experiments and trials were last modified (schema version 2), on SQLite and PostgreSQL: what
moves ``last_modified_time``, what does not, and a version-1 database migrating with its data."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from smdbg.tracker import Experiment, Trial, TrialComponent
from smdbg.tracker._records import last_modified, to_datetime
from smdbg.tracker._schema import MIGRATIONS, SCHEMA_VERSION, schema_version
from smdbg.tracker._sql import SqlBackend


def _reads(db_url: str) -> None:
    """Every way to read experiments and trials; none may move a last-modified time."""
    for e in Experiment.list(db_url=db_url):
        list(e.list_trials())
    list(Experiment.search({"Filters": [{"Name": "ExperimentName", "Operator": "Contains", "Value": "e"}]},
                           db_url=db_url))  # fmt: skip
    for t in Trial.list(db_url=db_url):
        list(t.list_trial_components())
    TrialComponent.list(db_url=db_url)


def test_experiment_last_modified_moves_on_update_only(db_url: str) -> None:
    e = Experiment.create("e", description="first", db_url=db_url)
    assert e.last_modified_time == e.creation_time == Experiment.load("e", db_url=db_url).last_modified_time
    _reads(db_url)
    assert Experiment.load("e", db_url=db_url).last_modified_time == e.creation_time

    e.update(description="second")
    first = e.last_modified_time
    assert first > e.creation_time
    assert Experiment.load("e", db_url=db_url).last_modified_time == first
    e.update()  # nothing given: nothing changes
    _reads(db_url)
    assert Experiment.load("e", db_url=db_url).last_modified_time == first == e.last_modified_time

    loaded = Experiment.load("e", db_url=db_url)
    loaded.display_name = "Shown"
    loaded.save()
    assert loaded.last_modified_time > first
    again = Experiment.load("e", db_url=db_url)
    assert (again.display_name, again.last_modified_time) == ("Shown", loaded.last_modified_time)
    assert again.creation_time == e.creation_time
    assert next(Experiment.search(
        {"Filters": [{"Name": "LastModifiedTime", "Operator": "GreaterThan", "Value": str(first.timestamp())}]},
        db_url=db_url,
    )).experiment_name == "e"  # fmt: skip


def test_trial_last_modified_moves_on_update_and_association(db_url: str) -> None:
    e = Experiment.create("e", db_url=db_url)
    t = Trial.create("t", "e", db_url=db_url)
    TrialComponent.create("c", db_url=db_url)
    assert t.last_modified_time == t.creation_time == Trial.load("t", db_url=db_url).last_modified_time

    def stored() -> object:
        return Trial.load("t", db_url=db_url).last_modified_time

    def save() -> None:
        t.display_name = "T three"
        t.save()

    seen = [t.creation_time]
    for change in (
        lambda: t.update(display_name="T two"),
        save,
        lambda: t.add_trial_component("c"),
        lambda: t.remove_trial_component("c"),
    ):
        change()
        assert t.last_modified_time > seen[-1]
        assert stored() == t.last_modified_time
        seen.append(t.last_modified_time)
        _reads(db_url)
        assert stored() == seen[-1]

    # no change, no modification: an update with nothing, an association that is already (not) there
    t.update()
    t.remove_trial_component("c")
    t.add_trial_component("c")
    assert t.last_modified_time > seen[-1]
    seen.append(t.last_modified_time)
    t.add_trial_component("c")
    assert stored() == seen[-1] == t.last_modified_time
    assert Trial.load("t", db_url=db_url).display_name == "T three"
    # the experiment is not modified by what happens to its trials
    assert Experiment.load("e", db_url=db_url).last_modified_time == e.creation_time


def _v1_database(db_url: str) -> None:
    """A database as smdbg with schema version 1 left it, with one of everything in it."""
    if db_url.startswith("sqlite:///"):
        Path(db_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(db_url)
    try:
        with engine.begin() as conn:
            schema_version.create(conn)
            MIGRATIONS[0](conn)
            conn.execute(sa.insert(schema_version).values(version=1))
            assert "last_modified_time" not in {c["name"] for c in sa.inspect(conn).get_columns("experiments")}
            for sql in (
                "INSERT INTO experiments (name, display_name, description, tags, creation_time) "
                "VALUES ('old-e', 'Old E', 'kept', '{\"team\": \"a\"}', 1000.0)",
                "INSERT INTO trials (name, experiment_id, display_name, tags, creation_time) "
                "SELECT 'old-t', id, 'Old T', '{}', 1001.0 FROM experiments",
                "INSERT INTO trial_components (name, display_name, status, creation_time, last_modified_time, tags) "
                "VALUES ('old-c', 'Old C', 'Completed', 1002.0, 1003.0, '{}')",
                "INSERT INTO trial_component_associations (trial_id, component_id) "
                "SELECT t.id, c.id FROM trials t, trial_components c",
                "INSERT INTO parameters (component_id, name, number_value) SELECT id, 'lr', 0.1 FROM trial_components",
            ):
                conn.exec_driver_sql(sql)
    finally:
        engine.dispose()


def test_version_1_database_migrates_and_keeps_its_data(db_url: str) -> None:
    _v1_database(db_url)
    e = Experiment.load("old-e", db_url=db_url)  # opening migrates
    assert (e.display_name, e.description, e.tags) == ("Old E", "kept", {"team": "a"})
    assert e.creation_time.timestamp() == 1000.0 == e.last_modified_time.timestamp()
    t = Trial.load("old-t", db_url=db_url)
    assert (t.experiment_name, t.display_name) == ("old-e", "Old T")
    assert t.creation_time.timestamp() == 1001.0 == t.last_modified_time.timestamp()
    (c,) = t.list_trial_components()
    assert (c.trial_component_name, c.parameters, c.status.primary_status) == ("old-c", {"lr": 0.1}, "Completed")
    assert (c.creation_time.timestamp(), c.last_modified_time.timestamp()) == (1002.0, 1003.0)

    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            versions = [r[0] for r in conn.execute(sa.select(schema_version.c.version).order_by("version"))]
            stored = conn.exec_driver_sql(
                "SELECT e.last_modified_time, t.last_modified_time FROM experiments e JOIN trials t "
                "ON t.experiment_id = e.id WHERE e.name = 'old-e'"
            ).one()
            # a row a process still on version 1 writes after the migration has no last-modified time
            conn.exec_driver_sql(
                "INSERT INTO experiments (name, display_name, tags, creation_time) VALUES ('v1-e', 'v1-e', '{}', 2000.0)"
            )
            conn.commit()
    finally:
        engine.dispose()
    assert versions == list(range(1, SCHEMA_VERSION + 1)) and SCHEMA_VERSION >= 2
    assert tuple(stored) == (1000.0, 1001.0)  # the migration set them to the creation times
    assert Experiment.load("v1-e", db_url=db_url).last_modified_time.timestamp() == 2000.0

    e.update(description="changed")
    t.update(display_name="New T")
    assert e.last_modified_time.timestamp() > 1000.0 and t.last_modified_time.timestamp() > 1001.0
    reopened = SqlBackend(db_url)  # a second open finds version 2: no migration runs again
    try:
        assert to_datetime(last_modified(reopened.get_experiment("old-e"))) == e.last_modified_time
    finally:
        reopened.close()
