"""Tracker: the live handle that logs parameters, artifacts and metrics to one trial component."""

from __future__ import annotations

import json
import mimetypes
import os
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from smdbg import _settings, fs
from smdbg._sdk_args import sdk_kwargs
from smdbg.tracker import _charts
from smdbg.tracker._artifacts import upload_artifact
from smdbg.tracker._buffer import MetricBuffer
from smdbg.tracker._component import TrialComponent
from smdbg.tracker._config import get_backend, resolve_artifact_location
from smdbg.tracker._errors import InvalidValueError
from smdbg.tracker._records import NO_ITERATION, TrialComponentArtifact
from smdbg.tracker._validate import check_iteration, check_metric, check_name, check_parameter, to_epoch

__all__ = ["Tracker", "DEBUGGER_TRIAL_MEDIA_TYPE", "ENV_TRIAL_COMPONENT"]

DEBUGGER_TRIAL_MEDIA_TYPE = "application/x-smdbg-trial"
ENV_TRIAL_COMPONENT = _settings.TRIAL_COMPONENT.name
_CHART_MEDIA_TYPE = "application/vnd.smdbg.chart+json"


class Tracker:
    """Logs to one trial component. Use as a context manager: entering marks it InProgress with a
    start time; leaving writes every buffered point and marks it Completed, or Failed with the error.

    All methods are thread-safe (a debugger hook may log from a background thread).
    """

    def __init__(
        self,
        component: TrialComponent,
        artifact_location: str,
        batch_size: int = 10_000,
        flush_interval_s: float = 1.0,
    ) -> None:
        self._component = component
        self._backend = component._backend
        self.artifact_location = artifact_location
        self._buffer = MetricBuffer(
            self._backend, component.trial_component_name, batch_size, flush_interval_s
        )
        self._names: set[str] = set()
        self._lock = threading.Lock()
        self._finalizer = weakref.finalize(self, self._buffer.close)

    @classmethod
    def create(
        cls,
        display_name: str | None = None,
        artifact_bucket: str | None = None,
        artifact_prefix: str | None = None,
        *,
        trial_component_name: str | None = None,
        tags: Any = None,
        db_url: str | None = None,
        artifact_location: str | None = None,
        batch_size: int = 10_000,
        flush_interval_s: float = 1.0,
        **kwargs: Any,
    ) -> Tracker:
        """Create a new trial component and a tracker logging to it. smexperiments' AWS-only
        arguments (``boto3_session``, ``sagemaker_boto_client``) are accepted and ignored."""
        sdk_kwargs("Tracker.create", kwargs)
        tc = TrialComponent.create(trial_component_name, display_name, tags, db_url)
        location = _location(artifact_location, artifact_bucket, artifact_prefix)
        return cls(tc, location, batch_size, flush_interval_s)

    @classmethod
    def load(
        cls,
        trial_component_name: str | None = None,
        artifact_bucket: str | None = None,
        artifact_prefix: str | None = None,
        *,
        db_url: str | None = None,
        artifact_location: str | None = None,
        batch_size: int = 10_000,
        flush_interval_s: float = 1.0,
        training_job_name: str | None = None,
        processing_job_name: str | None = None,
        **kwargs: Any,
    ) -> Tracker:
        """A tracker for an existing trial component (by default ``$SMDBG_TRIAL_COMPONENT_NAME``,
        which a job runner sets for the script it starts). As in smexperiments,
        ``training_job_name=`` / ``processing_job_name=`` open the component of that job
        (``<job>-training-job`` / ``<job>-processing-job``); ``boto3_session`` and
        ``sagemaker_boto_client`` are accepted and ignored."""
        sdk_kwargs("Tracker.load", kwargs)
        job_names = [n for n in (training_job_name, processing_job_name) if n]
        if len(job_names) + bool(trial_component_name) > 1:
            raise InvalidValueError(
                f"Tracker.load got trial_component_name={trial_component_name!r}, training_job_name="
                f"{training_job_name!r} and processing_job_name={processing_job_name!r}: pass one of them"
            )
        if training_job_name:
            trial_component_name = f"{training_job_name}-training-job"
        elif processing_job_name:
            trial_component_name = f"{processing_job_name}-processing-job"
        name = trial_component_name or _settings.TRIAL_COMPONENT.get()
        if not name:
            raise InvalidValueError(
                f"Tracker.load got no trial_component_name and ${ENV_TRIAL_COMPONENT} is not set; "
                "pass the name of an existing trial component"
            )
        tc = TrialComponent(
            get_backend(db_url).get_component(check_name("trial component", name)), get_backend(db_url)
        )
        return cls(
            tc, _location(artifact_location, artifact_bucket, artifact_prefix), batch_size, flush_interval_s
        )

    # -- lifecycle -------------------------------------------------------------------------------
    @property
    def trial_component_name(self) -> str:
        return self._component.trial_component_name

    @property
    def trial_component(self) -> TrialComponent:
        """The trial component as stored, after writing what is buffered."""
        self.flush()
        return self._component.reload()

    def __enter__(self) -> Tracker:
        self._backend.update_component(self.trial_component_name, status="InProgress", start_time=time.time())
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.close()
        finally:
            failed = exc is not None
            self._backend.update_component(
                self.trial_component_name,
                status="Failed" if failed else "Completed",
                status_message=f"{type(exc).__name__}: {exc}" if failed else None,
                end_time=time.time(),
            )

    def flush(self) -> None:
        """Write every buffered metric point now."""
        self._buffer.flush()

    def close(self) -> None:
        """Write what is buffered and stop the background flusher. Idempotent; logging may go on."""
        self._buffer.close()

    # -- parameters and artifacts (written at once) ------------------------------------------------
    def log_parameter(self, name: str, value: str | float) -> None:
        self.log_parameters({name: value})

    def log_parameters(self, parameters: Mapping[str, str | float]) -> None:
        checked = {k: check_parameter(k, v) for k, v in parameters.items()}
        self._backend.write(self.trial_component_name, parameters=checked)
        with self._lock:
            self._component.parameters.update(checked)

    def _log_artifact_record(self, name: str, value: str, media_type: str | None, is_output: bool) -> None:
        check_name("artifact", name)
        if not isinstance(value, str) or not value:
            raise InvalidValueError(
                f"artifact {name!r} got value {value!r}; expected a non-empty string (a URI)"
            )
        art = {name: TrialComponentArtifact(value, media_type)}
        if is_output:
            self._backend.write(self.trial_component_name, output_artifacts=art)
        else:
            self._backend.write(self.trial_component_name, input_artifacts=art)
        with self._lock:
            (self._component.output_artifacts if is_output else self._component.input_artifacts).update(art)

    def log_input(self, name: str, value: str, media_type: str | None = None) -> None:
        self._log_artifact_record(name, value, media_type, is_output=False)

    def log_output(self, name: str, value: str, media_type: str | None = None) -> None:
        self._log_artifact_record(name, value, media_type, is_output=True)

    def log_artifact(
        self,
        file_path: str | os.PathLike[str],
        name: str | None = None,
        media_type: str | None = None,
        is_output: bool = True,
    ) -> str:
        """Copy a file into the artifact store and record it; returns where it was stored."""
        path = Path(file_path)
        name = name or path.stem
        uri = upload_artifact(path, self.artifact_location, self.trial_component_name, name)
        self._log_artifact_record(name, uri, media_type or mimetypes.guess_type(path.name)[0], is_output)
        return uri

    def log_artifacts(
        self, directory: str | os.PathLike[str], media_type: str | None = None, is_output: bool = True
    ) -> list[str]:
        """Log every file under ``directory`` (recursively), named by relative path without suffix."""
        root = Path(directory)
        if not root.is_dir():
            raise InvalidValueError(
                f"artifact directory {str(directory)!r} does not exist; expected a directory"
            )
        files = sorted(p for p in root.rglob("*") if p.is_file())
        return [
            self.log_artifact(p, p.relative_to(root).with_suffix("").as_posix(), media_type, is_output)
            for p in files
        ]

    def log_debugger_trial(self, path: str, import_metrics: bool = False) -> int:
        """Record a debugger trial (its directory or URL) as the output artifact ``debugger-trial``;
        with ``import_metrics``, also log its losses and scalar metrics (iteration = step).
        Returns the number of points imported."""
        self.log_output("debugger-trial", str(path), DEBUGGER_TRIAL_MEDIA_TYPE)
        if not import_metrics:
            return 0
        from smdbg.tracker._links import import_debugger_metrics

        return import_debugger_metrics(self, str(path))

    # -- metrics (buffered) ------------------------------------------------------------------------
    def log_metric(
        self, metric_name: str, value: float, timestamp: Any = None, iteration_number: int | None = None
    ) -> None:
        """Buffer one point; every point is kept and the metric's summary covers all of them."""
        if metric_name not in self._names:
            self._names.add(check_name("metric", metric_name))
        v = check_metric(metric_name, value)
        ts = time.time() if timestamp is None else to_epoch(timestamp)
        it = NO_ITERATION if iteration_number is None else check_iteration(metric_name, iteration_number)
        self._buffer.add(metric_name, v, ts, it)  # every check passed: a bad point is never buffered

    # -- charts and tables -------------------------------------------------------------------------
    def _log_json(self, name: str, payload: dict[str, Any], is_output: bool) -> str:
        fs.check_path_component(name, "chart or table title (an artifact name)", error=InvalidValueError)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{name}.json"
            path.write_text(json.dumps(payload))
            return self.log_artifact(path, name, _CHART_MEDIA_TYPE, is_output)

    def log_table(
        self,
        title: str | None = None,
        values: Mapping[str, Sequence[Any]] | None = None,
        data_frame: Any = None,
        output_artifact: bool = True,
    ) -> str:
        if (values is None) == (data_frame is None):
            raise InvalidValueError(
                "log_table needs exactly one of values= (a dict of columns) or data_frame="
            )
        cols = values if values is not None else {str(k): list(data_frame[k]) for k in data_frame.columns}
        return self._log_json(title or "Table", _charts.table(title or "Table", cols), output_artifact)

    def log_confusion_matrix(
        self,
        y_true: Sequence[Any],
        y_pred: Sequence[Any],
        title: str | None = None,
        output_artifact: bool = True,
    ) -> str:
        name = title or "ConfusionMatrix"
        return self._log_json(name, _charts.confusion_matrix(name, y_true, y_pred), output_artifact)

    def log_roc_curve(
        self,
        y_true: Sequence[Any],
        y_score: Sequence[float],
        title: str | None = None,
        output_artifact: bool = True,
    ) -> str:
        name = title or "ROCCurve"
        return self._log_json(name, _charts.roc_curve(name, y_true, y_score), output_artifact)

    def log_precision_recall(
        self,
        y_true: Sequence[Any],
        predicted_probabilities: Sequence[float],
        positive_label: Any = None,
        title: str | None = None,
        output_artifact: bool = True,
        no_skill: float | None = None,
    ) -> str:
        name = title or "PrecisionRecallCurve"
        payload = _charts.precision_recall(name, y_true, predicted_probabilities, positive_label, no_skill)
        return self._log_json(name, payload, output_artifact)


def _location(location: str | None, bucket: str | None, prefix: str | None) -> str:
    if location is None and bucket:
        location = f"s3://{bucket.removeprefix('s3://').rstrip('/')}/{(prefix or 'trial-component-artifacts').strip('/')}"
    return resolve_artifact_location(location)
