"""The Ray backend: a job's hosts as actors in one placement group of a Ray cluster.

``instance_count=N`` reserves N bundles (one per node, STRICT_SPREAD, when the cluster has N
nodes; packed otherwise), each the instance type's resources
(:meth:`~smdbg.platform.jobs._instances.InstanceType.ray_bundle`). Each bundle holds one
:class:`~smdbg.platform.jobs._ray_host.HostRunner` actor that runs one host of the job contract on
its node; PyTorch's rendezvous (``MASTER_ADDR``/``MASTER_PORT``) is rewritten to the first host's
node address and a port free there. The supervisor streams each host's log through the actor,
and stopping a worker stops its process and kills its actor. Rule jobs run beside the hosts as
actors of a quarter CPU (:meth:`RayBackend.start_sidecar`). Everything the job started goes with
the placement group in :meth:`RayBackend.close` (and with the supervisor, Ray's driver, if it
dies).

Ray does not share files between nodes: inputs travel with the start call (files the job
directory holds) or are downloaded on the node (``s3://``); what a host writes comes back when it
ends. A local path given as an input on a cluster of several nodes is refused in :meth:`check`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from smdbg.platform.jobs._backend import Backend, WorkerHandle, WorkerSpec
from smdbg.platform.jobs._errors import RayClusterError

__all__ = ["RayBackend", "RAY_OPTIONS"]

#: the keys of a job spec's ``ray`` section
RAY_OPTIONS = ("address", "placement_timeout_s")
SIDECAR_CPUS = 0.25
SHIP_LIMIT_BYTES = 256 * 1024**2
_POLL_S = 0.5


def _files(job_dir: Path, host: str) -> dict[str, bytes]:
    """The part of the job directory one host needs: ``ml/`` (training) and ``hosts/<host>/``;
    a folder is a key ending in ``/``."""
    out: dict[str, bytes] = {}
    size = 0
    for sub in (job_dir / "ml", job_dir / "hosts" / host):
        for path in sorted(sub.rglob("*")):
            if path.is_dir() and not path.is_symlink():  # the tree's folders, empty ones too
                out[path.relative_to(job_dir).as_posix() + "/"] = b""
            if not path.is_file() or path.is_symlink():
                continue
            data = path.read_bytes()
            size += len(data)
            out[path.relative_to(job_dir).as_posix()] = data
    if size > SHIP_LIMIT_BYTES:
        raise RayClusterError(
            f"host {host}: {size / 1024**2:.0f} MiB of local inputs would travel through Ray's object "
            f"store (limit {SHIP_LIMIT_BYTES // 1024**2} MiB); give large inputs as s3:// URLs"
        )
    return out


class _RayWorker(WorkerHandle):
    def __init__(self, ray: Any, actor: Any, host: str, job_dir: str) -> None:
        self._ray, self._actor, self._host, self._job_dir = ray, actor, host, job_dir
        self._code: int | None = None
        self._ended = threading.Event()

    @property
    def ident(self) -> str:
        return str(self._actor._actor_id.hex())

    def lines(self) -> Iterator[str]:
        cursor = 0
        while True:
            try:
                lines, code = self._ray.get(self._actor.read.remote(cursor, _POLL_S))
            except Exception as e:  # the actor or its node died
                yield f"[smdbg] host {self._host}: its Ray actor ended: {e}"
                self._code = -9
                return
            cursor += len(lines)
            yield from lines
            if code is not None:
                self._code = code
                return

    def wait(self) -> int:
        for _ in self.lines() if self._code is None else ():
            pass
        if not self._ended.is_set() and self._job_dir:
            self._bring_back()
        self._end()
        return self._code if self._code is not None else -9

    def _bring_back(self) -> None:
        try:
            files = self._ray.get(self._actor.collect.remote())
        except Exception:  # a killed actor has nothing to give back
            return
        for rel, data in files.items():
            target = Path(self._job_dir) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)

    def _end(self) -> None:
        if self._ended.is_set():
            return
        self._ended.set()
        try:
            self._ray.get(self._actor.cleanup.remote(), timeout=30)
        except Exception:
            pass
        self._ray.kill(self._actor)

    def stop(self, grace_s: float) -> None:
        if self._ended.is_set():
            return
        try:
            self._ray.get(self._actor.stop.remote(grace_s), timeout=grace_s + 10)
        except Exception:
            pass
        self._end()


class RayBackend(Backend):
    """Jobs on a Ray cluster; ``address`` as in :func:`smdbg.platform.jobs._raycluster.resolve_address`."""

    name = "ray"

    def __init__(self, address: str | None = None, placement_timeout_s: float = 60.0) -> None:
        self.address = address
        self.placement_timeout_s = placement_timeout_s
        self._group: Any = None
        self._ray: Any = None

    @property
    def presents_container_paths(self) -> bool:
        return False  # training workers see host paths on their node; processing workers are isolated there

    @property
    def ray(self) -> Any:
        if self._ray is None:
            from smdbg.platform.jobs._raycluster import connect

            self._ray = connect(self.address)
        return self._ray

    def node_count(self) -> int:
        from smdbg.platform.jobs._raycluster import alive_nodes

        return len(alive_nodes(self.ray))

    def check(self, specs: list[WorkerSpec]) -> None:
        from smdbg.platform.jobs._raycluster import check_fits

        cluster = self.ray.cluster_resources()
        check_fits(self.ray, [s.instance.ray_bundle(cluster) for s in specs], f"job {specs[0].job_name}")
        nodes = self.node_count()
        local = sorted({i for s in specs for i in s.local_inputs})
        if nodes > 1 and local:
            raise RayClusterError(
                f"{', '.join(local)}: a local path is not shared storage, and this Ray cluster has "
                f"{nodes} nodes that cannot read this machine's files; give an s3:// URL (the S3 API: "
                "AWS, MinIO, or a test server) that every node reaches"
            )

    def _actor_class(self) -> Any:
        from smdbg.platform.jobs._ray_host import HostRunner

        return self.ray.remote(HostRunner)

    def start_group(self, specs: list[WorkerSpec]) -> list[WorkerHandle]:
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        from smdbg.platform.jobs._raycluster import placement_group

        ray = self.ray
        cluster = ray.cluster_resources()
        bundles = [s.instance.ray_bundle(cluster) for s in specs]
        name = specs[0].job_name
        self._group = placement_group(ray, bundles, f"job {name}", self.placement_timeout_s)
        cls = self._actor_class()
        actors = []
        for i, spec in enumerate(specs):
            strategy = PlacementGroupSchedulingStrategy(self._group, placement_group_bundle_index=i)
            actors.append(
                cls.options(
                    num_cpus=bundles[i]["CPU"], num_gpus=bundles[i].get("GPU", 0), max_concurrency=4,
                    scheduling_strategy=strategy, name=f"{name}-{spec.host}",
                ).remote()
            )  # fmt: skip
        infos = ray.get([a.info.remote() for a in actors])
        first = infos[0]
        handles: list[WorkerHandle] = []
        starts = []
        for spec, actor, info in zip(specs, actors, infos, strict=True):
            doc = spec.to_spec()
            if "MASTER_ADDR" in doc["env"]:  # torch.distributed meets at the first host's node
                doc["env"].update(MASTER_ADDR=first["ip"], MASTER_PORT=str(first["port"]))
            doc["env"]["SMDBG_RAY_NODE_ID"] = info["node_id"]
            files = _files(Path(spec.job_dir), spec.host) if spec.job_dir else {}
            starts.append(actor.start.remote(doc, files, [list(f) for f in spec.fetch]))
            handles.append(_RayWorker(ray, actor, spec.host, spec.job_dir))
        try:
            ray.get(starts)
        except Exception as e:
            for h in handles:
                h.stop(1.0)
            cause = getattr(e, "cause", None) or e
            raise RayClusterError(f"a host could not start on its Ray node: {cause}") from e
        return handles

    def start(self, spec: WorkerSpec) -> WorkerHandle:
        return self.start_group([spec])[0]

    def start_sidecar(self, name: str, argv: list[str], env: dict[str, str]) -> WorkerHandle:
        from smdbg.platform.jobs._instances import resolve_instance_type

        spec = WorkerSpec(name, name, argv, env, "/", resolve_instance_type("local"))
        actor = self._actor_class().options(num_cpus=SIDECAR_CPUS, max_concurrency=4).remote()
        self.ray.get(actor.start.remote(spec.to_spec(), {}, []))
        return _RayWorker(self.ray, actor, name, "")

    def kill(self, ident: str) -> None:
        """Actors belong to their supervisor (Ray's driver): they end when it does."""

    def close(self) -> None:
        if self._group is not None:
            from ray.util import remove_placement_group

            try:
                remove_placement_group(self._group)
            except Exception:
                pass
            self._group = None
