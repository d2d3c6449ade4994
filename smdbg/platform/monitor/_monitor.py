"""``DefaultModelMonitor``: baselines, monitoring runs and schedules (local, same file formats as SageMaker)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pyarrow as pa

from smdbg._progress import Progress
from smdbg._sdk_args import sdk_kwargs
from smdbg.fs import check_path_component, is_remote, join, read_bytes, write_atomic
from smdbg.platform.jobs._instances import positive_int, resolve_instance_type
from smdbg.platform.monitor._checks import evaluate
from smdbg.platform.monitor._constraints import normalize_constraints, suggest_constraints
from smdbg.platform.monitor._dataset import DatasetFormat, check_finite, read_capture, read_dataset
from smdbg.platform.monitor._errors import ConstraintsError, DatasetError, MonitorError, ScheduleError
from smdbg.platform.monitor._schedule import CronExpressionGenerator, LocalScheduler, parse_schedule
from smdbg.platform.monitor._stats import compute_statistics

__all__ = ["DefaultModelMonitor", "BaselineJob", "MonitoringExecution"]

STATISTICS = "statistics.json"
CONSTRAINTS = "constraints.json"
VIOLATIONS = "constraint_violations.json"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _iso(t: dt.datetime) -> str:
    t = t.astimezone(dt.timezone.utc)
    return f"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond // 1000:03d}Z"


def _write_json(uri: str, doc: Any) -> str:
    write_atomic(uri, json.dumps(doc, indent=1).encode())
    return uri


def _load_doc(value: Any, what: str) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if hasattr(value, "body_dict"):
        return dict(value.body_dict)
    if isinstance(value, str):
        try:
            loaded: dict[str, Any] = json.loads(read_bytes(value))
            return loaded
        except (OSError, FileNotFoundError) as e:
            raise ConstraintsError(
                f"{what} file {value!r} cannot be read ({e}); give the path suggest_baseline wrote"
            ) from e
        except json.JSONDecodeError as e:
            raise ConstraintsError(f"{what} file {value!r} is not valid JSON: {e}") from e
    raise ConstraintsError(f"{what}={value!r} is not usable; expected a dict or the path/URI of a JSON file")


@dataclasses.dataclass(frozen=True)
class BaselineJob:
    """The result of :meth:`DefaultModelMonitor.suggest_baseline` (a frozen record)."""

    output_uri: str
    statistics: dict[str, Any]
    constraints: dict[str, Any]

    def baseline_statistics(self) -> dict[str, Any]:
        return self.statistics

    def suggested_constraints(self) -> dict[str, Any]:
        return self.constraints


@dataclasses.dataclass(frozen=True)
class MonitoringExecution:
    """One monitoring run: where it wrote, what it found (a frozen record)."""

    output_uri: str
    statistics_doc: dict[str, Any]
    violations: list[dict[str, str]]
    window_start: str | None = None
    window_end: str | None = None

    @property
    def item_count(self) -> int:
        return int(self.statistics_doc["dataset"]["item_count"])

    def statistics(self) -> dict[str, Any]:
        return self.statistics_doc

    def constraint_violations(self) -> dict[str, Any]:
        return {"violations": self.violations}


class DefaultModelMonitor:
    """Data-quality monitor. Everything runs in this process: ``instance_type`` is checked against
    the instance table and recorded, ``role`` and the SageMaker SDK's other AWS-only arguments
    (``sagemaker_session``, ``volume_size_in_gb``, ``network_config``, ...) are accepted and
    ignored (docs/compatibility.md)."""

    def __init__(
        self,
        role: str | None = None,
        instance_count: int = 1,
        instance_type: str = "local",
        *,
        base_job_name: str | None = None,
        env: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.role = role
        self.instance_count = positive_int(instance_count, "instance_count")
        self.instance_type = resolve_instance_type(instance_type).name
        self.base_job_name = base_job_name
        self.env = dict(env or {})
        #: the SageMaker SDK arguments given; see docs/compatibility.md
        self.sdk_arguments = sdk_kwargs(type(self).__name__, kwargs).values
        self.latest_baselining_job: BaselineJob | None = None
        self.executions: list[MonitoringExecution] = []
        self.schedule_name: str | None = None
        self._scheduler: LocalScheduler | None = None

    # -- baseline ----------------------------------------------------------------------------
    def suggest_baseline(
        self,
        baseline_dataset: str,
        dataset_format: dict[str, Any] | None = None,
        output_s3_uri: str | None = None,
        wait: bool = True,
        logs: bool = False,
        job_name: str | None = None,
        progress: bool | None = None,
    ) -> BaselineJob:
        """Compute ``statistics.json`` and ``constraints.json`` for a dataset and write them.
        ``progress``: a status line on stderr (columns done); by default when stderr is a terminal."""
        if not output_s3_uri:
            raise MonitorError(
                "output_s3_uri is empty; give a local directory or s3:// URI for the baseline files"
            )
        with Progress("baseline", enabled=progress, unit="columns") as shown:
            shown.update(0, f"reading {baseline_dataset}", force=True)
            table = read_dataset(baseline_dataset, dataset_format or DatasetFormat.csv())
            if table.num_rows == 0 or table.num_columns == 0:
                raise DatasetError(
                    f"baseline dataset {baseline_dataset!r} has no rows; expected at least one data row"
                )
            check_finite(table, repr(baseline_dataset))
            stats = compute_statistics(
                table, on_column=lambda i, name: shown.update(i, name, total=table.num_columns)
            )
        constraints = suggest_constraints(stats)
        _write_json(join(output_s3_uri, STATISTICS), stats)
        _write_json(join(output_s3_uri, CONSTRAINTS), constraints)
        self.latest_baselining_job = BaselineJob(output_s3_uri, stats, constraints)
        return self.latest_baselining_job

    def baseline_statistics(self) -> dict[str, Any]:
        if self.latest_baselining_job is None:
            raise MonitorError("no baseline yet; call suggest_baseline(...) first")
        return self.latest_baselining_job.statistics

    def suggested_constraints(self) -> dict[str, Any]:
        if self.latest_baselining_job is None:
            raise MonitorError("no baseline yet; call suggest_baseline(...) first")
        return self.latest_baselining_job.constraints

    # -- one run -------------------------------------------------------------------------------
    def _baseline(self, statistics: Any, constraints: Any) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        job = self.latest_baselining_job
        if constraints is None:
            if job is None:
                raise MonitorError(
                    "no constraints: pass constraints= (a dict or constraints.json path) or run suggest_baseline first"
                )
            constraints = job.constraints
        if statistics is None and job is not None:
            statistics = job.statistics
        stats = _load_doc(statistics, "statistics") if statistics is not None else None
        return stats, normalize_constraints(_load_doc(constraints, "constraints"))

    def run(
        self,
        data: Any,
        output_s3_uri: str,
        statistics: Any = None,
        constraints: Any = None,
        dataset_format: dict[str, Any] | None = None,
        start_time: dt.datetime | None = None,
        end_time: dt.datetime | None = None,
    ) -> MonitoringExecution:
        """Analyse ``data`` against the baseline; write ``statistics.json`` and ``constraint_violations.json``.

        ``data`` is a capture location (a directory/URI holding capture JSONL, or a Predictor) when
        ``dataset_format`` is None, else a CSV/JSON dataset. Capture records are filtered to
        ``start_time <= inferenceTime < end_time`` when given. Headerless columns (``_c0``...) are
        matched to the baseline's features by position.
        """
        base_stats, cons = self._baseline(statistics, constraints)
        source = getattr(data, "capture_uri", data)
        if source is None:
            raise MonitorError(f"{data!r} has no data capture; deploy with a DataCaptureConfig")
        start = _iso(start_time) if start_time else None
        end = _iso(end_time) if end_time else None
        if dataset_format is None:
            table, _ = read_capture(str(source), start, end)
        else:
            table = read_dataset(str(source), dataset_format)
        table = self._align(table, [f["name"] for f in cons["features"]])
        check_finite(table, repr(str(source)))
        stats = compute_statistics(table)
        violations = evaluate(table, stats, cons, base_stats) if table.num_rows else []
        _write_json(join(output_s3_uri, STATISTICS), stats)
        _write_json(join(output_s3_uri, VIOLATIONS), {"violations": violations})
        execution = MonitoringExecution(output_s3_uri, stats, violations, start, end)
        self.executions.append(execution)
        return execution

    @staticmethod
    def _align(table: pa.Table, names: list[str]) -> pa.Table:
        cols = table.column_names
        if not cols or not all(c == f"_c{i}" for i, c in enumerate(cols)) or cols == names[: len(cols)]:
            return table
        return table.rename_columns([names[i] if i < len(names) else c for i, c in enumerate(cols)])

    # -- schedules -----------------------------------------------------------------------------
    def create_monitoring_schedule(
        self,
        monitor_schedule_name: str | None = None,
        endpoint_input: Any = None,
        output_s3_uri: str | None = None,
        statistics: Any = None,
        constraints: Any = None,
        schedule_cron_expression: str | None = None,
        enable_cloudwatch_metrics: bool = True,
        start: bool = True,
    ) -> LocalScheduler:
        """Run :meth:`run` on an endpoint's captured data at each time of the schedule.

        Each execution reads the records captured since the previous one and writes under
        ``{output_s3_uri}/{schedule name}/yyyy/mm/dd/hh/MMSS-mmm/`` (UTC end of the window). ``endpoint_input`` is a
        Predictor, an endpoint name or a capture location.
        """
        if monitor_schedule_name is not None:
            check_path_component(monitor_schedule_name, "monitor_schedule_name (a folder of its reports)",
                                 error=ScheduleError)  # fmt: skip
        if self._scheduler is not None:
            raise MonitorError(f"monitor already has schedule {self.schedule_name!r}; delete it first")
        if not output_s3_uri:
            raise MonitorError("output_s3_uri is empty; give a local directory or s3:// URI for the reports")
        source = self._capture_source(endpoint_input)
        stats, cons = self._baseline(statistics, constraints)
        schedule = parse_schedule(schedule_cron_expression or CronExpressionGenerator.hourly())
        name = monitor_schedule_name or f"monitoring-schedule-{_now():%Y%m%d-%H%M%S}"
        out = output_s3_uri

        def job(window_start: dt.datetime, window_end: dt.datetime) -> MonitoringExecution:
            target = join(out, name, f"{window_end:%Y/%m/%d/%H/%M%S}-{window_end.microsecond // 1000:03d}")
            return self.run(source, target, stats, cons, None, window_start, window_end)

        self.schedule_name = name
        self._scheduler = LocalScheduler(schedule, job)
        if start:
            self._scheduler.start()
        return self._scheduler

    @staticmethod
    def _capture_source(endpoint_input: Any) -> str:
        if endpoint_input is None:
            raise MonitorError(
                "endpoint_input is empty; give a Predictor, an endpoint name or a capture location"
            )
        uri = getattr(endpoint_input, "capture_uri", None)
        if uri:
            return str(uri)
        text = str(endpoint_input)
        if "/" in text or is_remote(text):
            return text
        from smdbg.platform.serving import Predictor

        uri = Predictor(text).capture_uri
        if not uri:
            raise MonitorError(f"endpoint {text!r} has no data capture; deploy it with a DataCaptureConfig")
        return uri

    def run_pending_execution(self, now: dt.datetime | None = None) -> MonitoringExecution | None:
        """Run the schedule's next execution now (window: previous execution until ``now``)."""
        if self._scheduler is None:
            raise MonitorError("no monitoring schedule; call create_monitoring_schedule first")
        result = self._scheduler.run_pending(now)
        return result if isinstance(result, MonitoringExecution) else None

    def list_executions(self) -> list[MonitoringExecution]:
        return list(self.executions)

    def describe_schedule(self) -> dict[str, Any]:
        if self._scheduler is None:
            return {"MonitoringScheduleStatus": "None"}
        return {
            "MonitoringScheduleName": self.schedule_name,
            "ScheduleExpression": self._scheduler.schedule.expression,
            "NextFireTime": self._scheduler.next_fire.isoformat(),
            "Errors": list(self._scheduler.errors),
        }

    def stop_monitoring_schedule(self) -> None:
        if self._scheduler is not None:
            self._scheduler.stop()

    def delete_monitoring_schedule(self) -> None:
        self.stop_monitoring_schedule()
        self._scheduler = None
        self.schedule_name = None
