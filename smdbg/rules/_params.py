"""Rule parameters: declared once per rule with a type and a default, parsed from Python values
or from the strings a command line or a JSON job config passes (``"1e-7"``, ``"true"``, ``"a,b"``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from smdbg.rules._errors import RuleConfigError

__all__ = ["Param", "parse_parameters"]

_KINDS = ("float", "int", "bool", "str", "list", "regex")


@dataclass(frozen=True)
class Param:
    """One rule parameter. ``kind`` is float, int, bool, str, list (of strings, or a comma-separated
    string) or regex; ``optional`` allows None (the default when ``default`` is None)."""

    kind: str
    default: Any = None
    help: str = ""
    optional: bool = False
    minimum: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"Param kind {self.kind!r}: expected one of {', '.join(_KINDS)}")

    def parse(self, rule: str, name: str, value: Any) -> Any:
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null", "")):
            if self.optional or self.default is None:
                return None
            raise RuleConfigError(
                f"rule {rule}: parameter {name}=None: expected a {self.kind} (default {self.default!r})"
            )
        try:
            out = _convert(self.kind, value)
        except (TypeError, ValueError) as e:
            raise RuleConfigError(
                f"rule {rule}: parameter {name}={value!r} is not a valid {self.kind}: {e}; "
                f"pass e.g. {name}={self.default!r}" + (f" ({self.help})" if self.help else "")
            ) from None
        if self.minimum is not None and isinstance(out, (int, float)) and out < self.minimum:
            raise RuleConfigError(
                f"rule {rule}: parameter {name}={value!r}: expected a value >= {self.minimum:g}"
            )
        return out


def _convert(kind: str, value: Any) -> Any:
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.strip().lower() in ("true", "1", "yes")
        raise ValueError("expected true or false")
    if kind == "int":
        if isinstance(value, bool):
            raise TypeError("a bool is not an int")
        if isinstance(value, float) and not value.is_integer():
            raise ValueError("expected a whole number")
        if isinstance(value, str):
            value = float(value) if re.fullmatch(r"\s*[-+]?\d+(\.0*)?([eE]\+?\d+)?\s*", value) else int(value)
        return int(value)
    if kind == "float":
        if isinstance(value, bool):
            raise TypeError("a bool is not a number")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            return float(value.strip().rstrip("%"))
        raise TypeError(f"a {type(value).__name__} is not a number")
    if kind == "list":
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, (list, tuple)):
            return [str(v) for v in value]
        raise TypeError(f"a {type(value).__name__} is not a list or a comma-separated string")
    if kind == "regex":
        if not isinstance(value, str):
            raise TypeError(f"a {type(value).__name__} is not a regular expression string")
        try:
            re.compile(value)
        except re.error as e:
            raise ValueError(f"does not compile ({e})") from None
        return value
    if not isinstance(value, str):
        raise TypeError(f"a {type(value).__name__} is not a string")
    return value


def parse_parameters(rule: str, spec: Mapping[str, Param], given: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults of ``spec`` overridden by ``given``; an unknown name or a bad value raises
    :class:`RuleConfigError` naming it and what is expected."""
    unknown = sorted(set(given) - set(spec))
    if unknown:
        allowed = ", ".join(sorted(spec)) or "none"
        raise RuleConfigError(
            f"rule {rule}: unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"its parameters are: {allowed}"
        )
    out = {
        name: p.parse(rule, name, p.default) if p.default is not None else None for name, p in spec.items()
    }
    for name, value in given.items():
        out[name] = spec[name].parse(rule, name, value)
    return out
