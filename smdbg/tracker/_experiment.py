"""Experiment and Trial: the front-end classes over the storage backend."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from smdbg._sdk_args import sdk_kwargs
from smdbg.tracker._backend import TrackerBackend
from smdbg.tracker._config import get_backend
from smdbg.tracker._errors import AlreadyExistsError, InvalidValueError, NotFoundError
from smdbg.tracker._records import ExperimentRecord, TrialRecord, last_modified, to_datetime
from smdbg.tracker._search import SearchExpression
from smdbg.tracker._validate import check_name, check_tags, new_name, to_epoch

if TYPE_CHECKING:
    from smdbg.tracker._component import TrialComponent

__all__ = ["Experiment", "Trial"]

T = TypeVar("T")


def _check_force(action: str, what: str) -> None:
    if action != "--force":
        raise InvalidValueError(
            f"{what}.delete_all(action={action!r}) refused; pass action='--force' to delete everything in it"
        )


def _window(items: Iterable[Any], created_before: Any, created_after: Any) -> list[Any]:
    lo = None if created_after is None else to_epoch(created_after, "created_after")
    hi = None if created_before is None else to_epoch(created_before, "created_before")
    return [
        x
        for x in items
        if (lo is None or x.creation_time.timestamp() > lo)
        and (hi is None or x.creation_time.timestamp() < hi)
    ]


def _sorted(items: list[Any], sort_by: str | None, sort_order: str | None) -> list[Any]:
    if sort_order not in (None, "Ascending", "Descending"):
        raise InvalidValueError(
            f"sort_order {sort_order!r} is not valid; expected 'Ascending' or 'Descending'"
        )
    if sort_by in (None, "CreationTime"):
        return sorted(items, key=lambda x: x.creation_time, reverse=sort_order == "Descending")
    if sort_by == "Name":
        return sorted(items, key=lambda x: getattr(x, x._name_attr), reverse=sort_order == "Descending")
    raise InvalidValueError(f"sort_by {sort_by!r} is not valid; expected 'CreationTime' or 'Name'")


class Experiment:
    """A named group of trials. Create with :meth:`create`, open with :meth:`load`."""

    _name_attr = "experiment_name"

    def __init__(self, record: ExperimentRecord, backend: TrackerBackend) -> None:
        self._backend = backend
        self._set(record)

    def _set(self, record: ExperimentRecord) -> None:
        self.experiment_name = record.name
        self.display_name = record.display_name
        self.description = record.description
        self.tags = record.tags
        self.creation_time: datetime = to_datetime(record.creation_time)  # type: ignore[assignment]
        self.last_modified_time: datetime = to_datetime(last_modified(record))  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Experiment(experiment_name={self.experiment_name!r})"

    @classmethod
    def create(
        cls,
        experiment_name: str | None = None,
        description: str | None = None,
        tags: Any = None,
        display_name: str | None = None,
        db_url: str | None = None,
        **kwargs: Any,
    ) -> Experiment:
        sdk_kwargs("Experiment.create", kwargs)  # AWS-only arguments: ignored
        name = check_name("experiment", experiment_name or new_name("Experiment"))
        record = ExperimentRecord(name, display_name or name, description, check_tags(tags), time.time())
        backend = get_backend(db_url)
        backend.create_experiment(record)
        return cls(record, backend)

    @classmethod
    def load(cls, experiment_name: str, db_url: str | None = None, **kwargs: Any) -> Experiment:
        sdk_kwargs("Experiment.load", kwargs)  # AWS-only arguments: ignored
        backend = get_backend(db_url)
        return cls(backend.get_experiment(check_name("experiment", experiment_name)), backend)

    @classmethod
    def load_or_create(
        cls,
        experiment_name: str,
        description: str | None = None,
        tags: Any = None,
        display_name: str | None = None,
        db_url: str | None = None,
        **kwargs: Any,
    ) -> Experiment:
        """The experiment named ``experiment_name``, created (with the other arguments) when it does
        not exist yet. Race-safe: when several threads or processes call it at once, one creates
        the experiment and the others load that row (the other arguments apply only on creation)."""
        sdk_kwargs("Experiment.load_or_create", kwargs)  # AWS-only arguments: ignored
        return _load_or_create(
            lambda: cls.load(experiment_name, db_url=db_url),
            lambda: cls.create(experiment_name, description, tags, display_name, db_url=db_url),
        )

    def update(self, display_name: str | None = None, description: str | None = None) -> Experiment:
        """Change the display name and/or description (None leaves a field as it is; giving any
        moves ``last_modified_time``), then reload this object."""
        self._backend.update_experiment(self.experiment_name, display_name=display_name, description=description)
        return self.reload()

    def reload(self) -> Experiment:
        """Read this experiment's fields again from the database."""
        self._set(self._backend.get_experiment(self.experiment_name))
        return self

    def save(self) -> Experiment:
        """Write ``display_name`` and ``description`` as set on this object (smexperiments' way)."""
        return self.update(display_name=self.display_name, description=self.description)

    @classmethod
    def list(
        cls,
        created_before: Any = None,
        created_after: Any = None,
        sort_by: str | None = None,
        sort_order: str | None = None,
        db_url: str | None = None,
        **kwargs: Any,
    ) -> Iterator[Experiment]:
        sdk_kwargs("Experiment.list", kwargs)  # AWS-only arguments: ignored
        backend = get_backend(db_url)
        items = [cls(r, backend) for r in backend.list_experiments()]
        return iter(_sorted(_window(items, created_before, created_after), sort_by, sort_order))

    @classmethod
    def search(
        cls,
        search_expression: SearchExpression | Mapping[str, Any] | None = None,
        sort_by: str | None = None,
        sort_order: str | None = None,
        max_results: int | None = None,
        db_url: str | None = None,
        **kwargs: Any,
    ) -> Iterator[Experiment]:
        """Experiments whose properties (ExperimentName, DisplayName, Description, CreationTime,
        LastModifiedTime, Tags.<key>) match the expression."""
        sdk_kwargs("Experiment.search", kwargs)  # AWS-only arguments: ignored
        expression = None if search_expression is None else SearchExpression.coerce(search_expression)
        found = [
            e
            for e in cls.list(sort_by=sort_by, sort_order=sort_order, db_url=db_url)
            if expression is None or expression.matches(e._search_fields())
        ]
        return iter(found[:max_results] if max_results is not None else found)

    def _search_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "ExperimentName": self.experiment_name,
            "DisplayName": self.display_name,
            "Description": self.description,
            "CreationTime": self.creation_time.timestamp(),
            "LastModifiedTime": self.last_modified_time.timestamp(),
        }
        fields.update({f"Tags.{k}": v for k, v in self.tags.items()})
        return fields

    def create_trial(
        self, trial_name: str | None = None, trial_name_prefix: str = "Trial", tags: Any = None
    ) -> Trial:
        return Trial._create(
            self._backend, trial_name or new_name(trial_name_prefix), self.experiment_name, (), tags
        )

    def list_trials(
        self,
        created_before: Any = None,
        created_after: Any = None,
        sort_by: str | None = None,
        sort_order: str | None = None,
    ) -> Iterator[Trial]:
        items = [
            Trial(r, self._backend) for r in self._backend.list_trials(experiment_name=self.experiment_name)
        ]
        return iter(_sorted(_window(items, created_before, created_after), sort_by, sort_order))

    def delete(self) -> None:
        """Delete the experiment; it must have no trials (see :meth:`delete_all`)."""
        self._backend.delete_experiment(self.experiment_name, cascade=False)

    def delete_all(self, action: str) -> None:
        """Delete the experiment, its trials and their trial components in one transaction.
        ``action`` must be ``"--force"``."""
        _check_force(action, "experiment")
        self._backend.delete_experiment(self.experiment_name, cascade=True)


