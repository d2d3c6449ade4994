"""The server's service quotas: requests that ask for more than this machine can give answer
``ResourceLimitExceeded`` (HTTP 400), in AWS's words, before anything starts.

Every job host and endpoint server runs as a process on this machine, pinned to at most its
instance type's vCPUs. The quotas (``smdbg api serve`` flags, docs/api.md):

* ``max_vcpus`` (``--max-vcpus``, default 8 x this machine's CPUs): the vCPUs one training job,
  processing job or endpoint variant may ask for, counted as ``InstanceCount`` x the vCPUs of its
  ``InstanceType`` (``local`` counts 1 per instance). More would share each CPU among more than
  eight workers' worth of demand: the request is almost surely not meant for this machine.
* ``max_endpoints`` (``--max-endpoints``, default 16): endpoints that hold a server process at once
  (every status but ``Failed``); each holds its model in memory.
* an endpoint variant runs ``InitialInstanceCount`` server processes (1 to 32, as
  :meth:`smdbg.platform.serving.Model.deploy`), each pinned to its type's vCPUs: the vCPU quota
  counts all of them.

An ``InstanceType`` that is not in ``smdbg.platform.jobs.INSTANCE_TYPES`` is a
``ValidationException`` naming it and the known ones (the message ``Model.deploy`` and the
estimators give for the same type).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from smdbg.platform.api._protocol import LimitExceeded, ValidationError
from smdbg.platform.api._registry import Context, precheck

__all__ = ["ServiceLimits", "instance_type", "instance_count", "check_vcpus", "ENDPOINT_STATUSES_HOLDING_A_SERVER"]

ENDPOINT_STATUSES_HOLDING_A_SERVER = ("Creating", "InService", "Updating", "Deleting", "SystemUpdating")
_QUOTA_HINT = "raise it with smdbg api serve --{flag} (docs/api.md, 'Service quotas')"


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclasses.dataclass(frozen=True)
class ServiceLimits:
    """What one request may ask for (see the module's docstring); None: the default."""

    max_vcpus: int = dataclasses.field(default_factory=lambda: 8 * _cpus())
    max_endpoints: int = 16

    def __post_init__(self) -> None:
        for name in ("max_vcpus", "max_endpoints"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} is not valid: expected an int >= 1")


def _limits(ctx: Context) -> ServiceLimits:
    return ctx.limits if isinstance(ctx.limits, ServiceLimits) else ServiceLimits()


def instance_type(name: str | None, field: str) -> Any:
    """The :class:`smdbg.platform.jobs.InstanceType` of ``name`` (None: ``local``), or a
    ``ValidationException`` naming ``field``, the type and the known ones."""
    from smdbg.platform.jobs import resolve_instance_type

    try:
        return resolve_instance_type(name or "local")
    except ValueError as e:
        raise ValidationError(f"{field}: {e}") from None


def instance_count(value: Any, field: str) -> int:
    """``value`` as an instance count (an int from 1 to ``MAX_INSTANCES``), or a
    ``ValidationException`` naming ``field`` and the value."""
    from smdbg.platform.serving._launch import check_instance_count

    try:
        return check_instance_count(value, field)
    except ValueError as e:
        raise ValidationError(str(e)) from None


def check_vcpus(limits: ServiceLimits, usage: str, type_name: str | None, count: int, field: str) -> None:
    """``ResourceLimitExceeded`` when ``count`` instances of ``type_name`` ask for more than
    ``limits.max_vcpus``; ``usage`` names what asks (``training job``, ``endpoint``...)."""
    instance = instance_type(type_name, field)
    asked = count * (instance.vcpus or 1)
    if asked > limits.max_vcpus:
        raise LimitExceeded(
            f"The service limit '{instance.name} for {usage} usage' is {limits.max_vcpus} vCPUs on this "
            f"server ({_cpus()} CPUs), and the request asks for {asked} ({count} x {instance.vcpus or 1}); "
            "ask for fewer or smaller instances, or " + _QUOTA_HINT.format(flag="max-vcpus")
        )


@precheck("CreateTrainingJob")
def _training_job(ctx: Context, p: dict[str, Any]) -> None:
    r = p["ResourceConfig"]
    check_vcpus(_limits(ctx), "training job", r.get("InstanceType"), int(r.get("InstanceCount") or 1),
                "ResourceConfig.InstanceType")  # fmt: skip


@precheck("CreateProcessingJob")
def _processing_job(ctx: Context, p: dict[str, Any]) -> None:
    c = p["ProcessingResources"]["ClusterConfig"]
    check_vcpus(_limits(ctx), "processing job", c.get("InstanceType"), int(c.get("InstanceCount") or 1),
                "ProcessingResources.ClusterConfig.InstanceType")  # fmt: skip


@precheck("CreateEndpointConfig")
def _endpoint_config(ctx: Context, p: dict[str, Any]) -> None:
    for i, v in enumerate(p["ProductionVariants"]):
        field = f"ProductionVariants[{i}]"
        instance_type(v.get("InstanceType"), f"{field}.InstanceType")
        count = instance_count(v.get("InitialInstanceCount", 1), f"{field}.InitialInstanceCount")
        check_vcpus(_limits(ctx), "endpoint", v.get("InstanceType"), count, f"{field}.InstanceType")


@precheck("CreateEndpoint")
def _endpoint_count(ctx: Context, p: dict[str, Any]) -> None:
    from smdbg.platform.api._ops_endpoints import ENDPOINT

    held = sorted(d["EndpointName"] for d in ctx.state.all(ENDPOINT)
                  if d.get("EndpointStatus") in ENDPOINT_STATUSES_HOLDING_A_SERVER)  # fmt: skip
    if len(held) >= _limits(ctx).max_endpoints:
        shown = ", ".join(held[:5]) + (", ..." if len(held) > 5 else "")
        raise LimitExceeded(
            f"The service limit 'number of endpoints' is {_limits(ctx).max_endpoints} on this server and "
            f"{len(held)} run ({shown}); delete one first, or " + _QUOTA_HINT.format(flag="max-endpoints")
        )
