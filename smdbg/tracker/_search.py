"""SearchExpression and Filter (smexperiments' names), evaluated against a flat dict of fields.

Field names: ``TrialComponentName``, ``DisplayName``, ``Status`` (or ``Status.PrimaryStatus``),
``StartTime``/``EndTime``/``CreationTime``/``LastModifiedTime`` (seconds since the epoch, or a
datetime), ``Parameters.<name>``, ``Metrics.<name>.<Min|Max|Avg|StdDev|Last|Count>``,
``InputArtifacts.<name>``/``OutputArtifacts.<name>`` (the value), ``Tags.<key>``,
``Parents.TrialName``, ``Parents.ExperimentName`` (true if any parent matches).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from smdbg.tracker._errors import InvalidValueError

__all__ = ["Operator", "BooleanOperator", "Filter", "NestedFilter", "SearchExpression"]


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
        self.operator = _operator(self.operator)
        if self.operator not in (Operator.EXISTS, Operator.NOT_EXISTS) and self.value is None:
            raise InvalidValueError(f"filter on {self.name!r} with {self.operator.value} needs a value")

    def _one(self, v: Any) -> bool:
        op = self.operator
        if op is Operator.CONTAINS:
            return str(self.value) in str(v)
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

    def matches(self, fields: Mapping[str, Any]) -> bool:
        results = (p.matches(fields) for p in self._parts)
        return all(results) if self.boolean_operator is BooleanOperator.AND else any(results)
