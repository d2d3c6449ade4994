"""The SQLAlchemy storage backend (SQLite and PostgreSQL). The contract is in ``_backend.py``."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc

from smdbg.tracker._backend import TrackerBackend
from smdbg.tracker._errors import AlreadyExistsError, InvalidValueError, NotFoundError
from smdbg.tracker._records import (
    ComponentRecord,
    ExperimentRecord,
    MetricBatch,
    MetricPoints,
    TrialComponentArtifact,
    TrialRecord,
    last_modified,
)
from smdbg.tracker._schema import tables as T
from smdbg.tracker._sql_engine import Database
from smdbg.tracker._sql_rows import (
    id_of,
    load_components,
    modified,
    points_of,
    remove_rows,
    tags_of,
    write_rows,
)
from smdbg.tracker._sql_table import query_page
from smdbg.tracker._table import ComponentPage, ComponentQuery

__all__ = ["SqlBackend"]


class SqlBackend(TrackerBackend):
    """Tracker storage in SQLite (embedded, WAL mode) or PostgreSQL, through SQLAlchemy."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._db = Database(url)

    # -- experiments ---------------------------------------------------------------------------
    def create_experiment(self, record: ExperimentRecord) -> None:
        def run(conn: sa.Connection) -> None:
            if conn.execute(sa.select(T.experiments.c.id).where(T.experiments.c.name == record.name)).first():
                raise AlreadyExistsError(
                    f"experiment {record.name!r} already exists; use Experiment.load({record.name!r}) "
                    "or choose another name"
                )
            conn.execute(
                sa.insert(T.experiments).values(
                    name=record.name,
                    display_name=record.display_name,
                    description=record.description,
                    tags=json.dumps(record.tags),
                    creation_time=record.creation_time,
                    last_modified_time=last_modified(record),
                )
            )

        self._create(run, "experiment", record.name)

    def _create(self, run: Any, kind: str, name: str) -> None:
        try:
            self._db.transaction(run)
        except exc.IntegrityError as e:  # lost a race with another creator of the same name
            raise AlreadyExistsError(f"{kind} {name!r} already exists; choose another name") from e

    def get_experiment(self, name: str) -> ExperimentRecord:
        found = [r for r in self._experiments(T.experiments.c.name == name)]
        if not found:
            raise NotFoundError(f"experiment {name!r} does not exist; create it with Experiment.create")
        return found[0]

    def list_experiments(self) -> list[ExperimentRecord]:
        return self._experiments(sa.true())

    def _experiments(self, where: Any) -> list[ExperimentRecord]:
        e = T.experiments.c
        q = sa.select(e.name, e.display_name, e.description, e.tags, e.creation_time, modified(T.experiments))
        rows = self._db.transaction(
            lambda c: c.execute(q.where(where).order_by(e.creation_time, e.id)).all(), read=True
        )
        return [ExperimentRecord(r[0], r[1], r[2], tags_of(r[3]), r[4], r[5]) for r in rows]

    def update_experiment(
        self, name: str, *, display_name: str | None = None, description: str | None = None
    ) -> None:
        self._update(T.experiments, "experiment", name, display_name=display_name, description=description)

    def _update(
        self, table: sa.Table, kind: str, name: str, tags: Mapping[str, str] | None = None, **fields: Any
    ) -> None:
        """Set the fields given as not None of the row named ``name`` (NotFoundError if missing);
        ``tags`` are merged into the row's tags. Anything written sets its ``last_modified_time``."""
        values = {k: v for k, v in fields.items() if v is not None}

        def run(conn: sa.Connection) -> None:
            row_id = id_of(conn, table, kind, name)
            if tags:
                old = conn.execute(sa.select(table.c.tags).where(table.c.id == row_id)).scalar()
                values["tags"] = json.dumps({**tags_of(old), **tags})
            if values:
                values["last_modified_time"] = time.time()
                conn.execute(sa.update(table).where(table.c.id == row_id).values(**values))

        self._db.transaction(run)

    def delete_experiment(self, name: str, cascade: bool) -> None:
        def run(conn: sa.Connection) -> None:
            eid = id_of(conn, T.experiments, "experiment", name)
            trial_ids = sa.select(T.trials.c.id).where(T.trials.c.experiment_id == eid)
            if not cascade:
                if conn.execute(trial_ids.limit(1)).first():
                    raise InvalidValueError(
                        f"experiment {name!r} still has trials; delete them first or call "
                        "experiment.delete_all(action='--force')"
                    )
            else:
                a = T.associations.c
                mine = sa.select(a.component_id).where(a.trial_id.in_(trial_ids))
                shared = sa.select(a.component_id).where(a.trial_id.not_in(trial_ids))
                only_mine = [r[0] for r in conn.execute(mine.except_(shared)).all()]
                self._delete_components(conn, only_mine)
                conn.execute(sa.delete(T.associations).where(a.trial_id.in_(trial_ids)))
                conn.execute(sa.delete(T.trials).where(T.trials.c.experiment_id == eid))
            conn.execute(sa.delete(T.experiments).where(T.experiments.c.id == eid))

        self._db.transaction(run)

    # -- trials --------------------------------------------------------------------------------
    def create_trial(self, record: TrialRecord, component_names: Sequence[str] = ()) -> None:
        def run(conn: sa.Connection) -> None:
            eid = id_of(conn, T.experiments, "experiment", record.experiment_name)
            if conn.execute(sa.select(T.trials.c.id).where(T.trials.c.name == record.name)).first():
                raise AlreadyExistsError(
                    f"trial {record.name!r} already exists; use Trial.load({record.name!r}) or choose another name"
                )
            tid = conn.execute(
                sa.insert(T.trials)
                .values(
                    name=record.name,
                    experiment_id=eid,
                    display_name=record.display_name,
                    tags=json.dumps(record.tags),
                    creation_time=record.creation_time,
                    last_modified_time=last_modified(record),
                )
                .returning(T.trials.c.id)
            ).scalar_one()
            for cname in component_names:
                cid = id_of(conn, T.components, "trial component", cname)
                conn.execute(sa.insert(T.associations).values(trial_id=tid, component_id=cid))

        self._create(run, "trial", record.name)

    def get_trial(self, name: str) -> TrialRecord:
        found = self._trials(T.trials.c.name == name)
        if not found:
            raise NotFoundError(
                f"trial {name!r} does not exist; create it with Trial.create or experiment.create_trial"
            )
        return found[0]

    def list_trials(
        self, experiment_name: str | None = None, component_name: str | None = None
    ) -> list[TrialRecord]:
        where: Any = sa.true()
        if experiment_name is not None:
            self.get_experiment(experiment_name)
            where = sa.and_(where, T.experiments.c.name == experiment_name)
        if component_name is not None:
            a = T.associations.c
            in_trial = sa.select(a.trial_id).join(T.components, T.components.c.id == a.component_id)
            where = sa.and_(where, T.trials.c.id.in_(in_trial.where(T.components.c.name == component_name)))
        return self._trials(where)

    def _trials(self, where: Any) -> list[TrialRecord]:
        t, e = T.trials.c, T.experiments.c
        q = (
            sa.select(t.name, e.name, t.display_name, t.tags, t.creation_time, modified(T.trials))
            .join(T.experiments, e.id == t.experiment_id)
            .where(where)
            .order_by(t.creation_time, t.id)
        )
        rows = self._db.transaction(lambda c: c.execute(q).all(), read=True)
        return [TrialRecord(r[0], r[1], r[2], tags_of(r[3]), r[4], r[5]) for r in rows]

    def update_trial(self, name: str, *, display_name: str | None = None) -> None:
        self._update(T.trials, "trial", name, display_name=display_name)

    def delete_trial(self, name: str) -> None:
        def run(conn: sa.Connection) -> None:
            tid = id_of(conn, T.trials, "trial", name)
            a = T.associations.c
            if conn.execute(sa.select(a.component_id).where(a.trial_id == tid).limit(1)).first():
                raise InvalidValueError(
                    f"trial {name!r} still has trial components; remove them first "
                    "(trial.remove_trial_component) or call trial.delete_all(action='--force')"
                )
            conn.execute(sa.delete(T.trials).where(T.trials.c.id == tid))

        self._db.transaction(run)

    def associate(self, trial_name: str, component_name: str, associated: bool = True) -> None:
        def run(conn: sa.Connection) -> None:
            tid = id_of(conn, T.trials, "trial", trial_name)
            cid = id_of(conn, T.components, "trial component", component_name)
            a = T.associations.c
            exists = conn.execute(
                sa.select(a.trial_id).where(a.trial_id == tid, a.component_id == cid)
            ).first()
            if associated == bool(exists):
                return  # nothing changes, so the trial is not modified
            if associated:
                conn.execute(sa.insert(T.associations).values(trial_id=tid, component_id=cid))
            else:
                conn.execute(sa.delete(T.associations).where(a.trial_id == tid, a.component_id == cid))
            now = time.time()
            conn.execute(sa.update(T.trials).where(T.trials.c.id == tid).values(last_modified_time=now))

        self._db.transaction(run)

    # -- trial components ----------------------------------------------------------------------
    def create_component(self, record: ComponentRecord) -> None:
        def run(conn: sa.Connection) -> None:
            if conn.execute(sa.select(T.components.c.id).where(T.components.c.name == record.name)).first():
                raise AlreadyExistsError(
                    f"trial component {record.name!r} already exists; load it or choose another name"
                )
            conn.execute(
                sa.insert(T.components).values(
                    name=record.name,
                    display_name=record.display_name,
                    status=record.status,
                    status_message=record.status_message,
                    start_time=record.start_time,
                    end_time=record.end_time,
                    creation_time=record.creation_time,
                    last_modified_time=record.last_modified_time,
                    tags=json.dumps(record.tags),
                )
            )
            write_rows(
                conn,
                self._db.is_sqlite,
                record.name,
                record.parameters,
                record.input_artifacts,
                record.output_artifacts,
                (),
            )

        self._create(run, "trial component", record.name)

    def get_component(self, name: str) -> ComponentRecord:
        found = self._db.transaction(
            lambda c: load_components(c, sa.select(T.components.c.id).where(T.components.c.name == name)),
            read=True,
        )
        if not found:
            raise NotFoundError(f"trial component {name!r} does not exist; check the name")
        return found[0]

    def list_components(
        self, experiment_name: str | None = None, trial_name: str | None = None
    ) -> list[ComponentRecord]:
        a, t = T.associations.c, T.trials.c
        ids: Any = sa.select(T.components.c.id)
        if trial_name is not None:
            self.get_trial(trial_name)
            ids = sa.select(a.component_id).join(T.trials, t.id == a.trial_id).where(t.name == trial_name)
        elif experiment_name is not None:
            self.get_experiment(experiment_name)
            ids = (
                sa.select(a.component_id)
                .join(T.trials, t.id == a.trial_id)
                .join(T.experiments, T.experiments.c.id == t.experiment_id)
                .where(T.experiments.c.name == experiment_name)
            )
        return self._db.transaction(lambda c: load_components(c, ids), read=True)

    def query_components(self, query: ComponentQuery) -> ComponentPage:
        if query.trial_name is not None:
            self.get_trial(query.trial_name)
        elif query.experiment_name is not None:
            self.get_experiment(query.experiment_name)
        return self._db.transaction(lambda c: query_page(c, query), read=True)

    def count_components(self, experiment_name: str) -> dict[str, int]:
        self.get_experiment(experiment_name)
        t, a, e = T.trials.c, T.associations.c, T.experiments.c
        q = (
            sa.select(t.name, sa.func.count(a.component_id))
            .select_from(T.trials)
            .join(T.experiments, e.id == t.experiment_id)
            .outerjoin(T.associations, a.trial_id == t.id)
            .where(e.name == experiment_name)
            .group_by(t.id, t.name)
        )
        rows = self._db.transaction(lambda c: c.execute(q).all(), read=True)
        return {name: int(n) for name, n in rows}

    def update_component(
        self,
        name: str,
        *,
        display_name: str | None = None,
        status: str | None = None,
        status_message: str | None = None,
        start_time: float | None = None,
        end_time: float | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        self._update(
            T.components, "trial component", name, tags, display_name=display_name, status=status,
            status_message=status_message, start_time=start_time, end_time=end_time,
        )  # fmt: skip

    def delete_component(self, name: str) -> None:
        def run(conn: sa.Connection) -> None:
            self._delete_components(conn, [id_of(conn, T.components, "trial component", name)])

        self._db.transaction(run)

    def _delete_components(self, conn: sa.Connection, ids: list[int]) -> None:
        if not ids:
            return
        for table in (T.metric_chunks, T.metric_summaries, T.parameters, T.artifacts, T.associations):
            conn.execute(sa.delete(table).where(table.c.component_id.in_(ids)))
        conn.execute(sa.delete(T.components).where(T.components.c.id.in_(ids)))

    # -- logging -------------------------------------------------------------------------------
    def write(
        self,
        component_name: str,
        parameters: Mapping[str, str | float] | None = None,
        input_artifacts: Mapping[str, TrialComponentArtifact] | None = None,
        output_artifacts: Mapping[str, TrialComponentArtifact] | None = None,
        metrics: Sequence[MetricBatch] = (),
    ) -> None:
        def run(conn: sa.Connection) -> None:
            write_rows(
                conn,
                self._db.is_sqlite,
                component_name,
                parameters,
                input_artifacts,
                output_artifacts,
                metrics,
            )
            conn.execute(
                sa.update(T.components)
                .where(T.components.c.name == component_name)
                .values(last_modified_time=time.time())
            )

        self._db.transaction(run)

    def remove(
        self,
        component_name: str,
        parameters: Sequence[str] = (),
        input_artifacts: Sequence[str] = (),
        output_artifacts: Sequence[str] = (),
    ) -> None:
        def run(conn: sa.Connection) -> None:
            cid = id_of(conn, T.components, "trial component", component_name)
            if remove_rows(conn, cid, parameters, input_artifacts, output_artifacts):
                conn.execute(
                    sa.update(T.components).where(T.components.c.id == cid).values(last_modified_time=time.time())
                )

        self._db.transaction(run)

    def read_metric_points(self, component_name: str, metric_name: str | None = None) -> list[MetricPoints]:
        m = T.metric_chunks.c

        def run(conn: sa.Connection) -> list[Any]:
            cid = id_of(conn, T.components, "trial component", component_name)
            q = sa.select(m.name, m["values"], m.timestamps, m.iterations).where(m.component_id == cid)
            if metric_name is not None:
                q = q.where(m.name == metric_name)
            return list(conn.execute(q.order_by(m.name, m.id)).all())

        return points_of(self._db.transaction(run, read=True))

    def close(self) -> None:
        self._db.dispose()
