"""The trial-component table of an experiment or trial page, paged, sorted and filtered on the
server (``TrackerBackend.query_components``). Its whole state is in the query string:

=========  ==================================================================================
``q``      free text (name, display name, status, ``param=value``)
``status`` one status (``Completed``, ``Failed``, ...)
``f``      filters, repeated: ``<field><op><value>`` with op ``>= <= != = > < ~`` (``~``: contains),
           e.g. ``Parameters.lr<0.01``, ``Metrics.loss.Min>=0.2``
``sort``   a field (``Metrics.loss.Last``, ``Parameters.lr``, ``StartTime``...); ``desc=1``
``page``   1-based page; ``size`` rows per page (5 to 500)
``metrics`` metric columns (comma-separated; default: the first three in scope), each shown as
           Min / Max / Avg / Last; ``params``: parameter columns (default: the first eight)
``sel``    the selected components (comma-separated names), for Compare
=========  ==================================================================================
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from starlette.datastructures import QueryParams

from smdbg.studio._layout import Params, esc, href, join_names
from smdbg.tracker import ComponentPage, ComponentQuery, Filter, TrackerBackend
from smdbg.tracker._records import STATUSES, ComponentRecord

__all__ = ["TableState", "render_table", "parse_filter", "fmt_value", "SHOWN_STATS"]

SHOWN_STATS = ("Min", "Max", "Avg", "Last")
_FILTER = re.compile(r"^([A-Za-z][\w.\-/:]*?)(>=|<=|!=|=|>|<|~)(.*)$")
_OPS = {
    ">=": "GreaterThanOrEqualTo",
    "<=": "LessThanOrEqualTo",
    "!=": "NotEquals",
    "=": "Equals",
    ">": "GreaterThan",
    "<": "LessThan",
    "~": "Contains",
}


def parse_filter(text: str, params: Params) -> Filter:
    match = _FILTER.match(text.strip())
    if not match or not match.group(3):
        raise params.bad("f", text, "<field><op><value> with op one of >= <= != = > < ~, e.g. Parameters.lr<0.01")
    return Filter(match.group(1), _OPS[match.group(2)], match.group(3).strip())


@dataclass
class TableState:
    search: str
    status: str
    filters: list[str]
    sort: str
    desc: bool
    page: int
    size: int
    metrics: list[str]
    params: list[str]
    selected: list[str]

    @classmethod
    def from_query(cls, query: QueryParams, back: tuple[str, str]) -> tuple[TableState, Params]:
        p = Params(query, back)
        status = p.text("status")
        if status and status not in STATUSES:
            raise p.bad("status", status, "one of " + ", ".join(STATUSES))
        state = cls(
            search=p.text("q"),
            status=status,
            filters=[f for f in query.getlist("f") if f.strip()],
            sort=p.text("sort", "CreationTime"),
            desc=p.text("desc") in ("1", "true"),
            page=p.int("page", 1, 1, 10**9),
            size=p.int("size", 50, 5, 500),
            metrics=p.names("metrics"),
            params=p.names("params"),
            selected=p.names("sel"),
        )
        return state, p

    def query(self, p: Params, experiment: str | None, trial: str | None) -> ComponentQuery:
        filters = [parse_filter(f, p) for f in self.filters]
        if self.status:
            filters.append(Filter("Status", "Equals", self.status))
        return ComponentQuery(
            experiment_name=experiment,
            trial_name=trial,
            search=self.search,
            filters=filters,
            sort_by=self.sort,
            descending=self.desc,
            offset=(self.page - 1) * self.size,
            limit=self.size,
            with_names=False,
            metrics=(self.metrics or None),
            first_metrics=3,
        )


def _exists(backend: TrackerBackend, experiment: str | None, trial: str | None, field: str) -> bool:
    q = ComponentQuery(experiment_name=experiment, trial_name=trial, filters=[Filter(field, "Exists")],
                       limit=1, with_names=False, metrics=[])  # fmt: skip
    return backend.query_components(q).total > 0


def fmt_value(v: str | float | None) -> str:
    """A parameter or metric value as HTML text: whole floats without '.0', others to 6 digits."""
    if isinstance(v, str):
        return esc(v)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float) and not v.is_integer():
        return f"{v:.6g}"
    return str(int(v)) if isinstance(v, float) else esc(v)


def _time(t: float | None) -> str:
    if t is None:
        return ""
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _cells(r: ComponentRecord, state: TableState, metrics: list[str], params: list[str], link: str) -> list[str]:
    box = f'<input type="checkbox" class="select" value="{esc(r.name)}" aria-label="select {esc(r.name)}">'
    cells = [box, f'<a href="{esc(link)}">{esc(r.display_name or r.name)}</a>']
    cells.append(f'<span class="status-{esc(r.status)}">{esc(r.status)}</span>')
    cells.append(_time(r.start_time))
    duration = "" if r.start_time is None or r.end_time is None else f"{r.end_time - r.start_time:.1f} s"
    cells.append(duration)
    for name in params:
        v = r.parameters.get(name)
        cells.append(fmt_value(v))
    for name in metrics:
        s = r.metrics.get(name)
        for stat in SHOWN_STATS:
            cells.append(fmt_value(getattr(s, stat.lower()) if s is not None else None))
    return cells


def _header(label: str, field: str, state: TableState, query: QueryParams, path: str) -> str:
    desc = "1" if state.sort == field and not state.desc else None
    mark = (" ▼" if state.desc else " ▲") if state.sort == field else ""
    cls = ' class="sorted"' if mark else ""
    link = href(path, query, sort=field, desc=desc, page=None)
    return f'<a href="{link}"{cls} data-keep-state="sel,tsel" data-field="{esc(field)}">{esc(label)}{mark}</a>'


def render_table(
    backend: TrackerBackend,
    query: QueryParams,
    path: str,
    back: tuple[str, str],
    *,
    experiment: str | None,
    trial: str | None,
    component_href: Any,
    compare_url: str,
    names_path: str,
    scope: Mapping[str, str],
) -> tuple[str, ComponentPage]:
    """The filter form, table and pager (HTML) and the page of records it shows. ``path`` is the
    page's path and ``scope`` the names its query string holds (``experiment=``, ``trial=``),
    kept by the form; ``compare_url`` is the compare page for this experiment (``c=`` is added);
    ``names_path`` answers the metric names in scope as JSON (the column chooser loads it)."""
    state, p = TableState.from_query(query, back)
    result = backend.query_components(state.query(p, experiment, trial))
    on_page = {m for r in result.components for m in r.metrics}
    for name in state.metrics:
        if name not in on_page and not _exists(backend, experiment, trial, f"Metrics.{name}.Count"):
            raise p.bad("metrics", name, "names of metrics logged by this table's trial components")
    for name in state.params:
        if not any(name in r.parameters for r in result.components) and not _exists(
            backend, experiment, trial, f"Parameters.{name}"
        ):
            raise p.bad("params", name, "names of parameters of this table's trial components")
    metrics = state.metrics or sorted(on_page)[:3]
    params = state.params or sorted({k for r in result.components for k in r.parameters})[:8]
    headers = ['<input type="checkbox" id="select-all" aria-label="select all">']
    headers += [
        _header("Name", "DisplayName", state, query, path),
        _header("Status", "Status", state, query, path),
        _header("Started", "StartTime", state, query, path),
        "Duration",
    ]
    headers += [_header(n, f"Parameters.{n}", state, query, path) for n in params]
    headers += [
        _header(f"{m} {stat}", f"Metrics.{m}.{stat}", state, query, path) for m in metrics for stat in SHOWN_STATS
    ]
    rows = [_cells(r, state, metrics, params, component_href(r.name)) for r in result.components]
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join(
        f'<tr data-name="{esc(r.name)}">' + "".join(f"<td>{c}</td>" for c in row) + "</tr>"
        for r, row in zip(result.components, rows)
    )
    if not body:
        body = f'<tr class="empty"><td colspan="{len(headers)}">No trial components match.</td></tr>'
    pages = max(1, math.ceil(result.total / state.size))
    first = (state.page - 1) * state.size + 1 if result.total else 0
    last = min(state.page * state.size, result.total)
    prev_link = (
        f'<a id="prev-page" data-keep-state="sel,tsel" href="{href(path, query, page=state.page - 1)}">‹ Previous</a>'
        if state.page > 1 else ""
    )  # fmt: skip
    next_link = (
        f'<a id="next-page" data-keep-state="sel,tsel" href="{href(path, query, page=state.page + 1)}">Next ›</a>'
        if state.page < pages else ""
    )  # fmt: skip
    pager = (
        f'<div class="pager"><span id="row-range">{first}–{last} of {result.total}</span>'
        f"<span>page {state.page} of {pages}</span>{prev_link}{next_link}</div>"
    )
    hidden = "".join(
        f'<input type="hidden" name="{k}" value="{esc(v)}">'
        for k, v in (
            *scope.items(),
            ("sort", state.sort if state.sort != "CreationTime" else ""),
            ("desc", "1" if state.desc else ""),
            ("size", str(state.size) if state.size != 50 else ""),
            ("params", join_names(state.params)),
            ("sel", join_names(state.selected)),
        )
        if v
    )
    hidden += f'<input type="hidden" name="metrics" id="metrics-input" value="{esc(join_names(state.metrics))}">'
    statuses = "".join(
        f'<option value="{s}"{" selected" if s == state.status else ""}>{s or "any"}</option>' for s in ("", *STATUSES)
    )
    filters = "".join(
        f'<label>filter<input name="f" value="{esc(f)}" size="24"></label>' for f in [*state.filters, ""]
    )
    metric_options = "".join(f'<option value="{esc(m)}" selected>{esc(m)}</option>' for m in metrics)
    form = (
        f'<form class="filters" id="table-filters" method="get" action="{esc(path)}" '
        f'data-compare="{esc(compare_url)}">'
        f'<label>search<input name="q" id="search" value="{esc(state.search)}" size="22"></label>'
        f'<label>status<select name="status" id="status">{statuses}</select></label>{filters}'
        f'<label>metric columns<select id="metric-columns" multiple size="3" data-source="{esc(names_path)}">'
        f"{metric_options}</select></label>"
        f'{hidden}<button type="submit" id="apply">Apply</button>'
        f'<a class="button" id="compare" href="{href(compare_url, c=join_names(state.selected))}">Compare selected</a>'
        "</form>"
    )
    table = f'<div class="scroll"><table id="components" class="grid"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
    return form + pager + table, result
