"""Tables of the tracker database and the ordered list of schema migrations.

The database records its version in ``schema_version``; opening a database applies every migration
after that version, in one transaction, under a lock (``BEGIN IMMEDIATE`` on SQLite, an advisory
lock on PostgreSQL), so processes opening a fresh database at once do not race.

The tables below are the current schema. Version 1's tables are frozen in ``_V1`` (a copy taken
before any later column is appended), so version 1 creates the same tables it always did and each
later migration adds its own columns to them.

Metric points are stored in chunks: one ``metric_chunks`` row per metric per written batch, holding
the batch's values and timestamps as little-endian float64 arrays and its iteration numbers as
little-endian int64 (``-2**63`` where none was given). ``metric_summaries`` holds, per metric,
count, mean, the sum of squared deviations (``m2``), min, max and last, merged on every write.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

__all__ = ["metadata", "MIGRATIONS", "SCHEMA_VERSION", "tables"]

metadata = sa.MetaData()
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only
_F = sa.Float(precision=53)


def _fk(target: str) -> sa.ForeignKey:
    return sa.ForeignKey(target, ondelete="CASCADE")


schema_version = sa.Table("schema_version", metadata, sa.Column("version", sa.Integer, nullable=False))

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(256), nullable=False, unique=True),
    sa.Column("display_name", sa.String(256), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Column("creation_time", _F, nullable=False),
)

trials = sa.Table(
    "trials",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(256), nullable=False, unique=True),
    sa.Column("experiment_id", _ID, _fk("experiments.id"), nullable=False, index=True),
    sa.Column("display_name", sa.String(256), nullable=False),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Column("creation_time", _F, nullable=False),
)

components = sa.Table(
    "trial_components",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(256), nullable=False, unique=True),
    sa.Column("display_name", sa.String(256), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("status_message", sa.Text),
    sa.Column("start_time", _F),
    sa.Column("end_time", _F),
    sa.Column("creation_time", _F, nullable=False),
    sa.Column("last_modified_time", _F, nullable=False),
    sa.Column("tags", sa.Text, nullable=False),
)

associations = sa.Table(
    "trial_component_associations",
    metadata,
    sa.Column("trial_id", _ID, _fk("trials.id"), primary_key=True),
    sa.Column("component_id", _ID, _fk("trial_components.id"), primary_key=True, index=True),
)

parameters = sa.Table(
    "parameters",
    metadata,
    sa.Column("component_id", _ID, _fk("trial_components.id"), primary_key=True),
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("number_value", _F),
    sa.Column("string_value", sa.Text),
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("component_id", _ID, _fk("trial_components.id"), primary_key=True),
    sa.Column("direction", sa.String(8), primary_key=True),  # "input" or "output"
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("media_type", sa.String(256)),
)

metric_summaries = sa.Table(
    "metric_summaries",
    metadata,
    sa.Column("component_id", _ID, _fk("trial_components.id"), primary_key=True),
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("mean", _F, nullable=False),
    sa.Column("m2", _F, nullable=False),
    sa.Column("min", _F, nullable=False),
    sa.Column("max", _F, nullable=False),
    sa.Column("last", _F, nullable=False),
)

metric_chunks = sa.Table(
    "metric_chunks",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("component_id", _ID, _fk("trial_components.id"), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("values", sa.LargeBinary, nullable=False),
    sa.Column("timestamps", sa.LargeBinary, nullable=False),
    sa.Column("iterations", sa.LargeBinary, nullable=False),
    sa.Index("ix_metric_chunks_component_name", "component_id", "name", "id"),
)


_V1 = sa.MetaData()
for _table in metadata.sorted_tables:
    if _table.name != "schema_version":
        _table.to_metadata(_V1)

# Version 2: when an experiment or a trial was last modified (its update, or a trial component
# added to or removed from a trial). NULL (a row written by a process still running version 1's
# code) reads as the creation time.
for _table in (experiments, trials):
    _table.append_column(sa.Column("last_modified_time", _F))


class tables:  # noqa: N801 - a namespace
    schema_version = schema_version
    experiments = experiments
    trials = trials
    components = components
    associations = associations
    parameters = parameters
    artifacts = artifacts
    metric_summaries = metric_summaries
    metric_chunks = metric_chunks


def _v1_initial(conn: sa.Connection) -> None:
    """Version 1: every table, as first released."""
    _V1.create_all(conn)


def _v2_last_modified(conn: sa.Connection) -> None:
    """Version 2: ``last_modified_time`` on experiments and trials, set to their creation time."""
    quote = conn.dialect.identifier_preparer
    for table in (experiments, trials):
        column = sa.schema.CreateColumn(table.c.last_modified_time).compile(dialect=conn.dialect)
        conn.exec_driver_sql(f"ALTER TABLE {quote.format_table(table)} ADD COLUMN {column}")
        conn.execute(sa.update(table).values(last_modified_time=table.c.creation_time))


# Append new migrations at the end; never edit or reorder released ones.
MIGRATIONS: tuple[Callable[[sa.Connection], None], ...] = (_v1_initial, _v2_last_modified)
SCHEMA_VERSION = len(MIGRATIONS)