class Trial:
    """A run within an experiment, grouping trial components."""

    _name_attr = "trial_name"

    def __init__(self, record: TrialRecord, backend: TrackerBackend) -> None:
        self._backend = backend
        self._set(record)

    def _set(self, record: TrialRecord) -> None:
        self.trial_name = record.name
        self.experiment_name = record.experiment_name
        self.display_name = record.display_name
        self.tags = record.tags
        self.creation_time: datetime = to_datetime(record.creation_time)  # type: ignore[assignment]
        self.last_modified_time: datetime = to_datetime(last_modified(record))  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Trial(trial_name={self.trial_name!r}, experiment_name={self.experiment_name!r})"

    @classmethod
    def _create(
        cls,
        backend: TrackerBackend,
        name: str,
        experiment_name: str,
        components: Iterable[Any],
        tags: Any,
        display_name: str | None = None,
    ) -> Trial:
        check_name("trial", name)
        record = TrialRecord(
            name, check_name("experiment", experiment_name), display_name or name, check_tags(tags), time.time()
        )
        backend.create_trial(record, [_component_name(c) for c in components])
        return cls(record, backend)

    @classmethod
    def create(
        cls,
        trial_name: str | None = None,
        experiment_name: str | None = None,
        trial_components: Iterable[Any] | None = None,
        tags: Any = None,
        db_url: str | None = None,
        display_name: str | None = None,
        **kwargs: Any,
    ) -> Trial:
        sdk_kwargs("Trial.create", kwargs)  # AWS-only arguments: ignored
        if experiment_name is None:
            raise InvalidValueError(
                "Trial.create got experiment_name=None; expected the name of an existing experiment"
            )
        return cls._create(
            get_backend(db_url),
            trial_name or new_name("Trial"),
            experiment_name,
            trial_components or (),
            tags,
            display_name,
        )

    @classmethod
    def load(cls, trial_name: str, db_url: str | None = None, **kwargs: Any) -> Trial:
        sdk_kwargs("Trial.load", kwargs)  # AWS-only arguments: ignored
        backend = get_backend(db_url)
        return cls(backend.get_trial(check_name("trial", trial_name)), backend)

    @classmethod
    def load_or_create(
        cls,
        trial_name: str,
        experiment_name: str,
        tags: Any = None,
        display_name: str | None = None,
        db_url: str | None = None,
        **kwargs: Any,
    ) -> Trial:
        """The trial named ``trial_name`` in experiment ``experiment_name`` (which must exist:
        NotFoundError), created when missing; race-safe as :meth:`Experiment.load_or_create`.
        A trial of that name in another experiment raises InvalidValueError naming both."""
        sdk_kwargs("Trial.load_or_create", kwargs)  # AWS-only arguments: ignored
        trial: Trial = _load_or_create(
            lambda: cls.load(trial_name, db_url=db_url),
            lambda: cls.create(trial_name, experiment_name, tags=tags, db_url=db_url, display_name=display_name),
        )
        if trial.experiment_name != experiment_name:
            raise InvalidValueError(
                f"trial {trial_name!r} belongs to experiment {trial.experiment_name!r}, not "
                f"{experiment_name!r}; choose another trial name or experiment"
            )
        return trial

    def update(self, display_name: str | None = None) -> Trial:
        """Change the display name (None leaves it as it is; giving one moves
        ``last_modified_time``), then reload this object."""
        self._backend.update_trial(self.trial_name, display_name=display_name)
        return self.reload()

    def reload(self) -> Trial:
        """Read this trial's fields again from the database."""
        self._set(self._backend.get_trial(self.trial_name))
        return self

    def save(self) -> Trial:
        """Write ``display_name`` as set on this object (smexperiments' way)."""
        return self.update(display_name=self.display_name)

    @classmethod
    def list(
        cls,
        experiment_name: str | None = None,
        trial_component_name: str | None = None,
        created_before: Any = None,
        created_after: Any = None,
        sort_by: str | None = None,
        sort_order: str | None = None,
        db_url: str | None = None,
        **kwargs: Any,
    ) -> Iterator[Trial]:
        sdk_kwargs("Trial.list", kwargs)  # AWS-only arguments: ignored
        backend = get_backend(db_url)
        items = [cls(r, backend) for r in backend.list_trials(experiment_name, trial_component_name)]
        return iter(_sorted(_window(items, created_before, created_after), sort_by, sort_order))

    def add_trial_component(self, trial_component: Any) -> None:
        """Associate a Tracker, a TrialComponent or a trial component name with this trial (a new
        association moves the trial's ``last_modified_time``, here and in the database)."""
        self._associate(trial_component, True)

    def remove_trial_component(self, trial_component: Any) -> None:
        """Remove an association (moves ``last_modified_time`` as :meth:`add_trial_component`)."""
        self._associate(trial_component, False)

    def _associate(self, trial_component: Any, associated: bool) -> None:
        self._backend.associate(self.trial_name, _component_name(trial_component), associated)
        self.last_modified_time = to_datetime(last_modified(self._backend.get_trial(self.trial_name)))  # type: ignore[assignment]

    def list_trial_components(self) -> Iterator[TrialComponent]:
        from smdbg.tracker._component import TrialComponent

        return iter(
            TrialComponent(r, self._backend)
            for r in self._backend.list_components(trial_name=self.trial_name)
        )

    def delete(self) -> None:
        """Delete the trial; it must have no trial components (remove them or use delete_all)."""
        self._backend.delete_trial(self.trial_name)

    def delete_all(self, action: str) -> None:
        """Delete the trial and its trial components that belong to no other trial. ``action='--force'``."""
        _check_force(action, "trial")
        for tc in self.list_trial_components():
            self.remove_trial_component(tc)
            if not self._backend.list_trials(component_name=tc.trial_component_name):
                self._backend.delete_component(tc.trial_component_name)
        self._backend.delete_trial(self.trial_name)


def _load_or_create(load: Callable[[], T], create: Callable[[], T]) -> T:
    """``load()``; when the row is missing ``create()``; when that create loses a race to another
    creator (AlreadyExistsError), ``load()`` the winner's row."""
    try:
        return load()
    except NotFoundError:
        pass
    try:
        return create()
    except AlreadyExistsError:
        return load()


def _component_name(obj: Any) -> str:
    from smdbg.tracker._component import TrialComponent
    from smdbg.tracker._tracker import Tracker

    if isinstance(obj, str):
        return check_name("trial component", obj)
    if isinstance(obj, Tracker):
        return obj.trial_component_name
    if isinstance(obj, TrialComponent):
        return obj.trial_component_name
    raise InvalidValueError(
        f"trial component {obj!r} of type {type(obj).__name__} is not valid; "
        "expected a Tracker, a TrialComponent or a trial component name"
    )
