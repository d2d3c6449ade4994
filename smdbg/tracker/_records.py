"""Frozen records the storage backend returns, and the metric batch it accepts."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

__all__ = [
    "ExperimentRecord",
    "TrialRecord",
    "ComponentRecord",
    "TrialComponentArtifact",
    "MetricSummary",
    "MetricBatch",
    "MetricPoints",
    "to_datetime",
    "last_modified",
    "STATUSES",
    "NO_ITERATION",
]

STATUSES = ("InProgress", "Completed", "Failed", "Stopping", "Stopped")
NO_ITERATION = -(2**63)  # stored iteration number meaning "none given"


def to_datetime(t: float | None) -> datetime | None:
    """Seconds since the epoch (as stored) to an aware UTC datetime."""
    return None if t is None else datetime.fromtimestamp(t, tz=timezone.utc)


@dataclass(frozen=True)
class ExperimentRecord:
    """An experiment; ``last_modified_time`` None (a record to create) means its creation time."""

    name: str
    display_name: str
    description: str | None
    tags: dict[str, str]
    creation_time: float
    last_modified_time: float | None = None


@dataclass(frozen=True)
class TrialRecord:
    """A trial; ``last_modified_time`` None (a record to create) means its creation time."""

    name: str
    experiment_name: str
    display_name: str
    tags: dict[str, str]
    creation_time: float
    last_modified_time: float | None = None


def last_modified(record: ExperimentRecord | TrialRecord) -> float:
    """When an experiment or a trial was last modified (its creation time if never)."""
    return record.creation_time if record.last_modified_time is None else record.last_modified_time


@dataclass(frozen=True)
class TrialComponentArtifact:
    """An input or output artifact: a value (usually a URI) and an optional media type."""

    value: str
    media_type: str | None = None


@dataclass(frozen=True)
class MetricSummary:
    """Summary of every point logged for one metric of one trial component.

    ``std_dev`` is the sample standard deviation (0.0 for a single point).
    """

    metric_name: str
    count: int
    min: float
    max: float
    avg: float
    std_dev: float
    last: float

    @classmethod
    def from_moments(
        cls, name: str, count: int, mean: float, m2: float, vmin: float, vmax: float, last: float
    ) -> MetricSummary:
        std = math.sqrt(max(m2, 0.0) / (count - 1)) if count > 1 else 0.0
        return cls(name, int(count), float(vmin), float(vmax), float(mean), std, float(last))


@dataclass(frozen=True)
class ComponentRecord:
    name: str
    display_name: str
    status: str
    status_message: str | None
    start_time: float | None
    end_time: float | None
    creation_time: float
    last_modified_time: float
    parameters: dict[str, str | float] = field(default_factory=dict)
    input_artifacts: dict[str, TrialComponentArtifact] = field(default_factory=dict)
    output_artifacts: dict[str, TrialComponentArtifact] = field(default_factory=dict)
    metrics: dict[str, MetricSummary] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    trial_names: tuple[str, ...] = ()
    experiment_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class MetricBatch:
    """Points of one metric to append: equal-length float64/float64/int64 arrays."""

    metric_name: str
    values: np.ndarray
    timestamps: np.ndarray
    iterations: np.ndarray

    def __post_init__(self) -> None:
        if not (len(self.values) == len(self.timestamps) == len(self.iterations)):
            raise ValueError("values, timestamps and iterations must have the same length")


@dataclass(frozen=True)
class MetricPoints:
    """Every point of one metric, in logging order. ``iterations`` uses -1 where none was given."""

    metric_name: str
    values: np.ndarray
    timestamps: np.ndarray
    iterations: np.ndarray
