"""Row-level helpers of the SQL backend: loading full trial-component records in a constant number
of queries, and writing parameters, artifacts and metric chunks with summary upserts."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from smdbg.tracker._errors import NotFoundError
from smdbg.tracker._records import (
    ComponentRecord,
    MetricBatch,
    MetricPoints,
    MetricSummary,
    TrialComponentArtifact,
)
from smdbg.tracker._schema import tables as T

__all__ = ["load_components", "write_rows", "remove_rows", "upsert", "id_of", "tags_of", "modified", "points_of", "F8", "I8"]

F8 = "<f8"
I8 = "<i8"


def tags_of(text: str | None) -> dict[str, str]:
    return dict(json.loads(text)) if text else {}


def id_of(conn: sa.Connection, table: sa.Table, kind: str, name: str) -> int:
    found = conn.execute(sa.select(table.c.id).where(table.c.name == name)).scalar()
    if found is None:
        raise NotFoundError(f"{kind} {name!r} does not exist; create it first or check the name")
    return int(found)


def modified(table: sa.Table) -> Any:
    """An experiment's or a trial's last-modified time; a row without one (written by a process
    still on schema version 1) was last modified when created."""
    return sa.func.coalesce(table.c.last_modified_time, table.c.creation_time)


def upsert(
    conn: sa.Connection, is_sqlite: bool, table: sa.Table, rows: list[dict[str, Any]], set_: Any
) -> None:
    """Insert rows, updating ``set_(existing_columns, excluded)`` where the primary key exists."""
    insert = sqlite.insert if is_sqlite else postgresql.insert
    stmt = insert(table)
    keys = [c.name for c in table.primary_key.columns]
    conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=set_(table.c, stmt.excluded)), rows)


def load_components(
    conn: sa.Connection, ids: Any, metric_names: Sequence[str] | None = None
) -> list[ComponentRecord]:
    """Full records of the components ``ids`` (a list or a subquery), in creation order; with
    ``metric_names``, only those metrics' summaries are loaded."""
    c = T.components.c
    rows = conn.execute(sa.select(T.components).where(c.id.in_(ids)).order_by(c.creation_time, c.id)).all()
    params: dict[int, dict[str, str | float]] = {}
    p = T.parameters.c
    for cid, name, num, text in conn.execute(
        sa.select(p.component_id, p.name, p.number_value, p.string_value).where(p.component_id.in_(ids))
    ):
        params.setdefault(cid, {})[name] = num if text is None else text
    arts: dict[tuple[int, str], dict[str, TrialComponentArtifact]] = {}
    ar = T.artifacts.c
    for cid, direction, name, value, media in conn.execute(
        sa.select(ar.component_id, ar.direction, ar.name, ar.value, ar.media_type).where(
            ar.component_id.in_(ids)
        )
    ):
        arts.setdefault((cid, direction), {})[name] = TrialComponentArtifact(value, media)
    summaries: dict[int, dict[str, MetricSummary]] = {}
    s = T.metric_summaries.c
    for cid, name, n, mean, m2, vmin, vmax, last in conn.execute(
        sa.select(s.component_id, s.name, s.count, s.mean, s.m2, s.min, s.max, s.last)
        .where(s.component_id.in_(ids), *(() if metric_names is None else (s.name.in_(list(metric_names)),)))
        .order_by(s.component_id, s.name)
    ):
        summaries.setdefault(cid, {})[name] = MetricSummary.from_moments(name, n, mean, m2, vmin, vmax, last)
    parents: dict[int, list[tuple[str, str]]] = {}
    a, t, e = T.associations.c, T.trials.c, T.experiments.c
    for cid, tname, ename in conn.execute(
        sa.select(a.component_id, t.name, e.name)
        .join(T.trials, t.id == a.trial_id)
        .join(T.experiments, e.id == t.experiment_id)
        .where(a.component_id.in_(ids))
        .order_by(a.component_id, t.creation_time, t.id)
    ):
        parents.setdefault(cid, []).append((tname, ename))
    out = []
    for r in rows:
        pairs = parents.get(r.id, [])
        out.append(
            ComponentRecord(
                name=r.name,
                display_name=r.display_name,
                status=r.status,
                status_message=r.status_message,
                start_time=r.start_time,
                end_time=r.end_time,
                creation_time=r.creation_time,
                last_modified_time=r.last_modified_time,
                parameters=params.get(r.id, {}),
                input_artifacts=arts.get((r.id, "input"), {}),
                output_artifacts=arts.get((r.id, "output"), {}),
                metrics=summaries.get(r.id, {}),
                tags=tags_of(r.tags),
                trial_names=tuple(dict.fromkeys(x[0] for x in pairs)),
                experiment_names=tuple(dict.fromkeys(x[1] for x in pairs)),
            )
        )
    return out


