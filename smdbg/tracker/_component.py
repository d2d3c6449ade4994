"""TrialComponent: one stage of a trial (a training run, a preprocessing job...) with its
parameters, artifacts and metric summaries."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from smdbg._sdk_args import sdk_kwargs
from smdbg.tracker._backend import TrackerBackend
from smdbg.tracker._config import get_backend
from smdbg.tracker._errors import InvalidValueError
from smdbg.tracker._records import (
    STATUSES,
    ComponentRecord,
    MetricPoints,
    MetricSummary,
    TrialComponentArtifact,
    to_datetime,
)
from smdbg.tracker._validate import check_name, check_parameter, check_tags, new_name, to_epoch

__all__ = ["TrialComponent", "TrialComponentStatus"]


@dataclass(frozen=True)
class TrialComponentStatus:
    primary_status: str
    message: str | None = None


class TrialComponent:
    """A snapshot of a trial component; change fields and call :meth:`save`, or log through a Tracker.

    To remove parameters or artifacts, delete them from ``parameters`` / ``input_artifacts`` /
    ``output_artifacts`` (or name them in ``parameters_to_remove`` / ``input_artifacts_to_remove``
    / ``output_artifacts_to_remove``, smexperiments' attributes) and call :meth:`save`; or call
    :meth:`remove`.
    """

    def __init__(self, record: ComponentRecord, backend: TrackerBackend) -> None:
        self._backend = backend
        self._set(record)

    def _set(self, r: ComponentRecord) -> None:
        self.trial_component_name = r.name
        self.display_name = r.display_name
        self.status = TrialComponentStatus(r.status, r.status_message)
        self.start_time: datetime | None = to_datetime(r.start_time)
        self.end_time: datetime | None = to_datetime(r.end_time)
        self.creation_time: datetime = to_datetime(r.creation_time)  # type: ignore[assignment]
        self.last_modified_time: datetime = to_datetime(r.last_modified_time)  # type: ignore[assignment]
        self.parameters: dict[str, str | float] = dict(r.parameters)
        self.input_artifacts: dict[str, TrialComponentArtifact] = dict(r.input_artifacts)
        self.output_artifacts: dict[str, TrialComponentArtifact] = dict(r.output_artifacts)
        self.metrics: list[MetricSummary] = list(r.metrics.values())
        self.tags: dict[str, str] = dict(r.tags)
        self.trial_names: tuple[str, ...] = r.trial_names
        self.experiment_names: tuple[str, ...] = r.experiment_names
        self.parameters_to_remove: list[str] = []
        self.input_artifacts_to_remove: list[str] = []
        self.output_artifacts_to_remove: list[str] = []
        self._loaded = (set(r.parameters), set(r.input_artifacts), set(r.output_artifacts))

    def __repr__(self) -> str:
        return f"TrialComponent(trial_component_name={self.trial_component_name!r}, status={self.status.primary_status!r})"

    @classmethod
    def create(
        cls,
        trial_component_name: str | None = None,
        display_name: str | None = None,
        tags: Any = None,
        db_url: str | None = None,
        **kwargs: Any,
    ) -> TrialComponent:
        sdk_kwargs("TrialComponent.create", kwargs)  # AWS-only arguments: ignored
        name = check_name("trial component", trial_component_name or new_name("TrialComponent"))
        now = time.time()
        record = ComponentRecord(
            name=name,
            display_name=display_name or name,
            status="InProgress",
            status_message=None,
            start_time=None,
            end_time=None,
            creation_time=now,
            last_modified_time=now,
            tags=check_tags(tags),
        )
        backend = get_backend(db_url)
        backend.create_component(record)
        return cls(record, backend)

    @classmethod
    def load(cls, trial_component_name: str, db_url: str | None = None, **kwargs: Any) -> TrialComponent:
        sdk_kwargs("TrialComponent.load", kwargs)  # AWS-only arguments: ignored
        backend = get_backend(db_url)
        return cls(backend.get_component(check_name("trial component", trial_component_name)), backend)

    @classmethod
    def list(
        cls, experiment_name: str | None = None, trial_name: str | None = None, db_url: str | None = None,
        **kwargs: Any,
    ) -> list[TrialComponent]:
        sdk_kwargs("TrialComponent.list", kwargs)  # AWS-only arguments: ignored
        backend = get_backend(db_url)
        return [cls(r, backend) for r in backend.list_components(experiment_name, trial_name)]

    def reload(self) -> TrialComponent:
        self._set(self._backend.get_component(self.trial_component_name))
        return self

    def save(self) -> None:
        """Write display name, status, times, parameters, artifacts and tags, and remove the
        parameters and artifacts deleted from this object since it was loaded or named in the
        ``*_to_remove`` lists."""
        if self.status.primary_status not in STATUSES:
            raise InvalidValueError(
                f"status {self.status.primary_status!r} is not valid; expected one of {', '.join(STATUSES)}"
            )
        held: tuple[dict[str, Any], ...] = (self.parameters, self.input_artifacts, self.output_artifacts)
        extra = (self.parameters_to_remove, self.input_artifacts_to_remove, self.output_artifacts_to_remove)
        gone = [sorted((loaded - set(now)) | set(_names(more))) for loaded, now, more in zip(self._loaded, held, extra)]
        params = {k: check_parameter(k, v) for k, v in self.parameters.items() if k not in gone[0]}
        # every check is done: from here on it writes
        for now, names in zip(held, gone):
            for n in names:
                now.pop(n, None)
        self._backend.update_component(
            self.trial_component_name,
            display_name=self.display_name,
            status=self.status.primary_status,
            status_message=self.status.message,
            start_time=None if self.start_time is None else to_epoch(self.start_time),
            end_time=None if self.end_time is None else to_epoch(self.end_time),
            tags=self.tags,
        )
        self._backend.write(self.trial_component_name, params, self.input_artifacts, self.output_artifacts)
        if any(gone):
            self._backend.remove(self.trial_component_name, *gone)
        self.parameters_to_remove, self.input_artifacts_to_remove, self.output_artifacts_to_remove = [], [], []
        self._loaded = (set(self.parameters), set(self.input_artifacts), set(self.output_artifacts))

    def remove(
        self,
        parameters: Iterable[str] = (),
        input_artifacts: Iterable[str] = (),
        output_artifacts: Iterable[str] = (),
    ) -> TrialComponent:
        """Remove the named parameters and artifacts now (names it does not have are skipped) and
        reload this object."""
        names = [_names(group) for group in (parameters, input_artifacts, output_artifacts)]
        self._backend.remove(self.trial_component_name, *names)
        return self.reload()

    def delete(self) -> None:
        self._backend.delete_component(self.trial_component_name)

    def metric_points(self, metric_name: str | None = None) -> dict[str, MetricPoints]:
        """Every logged point of one metric (or of all), by metric name, in logging order."""
        return {
            p.metric_name: p for p in self._backend.read_metric_points(self.trial_component_name, metric_name)
        }


def _names(names: Iterable[str] | None) -> list[str]:
    """A list of parameter or artifact names (a single string is refused, not split into letters)."""
    if isinstance(names, str):
        raise InvalidValueError(f"names to remove {names!r}: expected a list of names, e.g. [{names!r}]")
    return [check_name("parameter or artifact", n) for n in names or ()]
