"""The storage backend contract. Every backend implements these primitives; the front-end
classes (Experiment, Trial, TrialComponent, Tracker, ExperimentAnalytics) are built on them once.

Contract for every method, stated here once:

* Thread- and process-safe: any number of threads and processes may call any method on the same
  database at once; each call is one atomic transaction (all of it is written, or nothing).
  A busy database is waited for and retried, never reported as "database is locked".
* Names are unique per kind (experiment, trial, trial component).
* A missing name raises :class:`NotFoundError`; creating an existing name raises
  :class:`AlreadyExistsError`; an unreachable database raises :class:`StorageUnavailableError`.
* Records returned are frozen snapshots; changing the database later does not change them.
* ``last_modified_time`` of a record returned is always set: an update that writes a field, and
  for a trial a trial component added or removed, sets it to the time of the write; reads never
  change it.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence

from smdbg.tracker._records import (
    ComponentRecord,
    ExperimentRecord,
    MetricBatch,
    MetricPoints,
    TrialComponentArtifact,
    TrialRecord,
)
from smdbg.tracker._table import ComponentPage, ComponentQuery, page_in_memory

__all__ = ["TrackerBackend"]


class TrackerBackend(abc.ABC):
    """Primitives every tracker storage backend provides."""

    url: str

    # -- experiments ---------------------------------------------------------------------------
    @abc.abstractmethod
    def create_experiment(self, record: ExperimentRecord) -> None:
        """Insert a new experiment. Raises AlreadyExistsError if the name is taken."""

    @abc.abstractmethod
    def get_experiment(self, name: str) -> ExperimentRecord:
        """Return one experiment. Raises NotFoundError."""

    @abc.abstractmethod
    def list_experiments(self) -> list[ExperimentRecord]:
        """Every experiment, oldest first."""

    @abc.abstractmethod
    def update_experiment(
        self, name: str, *, display_name: str | None = None, description: str | None = None
    ) -> None:
        """Set the given fields of an experiment (None leaves a field as it is) and, when any is
        given, its last-modified time. Raises NotFoundError."""

    @abc.abstractmethod
    def delete_experiment(self, name: str, cascade: bool) -> None:
        """Delete an experiment. Without ``cascade`` it must have no trials (else InvalidValueError);
        with ``cascade`` its trials and every trial component associated only with those trials
        (with their parameters, artifacts and metric points) go too, in one transaction."""

    # -- trials --------------------------------------------------------------------------------
    @abc.abstractmethod
    def create_trial(self, record: TrialRecord, component_names: Sequence[str] = ()) -> None:
        """Insert a trial in an existing experiment (NotFoundError if it is missing) and
        associate the given existing trial components with it, atomically."""

    @abc.abstractmethod
    def get_trial(self, name: str) -> TrialRecord:
        """Return one trial. Raises NotFoundError."""

    @abc.abstractmethod
    def list_trials(
        self, experiment_name: str | None = None, component_name: str | None = None
    ) -> list[TrialRecord]:
        """Trials, oldest first, optionally only those of one experiment / holding one component."""

    @abc.abstractmethod
    def update_trial(self, name: str, *, display_name: str | None = None) -> None:
        """Set a trial's display name and last-modified time (None changes nothing). Raises NotFoundError."""

    @abc.abstractmethod
    def delete_trial(self, name: str) -> None:
        """Delete a trial with no associated trial components (else InvalidValueError)."""

    @abc.abstractmethod
    def associate(self, trial_name: str, component_name: str, associated: bool = True) -> None:
        """Add (or, with ``associated=False``, remove) a trial / trial component association.
        An association made or removed sets the trial's last-modified time; adding an existing
        association or removing a missing one changes nothing and is not an error."""

    # -- trial components ----------------------------------------------------------------------
    @abc.abstractmethod
    def create_component(self, record: ComponentRecord) -> None:
        """Insert a trial component with its parameters, artifacts and tags (its metrics and
        parents in ``record`` are ignored). Raises AlreadyExistsError."""

    @abc.abstractmethod
    def get_component(self, name: str) -> ComponentRecord:
        """One trial component with parameters, artifacts, metric summaries and parents."""

    @abc.abstractmethod
    def list_components(
        self, experiment_name: str | None = None, trial_name: str | None = None
    ) -> list[ComponentRecord]:
        """Full records (as get_component) of the components of one experiment, one trial or all,
        oldest first. Must be a constant number of queries, not one per component."""

    def query_components(self, query: ComponentQuery) -> ComponentPage:
        """One page of a trial-component table (see ``_table.py``): the components in the query's
        scope that match its search and filters, sorted by ``query.sort_by`` (missing values
        last, ties in creation order), ``query.limit`` of them from ``query.offset``, with the
        total matched and every parameter and metric name in scope. A missing experiment or
        trial raises NotFoundError. This default loads the scope with ``list_components``;
        a backend that can answer in its database should override it."""
        records = self.list_components(query.experiment_name, query.trial_name)
        return page_in_memory(records, query)

    def count_components(self, experiment_name: str) -> dict[str, int]:
        """The number of trial components of each trial of an experiment, by trial name (trials
        without components count 0). A missing experiment raises NotFoundError. This default
        loads each trial's components; a backend that can count in its database should override it."""
        return {t.name: len(self.list_components(trial_name=t.name)) for t in self.list_trials(experiment_name)}

    @abc.abstractmethod
    def update_component(
        self,
        name: str,
        *,
        display_name: str | None = None,
        status: str | None = None,
        status_message: str | None = None,
        start_time: float | None = None,
        end_time: float | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Set the given fields (None leaves a field as it is; tags are merged) and, when any is
        given, the last-modified time."""

    @abc.abstractmethod
    def delete_component(self, name: str) -> None:
        """Delete a trial component, its associations, parameters, artifacts and metric points."""

    @abc.abstractmethod
    def write(
        self,
        component_name: str,
        parameters: Mapping[str, str | float] | None = None,
        input_artifacts: Mapping[str, TrialComponentArtifact] | None = None,
        output_artifacts: Mapping[str, TrialComponentArtifact] | None = None,
        metrics: Sequence[MetricBatch] = (),
    ) -> None:
        """Log to one trial component in one transaction: upsert parameters and artifacts by
        name, append every metric point and update each metric's summary (count, min, max,
        mean, sample std dev, last) to cover all points appended so far."""

    @abc.abstractmethod
    def remove(
        self,
        component_name: str,
        parameters: Sequence[str] = (),
        input_artifacts: Sequence[str] = (),
        output_artifacts: Sequence[str] = (),
    ) -> None:
        """Remove parameters and input/output artifacts of one trial component by name, in one
        transaction; a name the component does not have is skipped. Raises NotFoundError for a
        missing component."""

    @abc.abstractmethod
    def read_metric_points(self, component_name: str, metric_name: str | None = None) -> list[MetricPoints]:
        """Every point of one (or every) metric of a component, in append order."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections. Idempotent."""
