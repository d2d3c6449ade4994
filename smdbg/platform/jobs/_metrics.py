"""Metric definitions: ``{"Name": ..., "Regex": ...}`` compiled once, matched against log lines."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["MetricDefinition", "compile_metric_definitions"]


@dataclass(frozen=True)
class MetricDefinition:
    name: str
    pattern: re.Pattern[str]

    def match(self, line: str) -> float | None:
        m = self.pattern.search(line)
        if m is None:
            return None
        text = m.group(1) if m.groups() else m.group(0)
        try:
            return float(text)
        except (TypeError, ValueError):
            return None


def compile_metric_definitions(defs: Iterable[Mapping[str, str]] | None) -> list[MetricDefinition]:
    """Compile SageMaker-style metric definitions; a bad one raises ValueError naming it."""
    out: list[MetricDefinition] = []
    for i, d in enumerate(defs or []):
        if not isinstance(d, Mapping) or "Name" not in d or "Regex" not in d:
            raise ValueError(
                f"metric_definitions[{i}]={d!r}: expected a dict with 'Name' and 'Regex' "
                "(e.g. {'Name': 'train:loss', 'Regex': 'loss=([0-9.eE+-]+)'})"
            )
        try:
            pattern = re.compile(d["Regex"])
        except re.error as e:
            raise ValueError(
                f"metric_definitions[{i}] {d['Name']!r}: Regex {d['Regex']!r} does not compile ({e}); "
                "expected a Python regular expression whose first group captures the number"
            ) from e
        out.append(MetricDefinition(str(d["Name"]), pattern))
    return out
