"""Monitoring schedules on :class:`smdbg.platform.monitor.DefaultModelMonitor`, run by the server.

A schedule reads its endpoint's captured data (the endpoint's ``DataCaptureConfig``), checks it
against ``BaselineConfig``'s ``constraints.json`` (required) and ``statistics.json``, and writes
each execution's reports under ``MonitoringOutputs[0].S3Output.S3Uri/<schedule>/yyyy/mm/dd/hh/...``
at the times of ``ScheduleExpression`` (SageMaker's cron forms). Statuses: ``Scheduled``,
``Stopped`` (``StopMonitoringSchedule``; ``StartMonitoringSchedule`` starts it again). A restarted
server starts its ``Scheduled`` schedules again.
"""

from __future__ import annotations

import threading
from typing import Any

from smdbg.platform.api._protocol import InUse, ValidationError
from smdbg.platform.api._registry import Context, check_name, now, operation, page
from smdbg.platform.api._state import arn

__all__ = ["resume_schedules"]

SCHEDULE = "monitoring-schedule"
_LOCK = threading.Lock()


def _definition(doc: dict[str, Any]) -> dict[str, Any]:
    config = doc["MonitoringScheduleConfig"]
    job = config.get("MonitoringJobDefinition")
    if not job:
        raise ValidationError(
            "MonitoringScheduleConfig.MonitoringJobDefinition is missing: smdbg needs the job inline "
            "(MonitoringJobDefinitionName is not supported)"
        )
    return dict(job)


def _start(ctx: Context, doc: dict[str, Any]) -> Any:
    """Create the live monitor and its scheduler thread for a schedule record."""
    from smdbg.platform.monitor import DefaultModelMonitor, MonitorError

    job = _definition(doc)
    inputs = [i["EndpointInput"] for i in job.get("MonitoringInputs", []) if i.get("EndpointInput")]
    outputs = [o["S3Output"] for o in job["MonitoringOutputConfig"]["MonitoringOutputs"] if o.get("S3Output")]
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValidationError(
            "MonitoringInputs and MonitoringOutputs: expected one EndpointInput and one S3Output"
        )
    baseline = job.get("BaselineConfig") or {}
    constraints = (baseline.get("ConstraintsResource") or {}).get("S3Uri")
    if not constraints:
        raise ValidationError(
            "BaselineConfig.ConstraintsResource.S3Uri is missing: expected a constraints.json URI"
        )
    statistics = (baseline.get("StatisticsResource") or {}).get("S3Uri")
    endpoint = inputs[0]["EndpointName"]
    if ctx.state.find("endpoint", endpoint) is None:
        raise ValidationError(f"EndpointInput.EndpointName {endpoint!r}: no such endpoint")
    cron = (doc["MonitoringScheduleConfig"].get("ScheduleConfig") or {}).get("ScheduleExpression")
    monitor = DefaultModelMonitor(role=job.get("RoleArn"))
    try:
        monitor.create_monitoring_schedule(doc["MonitoringScheduleName"], endpoint_input=endpoint,
                                           output_s3_uri=outputs[0]["S3Uri"], statistics=statistics,
                                           constraints=constraints, schedule_cron_expression=cron)  # fmt: skip
    except (MonitorError, ValueError, OSError) as e:
        raise ValidationError(str(e)) from None
    ctx.live[f"monitor/{doc['MonitoringScheduleName']}"] = monitor
    return monitor


def _stop_live(ctx: Context, name: str) -> None:
    monitor = ctx.live.pop(f"monitor/{name}", None)
    if monitor is not None:
        monitor.delete_monitoring_schedule()


def resume_schedules(ctx: Context) -> None:
    """Start the scheduler of every ``Scheduled`` schedule (a server restart); one that cannot
    start is marked ``Failed`` with the reason."""
    for doc in ctx.state.all(SCHEDULE):
        if doc.get("MonitoringScheduleStatus") == "Scheduled":
            try:
                _start(ctx, doc)
            except ValidationError as e:
                ctx.state.update(SCHEDULE, doc["MonitoringScheduleName"], MonitoringScheduleStatus="Failed",
                                 FailureReason=e.message)  # fmt: skip


