"""``query_components`` in SQL: one page of a trial-component table sorted, filtered and counted by
the database (the contract and the reference answer are in ``_table.py``).

Every query touches the metric summaries of the sorted or filtered metric only (a primary-key
lookup per component), so its cost grows with the number of components in scope, not with the
number of metrics they log.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from smdbg.tracker._schema import tables as T
from smdbg.tracker._search import Filter, Operator
from smdbg.tracker._sql_rows import load_components
from smdbg.tracker._table import ComponentPage, ComponentQuery

__all__ = ["query_page"]

_COLUMNS = {
    "TrialComponentName": "name",
    "DisplayName": "display_name",
    "Status": "status",
    "StartTime": "start_time",
    "EndTime": "end_time",
    "CreationTime": "creation_time",
    "LastModifiedTime": "last_modified_time",
}


def _scope(q: ComponentQuery) -> Any:
    """The ids of the components in scope, as a subquery (or None for every component)."""
    a, t = T.associations.c, T.trials.c
    if q.trial_name is not None:
        return sa.select(a.component_id).join(T.trials, t.id == a.trial_id).where(t.name == q.trial_name)
    if q.experiment_name is not None:
        return (
            sa.select(a.component_id)
            .join(T.trials, t.id == a.trial_id)
            .join(T.experiments, T.experiments.c.id == t.experiment_id)
            .where(T.experiments.c.name == q.experiment_name)
        )
    return None


def _metric_stat(s: Any, stat: str) -> Any:
    if stat == "StdDev":  # the variance: same order, no sqrt (which SQLite may lack)
        return sa.case((s.count > 1, s.m2 / (s.count - 1)), else_=sa.literal(0.0))
    return {"Min": s.min, "Max": s.max, "Avg": s.mean, "Last": s.last, "Count": s.count}[stat]


def _compare(col: Any, op: Operator, value: Any) -> Any:
    ops = {
        Operator.EQUALS: col.__eq__,
        Operator.NOT_EQUALS: col.__ne__,
        Operator.GREATER_THAN: col.__gt__,
        Operator.GREATER_THAN_OR_EQUAL: col.__ge__,
        Operator.LESS_THAN: col.__lt__,
        Operator.LESS_THAN_OR_EQUAL: col.__le__,
    }
    return ops[op](value)


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _filter_clause(f: Filter, cid: Any) -> Any:
    """A WHERE clause for one filter over the component id column ``cid`` (same semantics as
    ``Filter.matches`` on ``component_fields``)."""
    op = f.operator
    assert isinstance(op, Operator)
    if f.name in _COLUMNS:
        col = T.components.c[_COLUMNS[f.name]]
        num = isinstance(col.type, sa.Float)
        if op is Operator.EXISTS:
            return col.is_not(None) if num else sa.true()
        if op is Operator.NOT_EXISTS:
            return col.is_(None) if num else sa.false()
        if op is Operator.CONTAINS:
            return sa.cast(col, sa.Text).contains(str(f.value), autoescape=True)
        value = _number(f.value) if num else str(f.value)
        if value is None:
            return sa.literal(op is Operator.NOT_EQUALS)
        clause = _compare(col, op, value)
        return sa.or_(col.is_(None), clause) if op is Operator.NOT_EQUALS else clause
    if f.name.startswith("Parameters."):
        p = T.parameters.c
        base = sa.select(p.component_id).where(p.component_id == cid, p.name == f.name[len("Parameters.") :])
        if op is Operator.EXISTS:
            return base.exists()
        if op is Operator.NOT_EXISTS:
            return ~base.exists()
        if op is Operator.CONTAINS:
            text = sa.func.coalesce(p.string_value, sa.cast(p.number_value, sa.Text))
            return base.where(text.contains(str(f.value), autoescape=True)).exists()
        wanted = _number(f.value)
        if wanted is not None:
            on_number = _compare(p.number_value, op, wanted)
        else:
            on_number = _compare(sa.cast(p.number_value, sa.Text), op, str(f.value))
        either = sa.case(
            (p.number_value.is_not(None), on_number), else_=_compare(p.string_value, op, str(f.value))
        )
        if op is Operator.NOT_EQUALS:  # absent, or present and different
            return ~base.where(~either).exists()
        return base.where(either).exists()
    metric, _, stat = f.name[len("Metrics.") :].rpartition(".")
    s = T.metric_summaries.c
    base = sa.select(s.component_id).where(s.component_id == cid, s.name == metric)
    if op is Operator.EXISTS:
        return base.exists()
    if op is Operator.NOT_EXISTS:
        return ~base.exists()
    col = _metric_stat(s, stat)
    if op is Operator.CONTAINS:
        return base.where(sa.cast(col, sa.Text).contains(str(f.value), autoescape=True)).exists()
    wanted = _number(f.value)
    if wanted is None:
        return sa.literal(op is Operator.NOT_EQUALS)
    if stat == "StdDev":  # compare variances: value * |value| keeps the sign, so order holds
        wanted = wanted * abs(wanted)
    clause = base.where(_compare(col, op, wanted)).exists()
    return ~base.where(~_compare(col, op, wanted)).exists() if op is Operator.NOT_EQUALS else clause


def _search_clause(text: str, cid: Any) -> Any:
    c, p = T.components.c, T.parameters.c
    pattern = _like(text)
    pair = sa.func.lower(p.name + "=" + sa.func.coalesce(p.string_value, sa.cast(p.number_value, sa.Text)))
    in_params = sa.select(p.component_id).where(p.component_id == cid, pair.like(pattern, escape="\\"))
    return sa.or_(
        sa.func.lower(c.name).like(pattern, escape="\\"),
        sa.func.lower(c.display_name).like(pattern, escape="\\"),
        sa.func.lower(c.status).like(pattern, escape="\\"),
        in_params.exists(),
    )


def _sort_keys(q: ComponentQuery, stmt: Any) -> tuple[Any, list[Any]]:
    """The statement joined with what it sorts on, and the ORDER BY list (missing values last)."""
    c = T.components.c

    def direction(col: Any) -> Any:
        return col.desc() if q.descending else col.asc()

    if q.sort_by in _COLUMNS:
        col = c[_COLUMNS[q.sort_by]]
        return stmt, [sa.case((col.is_(None), 1), else_=0), direction(col)]
    if q.sort_by.startswith("Parameters."):
        p = T.parameters.alias("sort_p")
        stmt = stmt.outerjoin(p, sa.and_(p.c.component_id == c.id, p.c.name == q.sort_by[len("Parameters.") :]))
        missing = sa.case((sa.and_(p.c.number_value.is_(None), p.c.string_value.is_(None)), 1), else_=0)
        kind = sa.case((p.c.number_value.is_not(None), 0), else_=1)
        return stmt, [missing, direction(kind), direction(p.c.number_value), direction(p.c.string_value)]
    metric, _, stat = q.sort_by[len("Metrics.") :].rpartition(".")
    s = T.metric_summaries.alias("sort_s")
    stmt = stmt.outerjoin(s, sa.and_(s.c.component_id == c.id, s.c.name == metric))
    col = _metric_stat(s.c, stat)
    return stmt, [sa.case((s.c.component_id.is_(None), 1), else_=0), direction(col)]


def query_page(conn: sa.Connection, q: ComponentQuery) -> ComponentPage:
    c = T.components.c
    scope = _scope(q)
    where: list[Any] = [] if scope is None else [c.id.in_(scope)]
    if q.search.strip():
        where.append(_search_clause(q.search.strip(), c.id))
    where += [_filter_clause(f, c.id) for f in q.filters]
    # one query: the page's ids and the count of every match (a window over the whole result)
    stmt, order = _sort_keys(q, sa.select(c.id, sa.func.count().over().label("total")).select_from(T.components))
    stmt = stmt.where(*where).order_by(*order, c.creation_time, c.id).offset(q.offset).limit(q.limit)
    found = conn.execute(stmt).all()
    ids = [r[0] for r in found]
    if found:
        total = found[0][1]
    elif q.offset == 0:
        total = 0
    else:  # past the last page: count without the slice
        total = conn.execute(sa.select(sa.func.count()).select_from(T.components).where(*where)).scalar_one()
    by_id = {}
    if ids:
        wanted = q.metrics
        if wanted is None and q.first_metrics is not None:
            ms = T.metric_summaries.c
            first = sa.select(ms.name).where(ms.component_id.in_(ids)).distinct().order_by(ms.name)
            wanted = [r[0] for r in conn.execute(first.limit(q.first_metrics))]
        records = load_components(conn, ids, wanted)
        id_rows = conn.execute(sa.select(c.id, c.name).where(c.id.in_(ids))).all()
        names = {i: n for i, n in id_rows}
        by_name = {r.name: r for r in records}
        by_id = {i: by_name[names[i]] for i in ids}
    if not q.with_names:
        return ComponentPage(int(total), [by_id[i] for i in ids])
    in_scope_p = sa.select(T.parameters.c.name).distinct()
    in_scope_m = sa.select(T.metric_summaries.c.name).distinct()
    if scope is not None:
        in_scope_p = in_scope_p.where(T.parameters.c.component_id.in_(scope))
        in_scope_m = in_scope_m.where(T.metric_summaries.c.component_id.in_(scope))
    params = sorted(r[0] for r in conn.execute(in_scope_p))
    metrics = sorted(r[0] for r in conn.execute(in_scope_m))
    return ComponentPage(int(total), [by_id[i] for i in ids], params, metrics)
