"""Filing a job under an experiment trial (``experiment_config``) as a trial component."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

__all__ = ["JobTracking", "validate_experiment_config"]

_log = logging.getLogger(__name__)
_KEYS = ("ExperimentName", "TrialName", "TrialComponentDisplayName", "RunName")


def validate_experiment_config(config: Mapping[str, Any] | None) -> dict[str, str] | None:
    if config is None:
        return None
    if not isinstance(config, Mapping):
        raise ValueError(f"experiment_config={config!r}: expected a dict with ExperimentName and TrialName")
    unknown = sorted(set(config) - set(_KEYS))
    if unknown:
        raise ValueError(
            f"experiment_config has unknown key(s) {unknown}; expected some of {', '.join(_KEYS)}"
        )
    if not config.get("ExperimentName") or not config.get("TrialName"):
        raise ValueError(
            f"experiment_config={dict(config)!r}: expected both ExperimentName and TrialName "
            "(e.g. {'ExperimentName': 'mnist', 'TrialName': 'lr-0-1'})"
        )
    exp = {k: str(v) for k, v in config.items()}
    _check_trial_experiment(exp)
    return exp


def _check_trial_experiment(exp: Mapping[str, str]) -> None:
    """A trial that already exists under another experiment is refused before the job starts
    (its supervisor would otherwise fail on it: :meth:`smdbg.tracker.Trial.load_or_create`)."""
    from smdbg.tracker import NotFoundError, Trial

    try:
        trial = Trial.load(exp["TrialName"])
    except NotFoundError:
        return
    if trial.experiment_name != exp["ExperimentName"]:
        raise ValueError(
            f"experiment_config: trial {exp['TrialName']!r} belongs to experiment {trial.experiment_name!r}, "
            f"not {exp['ExperimentName']!r}; choose another TrialName or ExperimentName"
        )


class JobTracking:
    """The job's trial component; every method does nothing when the job has no experiment config."""

    def __init__(self, tracker: Any | None) -> None:
        self.tracker = tracker

    @classmethod
    def start(cls, spec: Mapping[str, Any]) -> JobTracking:
        config = spec.get("experiment_config")
        if not config:
            return cls(None)
        from smdbg.tracker import Experiment, Tracker, Trial

        db_url = spec.get("tracker_db_url")
        # race-safe: jobs started together into a new experiment and trial share one row of each
        Experiment.load_or_create(config["ExperimentName"], db_url=db_url)
        trial = Trial.load_or_create(config["TrialName"], config["ExperimentName"], db_url=db_url)
        tracker = Tracker.create(
            display_name=config.get("TrialComponentDisplayName") or spec["name"],
            trial_component_name=spec["trial_component_name"],
            db_url=db_url,
            flush_interval_s=0.5,
        )
        tracker.__enter__()
        params = {f"SageMaker.{k}": v for k, v in (spec.get("job_parameters") or {}).items()}
        params.update({str(k): _param(v) for k, v in (spec.get("hyperparameters") or {}).items()})
        if params:
            tracker.log_parameters(params)
        for name, path in (spec.get("input_artifacts") or {}).items():
            tracker.log_input(name, path)
        if spec.get("debugger_trial"):
            tracker.log_output("debugger-trial", spec["debugger_trial"])
        trial.add_trial_component(tracker)
        return cls(tracker)

    def log_metric(self, name: str, value: float, step: int) -> None:
        if self.tracker is None:
            return
        try:
            self.tracker.log_metric(name, value, iteration_number=step)
        except Exception as e:  # a bad point must not kill the job; it is reported
            _log.warning("could not log metric %s=%r: %s", name, value, e)

    def finish(self, status: str, reason: str | None, spec: Mapping[str, Any]) -> None:
        if self.tracker is None:
            return
        for name, path in (spec.get("output_artifacts") or {}).items():
            self.tracker.log_output(name, path)
        self.tracker.close()
        tc = self.tracker.trial_component
        from smdbg.tracker import TrialComponentStatus

        tc.status = TrialComponentStatus(status, reason)
        from datetime import datetime, timezone

        tc.end_time = datetime.fromtimestamp(time.time(), tz=timezone.utc)
        tc.save()


def _param(v: Any) -> str | float:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int | float):
        return float(v)
    return str(v)
