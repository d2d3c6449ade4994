"""SearchExpression and Filter (smexperiments' names), evaluated against a flat dict of fields.

Field names: ``TrialComponentName``, ``DisplayName``, ``Status`` (or ``Status.PrimaryStatus``),
``StartTime``/``EndTime``/``CreationTime``/``LastModifiedTime`` (seconds since the epoch, or a
datetime), ``Parameters.<name>``, ``Metrics.<name>.<Min|Max|Avg|StdDev|Last|Count>``,
``InputArtifacts.<name>``/``OutputArtifacts.<name>`` (the value), ``Tags.<key>``,
``Parents.TrialName``, ``Parents.ExperimentName`` (true if any parent matches).

Property names follow SageMaker Search's rules as the SDK's examples rely on them
(``sort_by="metrics.test:accuracy.max"``): the property path (``Metrics``, ``Parameters``,
``TrialComponentName``, ``Status.PrimaryStatus``..., and a metric's statistic) is matched without
regard to case; the names you chose (a metric, a parameter, a tag key) are matched exactly
(:func:`canonical_field`). :meth:`SearchExpression.from_dict` reads the API's dict shape
(``Filters``/``NestedFilters``/``SubExpressions``/``Operator``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from smdbg.tracker._errors import InvalidValueError

__all__ = [
    "Operator", "BooleanOperator", "Filter", "NestedFilter", "SearchExpression", "canonical_field",
    "METRIC_STATISTICS",
]  # fmt: skip

_PROPERTIES = (
    "TrialComponentName", "DisplayName", "Status", "Status.PrimaryStatus", "StartTime", "EndTime",
    "CreationTime", "LastModifiedTime", "Parents.TrialName", "Parents.ExperimentName",
    "ExperimentName", "TrialName", "Description",
)  # fmt: skip
_PREFIXES = ("Parameters", "Metrics", "InputArtifacts", "OutputArtifacts", "Tags")
METRIC_STATISTICS = ("Min", "Max", "Avg", "StdDev", "Last", "Count")


def canonical_field(name: str) -> str:
    """``name`` with SageMaker's spelling of its property path (``metrics.loss.max`` ->
    ``Metrics.loss.Max``); a name that is not a known property is returned unchanged."""
    low = name.lower()
    for prop in _PROPERTIES:
        if low == prop.lower():
            return prop
    head, _, rest = name.partition(".")
    prefix = next((p for p in _PREFIXES if head.lower() == p.lower()), None)
    if prefix is None or not rest:
        return name
    if prefix == "Metrics":
        metric, dot, stat = rest.rpartition(".")
        found = next((s for s in METRIC_STATISTICS if s.lower() == stat.lower()), None)
        return f"Metrics.{metric}.{found}" if dot and found else f"Metrics.{rest}"
    return f"{prefix}.{rest}"


class Operator(enum.Enum):
    EQUALS = "Equals"
    NOT_EQUALS = "NotEquals"
    GREATER_THAN = "GreaterThan"
    GREATER_THAN_OR_EQUAL = "GreaterThanOrEqualTo"
    LESS_THAN = "LessThan"
    LESS_THAN_OR_EQUAL = "LessThanOrEqualTo"
    CONTAINS = "Contains"
    EXISTS = "Exists"
    NOT_EXISTS = "NotExists"
    IN = "In"


class BooleanOperator(enum.Enum):
    AND = "And"
    OR = "Or"


def _operator(op: Operator | str | None) -> Operator:
    if op is None:
        return Operator.EQUALS
    if isinstance(op, Operator):
        return op
    for o in Operator:
        if op in (o.value, o.name):
            return o
    raise InvalidValueError(
        f"search operator {op!r} is not valid; expected one of {', '.join(o.value for o in Operator)}"
    )


def _coerce(field_value: Any, wanted: Any) -> tuple[Any, Any]:
    """Compare numbers as numbers (the wanted value may arrive as a string), else as strings."""
    if isinstance(wanted, datetime):
        wanted = wanted.timestamp()
    if isinstance(field_value, (int, float)) and not isinstance(field_value, bool):
        try:
            return float(field_value), float(wanted)
        except (TypeError, ValueError):
            return str(field_value), str(wanted)
    return str(field_value), str(wanted)


@dataclass
class Filter:
    name: str
    operator: Operator | str | None = None
    value: Any = None

    def __post_init__(self) -> None:
        self.name = canonical_field(self.name)
        self.operator = _operator(self.operator)
        if self.operator not in (Operator.EXISTS, Operator.NOT_EXISTS) and self.value is None:
            raise InvalidValueError(f"filter on {self.name!r} with {self.operator.value} needs a value")

    def _one(self, v: Any) -> bool:
        op = self.operator
        if op is Operator.CONTAINS:
            return str(self.value) in str(v)
        if op is Operator.IN:  # a comma-separated list (the API's form) or a sequence
            wanted = self.value.split(",") if isinstance(self.value, str) else list(self.value)
            return any(a == b for a, b in (_coerce(v, w) for w in wanted))
        a, b = _coerce(v, self.value)
        if op is Operator.EQUALS:
            return bool(a == b)
        if op is Operator.NOT_EQUALS:
            return bool(a != b)
        try:
            if op is Operator.GREATER_THAN:
                return bool(a > b)
            if op is Operator.GREATER_THAN_OR_EQUAL:
                return bool(a >= b)
            if op is Operator.LESS_THAN:
                return bool(a < b)
            return bool(a <= b)
        except TypeError:
            return False

    def matches(self, fields: Mapping[str, Any]) -> bool:
        present = self.name in fields and fields[self.name] is not None
        if self.operator is Operator.EXISTS:
            return present
        if self.operator is Operator.NOT_EXISTS:
            return not present
        if not present:
            return self.operator is Operator.NOT_EQUALS
        v = fields[self.name]
        if isinstance(v, (list, tuple)):  # multi-valued (Parents.*): any element matches
            return any(self._one(x) for x in v)
        return self._one(v)


@dataclass
class NestedFilter:
    """Filters that must all hold for one element of a nested property (kept for smexperiments
    compatibility; on these flat fields it is the AND of its filters)."""

    nested_property_name: str
    filters: Sequence[Filter]

    def matches(self, fields: Mapping[str, Any]) -> bool:
        return all(f.matches(fields) for f in self.filters)


@dataclass
class SearchExpression:
    filters: Sequence[Filter] | None = None
    nested_filters: Sequence[NestedFilter] | None = None
    sub_expressions: Sequence[SearchExpression] | None = None
    boolean_operator: BooleanOperator | str = BooleanOperator.AND
    _parts: list[Any] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.boolean_operator, str):
            try:
                self.boolean_operator = BooleanOperator(self.boolean_operator.capitalize())
            except ValueError:
                raise InvalidValueError(
                    f"boolean_operator {self.boolean_operator!r} is not valid; expected 'And' or 'Or'"
                ) from None
        self._parts = [*(self.filters or ()), *(self.nested_filters or ()), *(self.sub_expressions or ())]
        if not self._parts:
            raise InvalidValueError(
                "SearchExpression needs at least one filter, nested filter or sub-expression"
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchExpression:
        """The expression from the Search API's dict (what the SageMaker SDK's
        ``ExperimentAnalytics(search_expression=...)`` takes): ``Filters`` (``Name``,
        ``Operator``, ``Value``), ``NestedFilters`` (``NestedPropertyName``, ``Filters``),
        ``SubExpressions`` (the same shape, recursively) and ``Operator`` (``And``/``Or``)."""
        if not isinstance(data, Mapping):
            raise InvalidValueError(
                f"search_expression={data!r}: expected a SearchExpression or a dict with "
                "Filters/NestedFilters/SubExpressions"
            )
        unknown = sorted(set(data) - {"Filters", "NestedFilters", "SubExpressions", "Operator"})
        if unknown:
            raise InvalidValueError(
                f"search_expression has unknown key(s) {unknown}: expected Filters, NestedFilters, "
                "SubExpressions and Operator"
            )
        nested = [
            NestedFilter(_key(n, "NestedPropertyName"), [_filter(f) for f in _key(n, "Filters")])
            for n in data.get("NestedFilters") or ()
        ]
        return cls(
            filters=[_filter(f) for f in data.get("Filters") or ()] or None,
            nested_filters=nested or None,
            sub_expressions=[cls.from_dict(e) for e in data.get("SubExpressions") or ()] or None,
            boolean_operator=data.get("Operator") or BooleanOperator.AND,
        )

    @classmethod
    def coerce(cls, value: SearchExpression | Mapping[str, Any]) -> SearchExpression:
        """``value`` itself, or :meth:`from_dict` of the API's dict."""
        return value if isinstance(value, SearchExpression) else cls.from_dict(value)

    def matches(self, fields: Mapping[str, Any]) -> bool:
        results = (p.matches(fields) for p in self._parts)
        return all(results) if self.boolean_operator is BooleanOperator.AND else any(results)


def _key(item: Any, key: str) -> Any:
    if not isinstance(item, Mapping) or key not in item:
        raise InvalidValueError(f"search_expression item {item!r} has no {key!r}: expected a dict with {key}")
    return item[key]


def _filter(item: Any) -> Filter:
    name = _key(item, "Name")
    unknown = sorted(set(item) - {"Name", "Operator", "Value"})
    if unknown:
        raise InvalidValueError(
            f"search_expression filter {item!r} has unknown key(s) {unknown}: expected Name, Operator, Value"
        )
    if "Operator" not in item and "Value" not in item:  # the API: a bare Name means "has the property"
        return Filter(name, Operator.EXISTS)
    return Filter(name, item.get("Operator"), item.get("Value"))