@operation("CreateMonitoringSchedule")
def create_monitoring_schedule(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    name = check_name(p["MonitoringScheduleName"], "MonitoringScheduleName")
    t = now()
    doc = {k: v for k, v in p.items() if k != "Tags"}
    doc.update(MonitoringScheduleArn=arn("monitoring-schedule", name), MonitoringScheduleStatus="Scheduled",
               CreationTime=t, LastModifiedTime=t,
               MonitoringType=p["MonitoringScheduleConfig"].get("MonitoringType", "DataQuality"))  # fmt: skip
    with _LOCK:
        if ctx.state.find(SCHEDULE, name) is not None:
            raise InUse(
                f"monitoring schedule {name!r} already exists; delete it first or choose another name"
            )
        _start(ctx, doc)
        inputs = _definition(doc).get("MonitoringInputs", [])
        doc["EndpointName"] = inputs[0]["EndpointInput"]["EndpointName"]
        ctx.state.create(SCHEDULE, name, doc, "monitoring schedule")
    return {"MonitoringScheduleArn": doc["MonitoringScheduleArn"]}


def _describe(ctx: Context, doc: dict[str, Any]) -> dict[str, Any]:
    monitor = ctx.live.get(f"monitor/{doc['MonitoringScheduleName']}")
    executions = list(monitor.list_executions()) if monitor is not None else []
    if executions:
        last = executions[-1]
        failed = getattr(last, "violations", None)
        doc["LastMonitoringExecutionSummary"] = {
            "MonitoringScheduleName": doc["MonitoringScheduleName"], "ScheduledTime": doc["LastModifiedTime"],
            "CreationTime": doc["LastModifiedTime"], "LastModifiedTime": now(), "EndpointName": doc.get("EndpointName"),
            "MonitoringExecutionStatus": "CompletedWithViolations" if failed else "Completed",
        }  # fmt: skip
    return doc


@operation("DescribeMonitoringSchedule")
def describe_monitoring_schedule(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    return _describe(ctx, ctx.state.get(SCHEDULE, p["MonitoringScheduleName"], "monitoring schedule"))


@operation("ListMonitoringSchedules")
def list_monitoring_schedules(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    docs = list(ctx.state.all(SCHEDULE))
    if p.get("EndpointName"):
        docs = [d for d in docs if d.get("EndpointName") == p["EndpointName"]]
    rows, token = page(docs, p, name_key="MonitoringScheduleName", status_key="MonitoringScheduleStatus")
    keys = ("MonitoringScheduleName", "MonitoringScheduleArn", "CreationTime", "LastModifiedTime",
            "MonitoringScheduleStatus", "EndpointName", "MonitoringType")  # fmt: skip
    return {"MonitoringScheduleSummaries": [{k: r.get(k) for k in keys} for r in rows], "NextToken": token}


@operation("StopMonitoringSchedule")
def stop_monitoring_schedule(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    name = p["MonitoringScheduleName"]
    with _LOCK:
        ctx.state.get(SCHEDULE, name, "monitoring schedule")
        _stop_live(ctx, name)
        ctx.state.update(SCHEDULE, name, MonitoringScheduleStatus="Stopped", LastModifiedTime=now())
    return {}


@operation("StartMonitoringSchedule")
def start_monitoring_schedule(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    name = p["MonitoringScheduleName"]
    with _LOCK:
        doc = ctx.state.get(SCHEDULE, name, "monitoring schedule")
        if ctx.live.get(f"monitor/{name}") is None:
            _start(ctx, doc)
        ctx.state.update(
            SCHEDULE, name, MonitoringScheduleStatus="Scheduled", LastModifiedTime=now(), FailureReason=None
        )
    return {}


@operation("DeleteMonitoringSchedule")
def delete_monitoring_schedule(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    name = p["MonitoringScheduleName"]
    with _LOCK:
        ctx.state.get(SCHEDULE, name, "monitoring schedule")
        _stop_live(ctx, name)
        ctx.state.delete(SCHEDULE, name)
    return {}
