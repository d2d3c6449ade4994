"""Recording candidates as tracker trial components (``smdbg.tracker``, imported lazily).

One experiment per job (``experiment_name``, default the job name), one trial per job, one trial
component per candidate with its parameters, its objective metric and its time.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

__all__ = ["CandidateRecorder", "tracker_available"]

_log = logging.getLogger(__name__)


def tracker_available() -> bool:
    try:
        module = importlib.import_module("smdbg.tracker")
    except ImportError:
        return False
    return all(hasattr(module, n) for n in ("Tracker", "Experiment"))


def _flat_parameters(spec: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"algorithm": spec.get("algorithm", "ensemble")}
    for group in ("params", "features"):
        for k, v in spec.get(group, {}).items():
            out[f"{group}.{k}"] = v if isinstance(v, (int, float, str)) else str(v)
    return out


class CandidateRecorder:
    """Writes each finished candidate as a trial component; a no-op when the tracker is missing."""

    def __init__(self, db_url: str | None, experiment_name: str, trial_name: str) -> None:
        self.db_url = db_url
        self.experiment_name = experiment_name
        self.trial_name = trial_name
        self.enabled = tracker_available()
        self._trial: Any = None
        self.error: str | None = None

    def _kwargs(self) -> dict[str, Any]:
        return {} if self.db_url is None else {"db_url": self.db_url}

    def _get_trial(self) -> Any:
        if self._trial is None:
            from smdbg.tracker import Experiment, Trial

            # an earlier job, or another worker of the same search, may have created them
            Experiment.load_or_create(self.experiment_name, **self._kwargs())
            self._trial = Trial.load_or_create(self.trial_name, self.experiment_name, **self._kwargs())
        return self._trial

    def record(self, candidate: dict[str, Any], spec: dict[str, Any]) -> None:
        """Record one candidate (a ListCandidates-shaped dict and its spec).

        A tracker error does not stop the search: it is logged once, kept in ``error`` and
        recording stops; the job's leaderboard file still holds every candidate.
        """
        if not self.enabled or self.error is not None:
            return
        try:
            self._record(candidate, spec)
        except Exception as e:
            self.error = f"{type(e).__name__}: {e}"
            _log.warning("recording candidates in the tracker stopped: %s", self.error)

    def _record(self, candidate: dict[str, Any], spec: dict[str, Any]) -> None:
        from smdbg.tracker import Tracker

        trial = self._get_trial()
        with Tracker.create(display_name=candidate["CandidateName"], **self._kwargs()) as tracker:
            params = _flat_parameters(spec)
            params["CandidateStatus"] = candidate["CandidateStatus"]
            if candidate.get("FailureReason"):
                params["FailureReason"] = candidate["FailureReason"]
            tracker.log_parameters(params)
            metric = candidate["FinalAutoMLJobObjectiveMetric"]
            if metric.get("Value") is not None:
                tracker.log_metric(metric["MetricName"], float(metric["Value"]))
            tracker.log_metric("FitSeconds", float(candidate["CandidateProperties"]["FitSeconds"]))
            model = candidate["InferenceContainers"][0].get("ModelDataUrl")
            if model:
                tracker.log_output("model", model)
        trial.add_trial_component(tracker)
