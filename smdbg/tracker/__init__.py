"""The experiment tracker: experiments, trials, trial components and metrics in SQLite (default,
``~/.smdbg/tracker.db``) or PostgreSQL, with smexperiments' names, analytics as pandas DataFrames
and TensorBoard export.

    from smdbg.tracker import Experiment, Trial, Tracker, ExperimentAnalytics
"""

from __future__ import annotations

from smdbg.tracker._analytics import ExperimentAnalytics
from smdbg.tracker._backend import TrackerBackend
from smdbg.tracker._component import TrialComponent, TrialComponentStatus
from smdbg.tracker._config import ENV_ARTIFACTS, ENV_URL, close_all, default_url, get_backend, resolve_url
from smdbg.tracker._errors import (
    AlreadyExistsError,
    InvalidValueError,
    NotFoundError,
    SchemaVersionError,
    StorageUnavailableError,
    TrackerError,
)
from smdbg.tracker._experiment import Experiment, Trial
from smdbg.tracker._records import MetricPoints, MetricSummary, TrialComponentArtifact
from smdbg.tracker._search import BooleanOperator, Filter, NestedFilter, Operator, SearchExpression
from smdbg.tracker._table import ComponentPage, ComponentQuery
from smdbg.tracker._tracker import DEBUGGER_TRIAL_MEDIA_TYPE, ENV_TRIAL_COMPONENT, Tracker

__all__ = [
    "Experiment",
    "Trial",
    "TrialComponent",
    "TrialComponentStatus",
    "TrialComponentArtifact",
    "Tracker",
    "ExperimentAnalytics",
    "SearchExpression",
    "Filter",
    "NestedFilter",
    "Operator",
    "BooleanOperator",
    "MetricSummary",
    "MetricPoints",
    "TrackerBackend",
    "ComponentQuery",
    "ComponentPage",
    "get_backend",
    "close_all",
    "default_url",
    "resolve_url",
    "ENV_URL",
    "ENV_ARTIFACTS",
    "ENV_TRIAL_COMPONENT",
    "DEBUGGER_TRIAL_MEDIA_TYPE",
    "TrackerError",
    "AlreadyExistsError",
    "NotFoundError",
    "InvalidValueError",
    "StorageUnavailableError",
    "SchemaVersionError",
    "export_tensorboard",
]


def export_tensorboard(*args: object, **kwargs: object) -> list[str]:
    """Write TensorBoard event files; see :func:`smdbg.tracker._tensorboard.export_tensorboard`."""
    from smdbg.tracker._tensorboard import export_tensorboard as _export

    return _export(*args, **kwargs)  # type: ignore[arg-type]