def write_rows(
    conn: sa.Connection,
    is_sqlite: bool,
    component_name: str,
    parameters: Mapping[str, str | float] | None,
    input_artifacts: Mapping[str, TrialComponentArtifact] | None,
    output_artifacts: Mapping[str, TrialComponentArtifact] | None,
    metrics: Sequence[MetricBatch],
) -> None:
    cid = id_of(conn, T.components, "trial component", component_name)
    if parameters:
        rows = [
            {
                "component_id": cid,
                "name": k,
                "number_value": None if isinstance(v, str) else float(v),
                "string_value": v if isinstance(v, str) else None,
            }
            for k, v in sorted(parameters.items())
        ]
        upsert(
            conn,
            is_sqlite,
            T.parameters,
            rows,
            lambda c, ex: {"number_value": ex.number_value, "string_value": ex.string_value},
        )
    arts = [("input", k, v) for k, v in (input_artifacts or {}).items()]
    arts += [("output", k, v) for k, v in (output_artifacts or {}).items()]
    if arts:
        rows = [
            {"component_id": cid, "direction": d, "name": k, "value": v.value, "media_type": v.media_type}
            for d, k, v in sorted(arts, key=lambda x: (x[0], x[1]))
        ]
        upsert(
            conn, is_sqlite, T.artifacts, rows, lambda c, ex: {"value": ex.value, "media_type": ex.media_type}
        )
    batches = [b for b in metrics if len(b.values)]
    if not batches:
        return
    chunks, summaries = [], []
    for b in sorted(batches, key=lambda b: b.metric_name):
        v = np.asarray(b.values, dtype=F8)
        mean = float(v.mean())
        chunks.append(
            {
                "component_id": cid,
                "name": b.metric_name,
                "count": len(v),
                "values": v.tobytes(),
                "timestamps": np.asarray(b.timestamps, dtype=F8).tobytes(),
                "iterations": np.asarray(b.iterations, dtype=I8).tobytes(),
            }
        )
        summaries.append(
            {
                "component_id": cid,
                "name": b.metric_name,
                "count": len(v),
                "mean": mean,
                "m2": float(((v - mean) ** 2).sum()),
                "min": float(v.min()),
                "max": float(v.max()),
                "last": float(v[-1]),
            }
        )
    conn.execute(sa.insert(T.metric_chunks), chunks)
    upsert(conn, is_sqlite, T.metric_summaries, summaries, _merge_summary)


def remove_rows(
    conn: sa.Connection,
    cid: int,
    parameters: Sequence[str],
    input_artifacts: Sequence[str],
    output_artifacts: Sequence[str],
) -> bool:
    """Delete the named parameters and artifacts of component ``cid``; True if any was deleted."""
    removed = 0
    if parameters:
        p = T.parameters.c
        removed += conn.execute(
            sa.delete(T.parameters).where(p.component_id == cid, p.name.in_(list(parameters)))
        ).rowcount
    a = T.artifacts.c
    for direction, names in (("input", input_artifacts), ("output", output_artifacts)):
        if names:
            removed += conn.execute(
                sa.delete(T.artifacts).where(
                    a.component_id == cid, a.direction == direction, a.name.in_(list(names))
                )
            ).rowcount
    return removed > 0


def points_of(rows: Sequence[Any]) -> list[MetricPoints]:
    """Metric chunk rows ``(name, values, timestamps, iterations)`` in append order, as one
    :class:`MetricPoints` per metric."""
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row[0], []).append(row)
    return [
        MetricPoints(
            name,
            np.concatenate([np.frombuffer(r[1], dtype=F8) for r in chunks]),
            np.concatenate([np.frombuffer(r[2], dtype=F8) for r in chunks]),
            np.concatenate([np.frombuffer(r[3], dtype=I8) for r in chunks]),
        )
        for name, chunks in grouped.items()
    ]


def _merge_summary(c: Any, ex: Any) -> dict[str, Any]:
    """Chan et al.'s pairwise merge of (count, mean, m2), done by the database under its row lock."""
    n_a, n_b = sa.cast(c.count, sa.Float(53)), sa.cast(ex.count, sa.Float(53))
    delta = ex.mean - c.mean
    n = n_a + n_b
    return {
        "count": c.count + ex.count,
        "mean": c.mean + delta * n_b / n,
        "m2": c.m2 + ex.m2 + delta * delta * n_a * n_b / n,
        "min": sa.case((ex.min < c.min, ex.min), else_=c.min),
        "max": sa.case((ex.max > c.max, ex.max), else_=c.max),
        "last": ex.last,
    }
