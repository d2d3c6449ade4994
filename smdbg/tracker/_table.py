"""One page of a trial-component table: scope, free-text search, filters, sort, offset and limit.

:class:`ComponentQuery` says what is wanted; :meth:`TrackerBackend.query_components` answers with a
:class:`ComponentPage`. The base class answers from ``list_components`` (any backend gets it for
free); the SQL backend answers in the database (``_sql_table.py``), so a table of 10,000 trial
components with 100 metrics each is paged, sorted and filtered without loading it.

Sort and filter fields are those of ``_search`` that a table shows: ``TrialComponentName``,
``DisplayName``, ``Status``, ``StartTime``, ``EndTime``, ``CreationTime``, ``LastModifiedTime``,
``Parameters.<name>`` and ``Metrics.<name>.<Min|Max|Avg|StdDev|Last|Count>``. Components without
the sorted value come last in either direction; ties are broken by creation order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from smdbg.tracker._errors import InvalidValueError
from smdbg.tracker._records import ComponentRecord
from smdbg.tracker._search import Filter

__all__ = [
    "ComponentQuery",
    "ComponentPage",
    "COLUMN_FIELDS",
    "STAT_NAMES",
    "METRIC_STATS",
    "check_field",
    "component_fields",
    "page_in_memory",
]

COLUMN_FIELDS = (
    "TrialComponentName",
    "DisplayName",
    "Status",
    "StartTime",
    "EndTime",
    "CreationTime",
    "LastModifiedTime",
)
STAT_NAMES = ("Min", "Max", "Avg", "StdDev", "Last", "Count")


METRIC_STATS = (
    ("Min", "min"),
    ("Max", "max"),
    ("Avg", "avg"),
    ("StdDev", "std_dev"),
    ("Last", "last"),
    ("Count", "count"),
)


def component_fields(r: ComponentRecord) -> dict[str, Any]:
    """The searchable, sortable fields of a trial component (see ``_search``)."""
    f: dict[str, Any] = {
        "TrialComponentName": r.name,
        "DisplayName": r.display_name,
        "Status": r.status,
        "Status.PrimaryStatus": r.status,
        "StartTime": r.start_time,
        "EndTime": r.end_time,
        "CreationTime": r.creation_time,
        "LastModifiedTime": r.last_modified_time,
        "Parents.TrialName": list(r.trial_names),
        "Parents.ExperimentName": list(r.experiment_names),
    }
    f.update({f"Parameters.{k}": v for k, v in r.parameters.items()})
    for name, s in r.metrics.items():
        f.update({f"Metrics.{name}.{label}": getattr(s, attr) for label, attr in METRIC_STATS})
    f.update({f"InputArtifacts.{k}": a.value for k, a in r.input_artifacts.items()})
    f.update({f"OutputArtifacts.{k}": a.value for k, a in r.output_artifacts.items()})
    f.update({f"Tags.{k}": v for k, v in r.tags.items()})
    return f


def check_field(name: str) -> str:
    """``name`` if it is a field a table can sort or filter on, else InvalidValueError."""
    if name in COLUMN_FIELDS or (name.startswith("Parameters.") and len(name) > len("Parameters.")):
        return name
    if name.startswith("Metrics."):
        metric, _, stat = name[len("Metrics.") :].rpartition(".")
        if metric and stat in STAT_NAMES:
            return name
    raise InvalidValueError(
        f"table field {name!r} is not known; expected one of {', '.join(COLUMN_FIELDS)}, "
        f"Parameters.<name> or Metrics.<name>.<{'|'.join(STAT_NAMES)}>"
    )


@dataclass(frozen=True)
class ComponentQuery:
    """Which trial components, in which order, which slice.

    ``experiment_name``/``trial_name`` narrow the scope (a trial wins over an experiment);
    ``search`` keeps components whose name, display name, status, or a parameter's name or value
    contains the text (case-insensitive); every filter must hold (``Filter`` from ``_search``).
    ``with_names=False`` skips listing the parameter and metric names in scope (the page's
    ``parameter_names`` and ``metric_names`` are then empty), for callers that only count or
    know their columns. ``metrics``, when given, limits the metric summaries the returned records
    carry to those names (less to load for a table that shows a few of many metrics); without it,
    ``first_metrics=N`` keeps the first N metric names (in name order) the returned rows have.
    """

    experiment_name: str | None = None
    trial_name: str | None = None
    search: str = ""
    filters: Sequence[Filter] = ()
    sort_by: str = "CreationTime"
    descending: bool = False
    offset: int = 0
    limit: int = 50
    with_names: bool = True
    metrics: Sequence[str] | None = None
    first_metrics: int | None = None

    def __post_init__(self) -> None:
        check_field(self.sort_by)
        for f in self.filters:
            check_field(f.name)
        if self.offset < 0:
            raise InvalidValueError(f"offset {self.offset} is negative; expected a whole number >= 0")
        if not 1 <= self.limit <= 10_000:
            raise InvalidValueError(f"limit {self.limit} is out of range; expected 1 to 10000")


@dataclass(frozen=True)
class ComponentPage:
    """``total`` components matched; ``components`` is the requested slice, in order.
    ``parameter_names`` and ``metric_names`` are every name in the scope (before search and
    filters), sorted, so a table can offer them as columns."""

    total: int
    components: list[ComponentRecord]
    parameter_names: list[str] = field(default_factory=list)
    metric_names: list[str] = field(default_factory=list)


def _value(r: ComponentRecord, name: str) -> Any:
    return component_fields(r).get(name)


def _matches_text(r: ComponentRecord, text: str) -> bool:
    hay = [r.name, r.display_name, r.status]
    hay += [f"{k}={v}" for k, v in r.parameters.items()]
    return any(text in h.lower() for h in hay)


def page_in_memory(records: list[ComponentRecord], q: ComponentQuery) -> ComponentPage:
    """The reference answer, over records in creation order (what a backend without its own query
    does; the SQL backend's tests compare with it)."""
    params = sorted({k for r in records for k in r.parameters})
    metrics = sorted({k for r in records for k in r.metrics})
    text = q.search.strip().lower()
    rows = [r for r in records if not text or _matches_text(r, text)]
    rows = [r for r in rows if all(f.matches(component_fields(r)) for f in q.filters)]

    def key(r: ComponentRecord) -> tuple[int, int, Any]:
        v = _value(r, q.sort_by)
        if v is None:
            return (1, 0, 0)
        return (0, 0, v) if isinstance(v, (int, float)) else (0, 1, str(v))

    present = [r for r in rows if _value(r, q.sort_by) is not None]
    missing = [r for r in rows if _value(r, q.sort_by) is None]
    present.sort(key=key, reverse=q.descending)
    ordered = present + missing
    if not q.with_names:
        params, metrics = [], []
    chosen = ordered[q.offset : q.offset + q.limit]
    keep: set[str] | None = None if q.metrics is None else set(q.metrics)
    if keep is None and q.first_metrics is not None:
        keep = set(sorted({m for r in chosen for m in r.metrics})[: q.first_metrics])
    if keep is not None:
        chosen = [replace(r, metrics={k: v for k, v in r.metrics.items() if k in keep}) for r in chosen]
    return ComponentPage(len(ordered), chosen, params, metrics)
