"""ExperimentAnalytics: trial components of an experiment (or of a search) as one pandas DataFrame,
with smexperiments' columns."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from smdbg._optional import require
from smdbg.tracker._config import get_backend
from smdbg.tracker._errors import InvalidValueError
from smdbg.tracker._records import ComponentRecord
from smdbg.tracker._search import SearchExpression
from smdbg.tracker._table import METRIC_STATS, component_fields

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ExperimentAnalytics", "component_fields", "METRIC_STATS"]

def _ordered(names: Iterable[Iterable[str]], wanted: Iterable[str] | None) -> list[str]:
    if wanted is not None:
        return list(wanted)
    return list(dict.fromkeys(n for group in names for n in group))


class ExperimentAnalytics:
    """One row per trial component; columns TrialComponentName, DisplayName, one per parameter,
    ``<metric> - Min|Max|Avg|StdDev|Last|Count``, ``<artifact> - MediaType|Value``, Trials, Experiments."""

    def __init__(
        self,
        experiment_name: str | None = None,
        search_expression: SearchExpression | None = None,
        sort_by: str | None = None,
        sort_order: str | None = None,
        metric_names: Iterable[str] | None = None,
        parameter_names: Iterable[str] | None = None,
        input_artifact_names: Iterable[str] | None = None,
        output_artifact_names: Iterable[str] | None = None,
        db_url: str | None = None,
    ) -> None:
        if experiment_name is None and search_expression is None:
            raise InvalidValueError(
                "ExperimentAnalytics needs experiment_name= or search_expression= (or both)"
            )
        if sort_order not in (None, "Ascending", "Descending"):
            raise InvalidValueError(
                f"sort_order {sort_order!r} is not valid; expected 'Ascending' or 'Descending'"
            )
        self.experiment_name = experiment_name
        self.search_expression = search_expression
        self.sort_by = sort_by
        self.sort_order = sort_order
        self.metric_names = None if metric_names is None else list(metric_names)
        self.parameter_names = None if parameter_names is None else list(parameter_names)
        self.input_artifact_names = None if input_artifact_names is None else list(input_artifact_names)
        self.output_artifact_names = None if output_artifact_names is None else list(output_artifact_names)
        self._backend = get_backend(db_url)
        self._df: pd.DataFrame | None = None

    def clear_cache(self) -> None:
        self._df = None

    def _records(self) -> list[ComponentRecord]:
        records = self._backend.list_components(experiment_name=self.experiment_name)
        if self.search_expression is None and self.sort_by is None:
            return records
        fields = [component_fields(r) for r in records]
        pairs = [
            (r, f)
            for r, f in zip(records, fields)
            if self.search_expression is None or self.search_expression.matches(f)
        ]
        if self.sort_by is not None:
            key = self.sort_by
            present = [p for p in pairs if p[1].get(key) is not None]
            missing = [p for p in pairs if p[1].get(key) is None]
            present.sort(
                key=lambda p: (isinstance(p[1][key], str), p[1][key]), reverse=self.sort_order == "Descending"
            )
            pairs = present + missing  # components without the field go last either way
        return [p[0] for p in pairs]

    def dataframe(self, force_refresh: bool = False) -> pd.DataFrame:
        pd = require("pandas", extra="tracker", feature="ExperimentAnalytics.dataframe()")

        if self._df is not None and not force_refresh:
            return self._df
        records = self._records()
        params = _ordered((r.parameters for r in records), self.parameter_names)
        metrics = _ordered((r.metrics for r in records), self.metric_names)
        inputs = _ordered((r.input_artifacts for r in records), self.input_artifact_names)
        outputs = _ordered((r.output_artifacts for r in records), self.output_artifact_names)
        columns = ["TrialComponentName", "DisplayName", *params]
        columns += [f"{m} - {label}" for m in metrics for label, _ in METRIC_STATS]
        for names in (inputs, outputs):
            columns += [f"{n} - {part}" for n in names for part in ("MediaType", "Value")]
        columns += ["Trials", "Experiments"]
        rows = []
        for r in records:
            row: list[Any] = [r.name, r.display_name, *(r.parameters.get(p) for p in params)]
            for m in metrics:
                s = r.metrics.get(m)
                row += [None if s is None else getattr(s, attr) for _, attr in METRIC_STATS]
            for names, arts in ((inputs, r.input_artifacts), (outputs, r.output_artifacts)):
                for n in names:
                    a = arts.get(n)
                    row += [None, None] if a is None else [a.media_type, a.value]
            row += [list(r.trial_names), list(r.experiment_names)]
            rows.append(row)
        self._df = pd.DataFrame(rows, columns=columns)
        return self._df
