"""Instance types: SageMaker ``ml.*`` names mapped to the CPU and memory limits a job gets here.

The Docker backend enforces both (``nano_cpus``, ``mem_limit``). The local backend pins each
worker to at most ``vcpus`` CPUs with ``sched_setaffinity`` (never more than the machine has) and
caps its address space with ``RLIMIT_AS`` at four times the memory (address space, not resident
memory: Python and PyTorch reserve much more than they touch). ``local`` means no limit.

On the Ray backend a type is one placement-group bundle (:meth:`InstanceType.ray_bundle`): its
vCPUs as ``CPU``, its memory as ``memory`` and its GPUs as ``GPU``; ``local`` asks one CPU. When
the cluster defines a custom resource named after the type (a node started with
``--resources='{"ml.g5.xlarge": 1}'``, or a KubeRay worker group carrying it), each bundle also
asks one unit of it, so the hosts land on nodes of that type.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

__all__ = ["InstanceType", "INSTANCE_TYPES", "resolve_instance_type", "limit_prefix", "AS_FACTOR", "positive_int"]

AS_FACTOR = 4  # address-space cap = AS_FACTOR x the instance type's memory


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int | None
    memory_gib: float | None
    gpus: int = 0

    @property
    def memory_bytes(self) -> int | None:
        return None if self.memory_gib is None else int(self.memory_gib * 1024**3)

    def ray_bundle(self, cluster_resources: dict[str, float] | None = None) -> dict[str, float]:
        """The Ray resources one host of this type asks for (see the module's docstring)."""
        bundle: dict[str, float] = {"CPU": float(self.vcpus or 1)}
        if self.memory_bytes:
            bundle["memory"] = float(self.memory_bytes)
        if self.gpus:
            bundle["GPU"] = float(self.gpus)
        if cluster_resources and self.name in cluster_resources:
            bundle[self.name] = 1.0
        return bundle


_TABLE = (
    ("ml.t3.medium", 2, 4), ("ml.t3.large", 2, 8), ("ml.t3.xlarge", 4, 16),
    ("ml.m5.large", 2, 8), ("ml.m5.xlarge", 4, 16), ("ml.m5.2xlarge", 8, 32), ("ml.m5.4xlarge", 16, 64),
    ("ml.c5.large", 2, 4), ("ml.c5.xlarge", 4, 8), ("ml.c5.2xlarge", 8, 16), ("ml.c5.4xlarge", 16, 32),
    ("ml.r5.large", 2, 16), ("ml.r5.xlarge", 4, 32),
)  # fmt: skip
_GPU_TABLE = (("ml.p3.2xlarge", 8, 61, 1), ("ml.g4dn.xlarge", 4, 16, 1), ("ml.g5.xlarge", 4, 16, 1),
              ("ml.g5.12xlarge", 48, 192, 4), ("ml.p4d.24xlarge", 96, 1152, 8))  # fmt: skip

INSTANCE_TYPES: dict[str, InstanceType] = {n: InstanceType(n, c, m) for n, c, m in _TABLE}
INSTANCE_TYPES.update({n: InstanceType(n, c, m, g) for n, c, m, g in _GPU_TABLE})
INSTANCE_TYPES["local"] = InstanceType("local", None, None)
INSTANCE_TYPES["local_cpu"] = InstanceType("local_cpu", None, None)


def resolve_instance_type(name: str) -> InstanceType:
    try:
        return INSTANCE_TYPES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"instance_type {name!r} is not known: expected 'local' or one of "
            f"{', '.join(sorted(k for k in INSTANCE_TYPES if k.startswith('ml.')))}"
        ) from None


def positive_int(value: object, name: str) -> int:
    """``value`` when it is an int >= 1 (an instance count, a size, seconds), else a ValueError
    naming ``name`` and the value."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r}: expected an int >= 1")
    return value


def limit_prefix(instance: InstanceType, offset: int = 0) -> list[str]:
    """The command words that start a process within ``instance``'s limits on this machine:
    ``taskset`` to ``vcpus`` CPUs, ``prlimit --as`` to ``AS_FACTOR`` x its memory (each only
    where the tool exists; none for ``local``). The local job backend and endpoint servers use
    it; the Docker backend sets the container's limits instead. ``offset`` (the ``k``-th of
    several instances) starts at CPU ``k x vcpus``, wrapping around, so instances spread out."""
    prefix: list[str] = []
    if instance.vcpus and shutil.which("taskset"):
        allowed = sorted(os.sched_getaffinity(0))
        first = offset * instance.vcpus
        cpus = sorted({allowed[(first + i) % len(allowed)] for i in range(min(instance.vcpus, len(allowed)))})
        prefix += ["taskset", "-c", ",".join(map(str, cpus))]
    if instance.memory_bytes and shutil.which("prlimit"):
        prefix += ["prlimit", f"--as={instance.memory_bytes * AS_FACTOR}", "--"]
    return prefix
