"""One job's hosts on a Ray cluster, as the long-lived driver (:mod:`._ray_driver`) runs them.

``instance_count=N`` reserves N bundles (one per node, STRICT_SPREAD, when the cluster has N
nodes; packed otherwise), each the instance type's resources
(:meth:`~smdbg.platform.jobs._instances.InstanceType.ray_bundle`). Each bundle gets one
:class:`~smdbg.platform.jobs._ray_host.HostRunner` actor on the bundle's node that runs one host of
the job contract: a warm one from the driver's :class:`~._ray_pool.ActorPool` (it holds no
resources of its own; the bundle holds them), or, for a bundle with GPUs (which Ray assigns only to
an actor inside the bundle), a fresh actor in the bundle. PyTorch's rendezvous
(``MASTER_ADDR``/``MASTER_PORT``) is rewritten to the first host's node address and a port free
there. Rule jobs run beside the hosts on pooled actors too (:meth:`RaySession.start_sidecar`).

Ray does not share files between nodes: inputs travel with the start call (files the job
directory holds) or are downloaded on the node (``s3://``); what a host writes comes back when it
ends. A host that ended by itself gives its actor back to the pool; a stopped one, or one whose
actor failed, has its actor killed. :meth:`RaySession.close` removes the placement group.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from smdbg.platform.jobs._backend import WorkerSpec
from smdbg.platform.jobs._errors import RayClusterError
from smdbg.platform.jobs._ray_pool import ActorPool

__all__ = ["RaySession", "SHIP_LIMIT_BYTES"]

SHIP_LIMIT_BYTES = 256 * 1024**2


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


class _Host:
    """One started host (or rule job): its actor, and whether the actor goes back to the pool."""

    def __init__(self, actor: Any, host: str, job_dir: str, pooled: bool) -> None:
        self.actor, self.host, self.job_dir, self.pooled = actor, host, job_dir, pooled
        self.released = False
        self.broken = False  # stopped, or its actor failed: never reused


class RaySession:
    """What one job's supervisor asked of the driver; every method is one request of
    :mod:`._ray_link`'s protocol. Methods may be called concurrently."""

    def __init__(self, ray: Any, pool: ActorPool, placement_timeout_s: float = 60.0) -> None:
        self.ray, self.pool, self.placement_timeout_s = ray, pool, placement_timeout_s
        self._group: Any = None
        self._hosts: dict[str, _Host] = {}
        self._lock = threading.Lock()

    def hello(self) -> int:
        """The driver's pid: it answers."""
        return os.getpid()

    def configure(self, placement_timeout_s: float) -> None:
        self.placement_timeout_s = placement_timeout_s

    def check(self, specs: list[WorkerSpec]) -> None:
        from smdbg.platform.jobs._raycluster import alive_nodes, check_fits

        cluster = self.ray.cluster_resources()
        check_fits(self.ray, [s.instance.ray_bundle(cluster) for s in specs], f"job {specs[0].job_name}")
        nodes = len(alive_nodes(self.ray))
        local = sorted({i for s in specs for i in s.local_inputs})
        if nodes > 1 and local:
            raise RayClusterError(
                f"{', '.join(local)}: a local path is not shared storage, and this Ray cluster has "
                f"{nodes} nodes that cannot read this machine's files; give an s3:// URL (the S3 API: "
                "AWS, MinIO, or a test server) that every node reaches"
            )

    def _add(self, host: _Host) -> str:
        wid = str(host.actor._actor_id.hex())
        with self._lock:
            self._hosts[wid] = host
        return wid

    def start_group(self, specs: list[WorkerSpec]) -> list[str]:
        """Reserve the placement group, start one host per bundle; the hosts' ids."""
        from ray.util import placement_group_table

        from smdbg.platform.jobs._raycluster import placement_group

        ray = self.ray
        bundles = [s.instance.ray_bundle(ray.cluster_resources()) for s in specs]
        name = specs[0].job_name
        self._group = placement_group(ray, bundles, f"job {name}", self.placement_timeout_s)
        on_node = placement_group_table(self._group)["bundles_to_node_id"]
        hosts = []
        for i, spec in enumerate(specs):
            if bundles[i].get("GPU"):  # Ray hands GPUs only to an actor inside the bundle
                hosts.append(_Host(self.pool.fresh_in_group(self._group, i, bundles[i], name, spec.host),
                                   spec.host, spec.job_dir, pooled=False))  # fmt: skip
            else:
                hosts.append(_Host(self.pool.take(on_node[i]), spec.host, spec.job_dir, pooled=True))
        try:
            infos = ray.get([h.actor.info.remote() for h in hosts])
        except Exception:  # an idle actor died (its worker was killed): fresh ones, once
            for i, h in enumerate(hosts):
                if h.pooled:
                    h.actor = self.pool.replace(h.actor, on_node[i])
            infos = None
        wids = [self._add(h) for h in hosts]
        try:
            infos = infos or ray.get([h.actor.info.remote() for h in hosts])
            first = infos[0]
            starts = []
            for spec, host, info in zip(specs, hosts, infos, strict=True):
                doc = spec.to_spec()
                if "MASTER_ADDR" in doc["env"]:  # torch.distributed meets at the first host's node
                    doc["env"].update(MASTER_ADDR=first["ip"], MASTER_PORT=str(first["port"]))
                doc["env"]["SMDBG_RAY_NODE_ID"] = info["node_id"]
                files = _files(Path(spec.job_dir), spec.host) if spec.job_dir else {}
                starts.append(host.actor.start.remote(doc, files, [list(f) for f in spec.fetch]))
            ray.get(starts)
        except Exception as e:
            for wid in wids:
                self.stop(wid, 1.0)
            cause = getattr(e, "cause", None) or e
            raise RayClusterError(f"a host could not start on its Ray node: {cause}") from e
        return wids

    def start_sidecar(self, name: str, argv: list[str], env: dict[str, str]) -> str:
        from smdbg.platform.jobs._instances import resolve_instance_type

        spec = WorkerSpec(name, name, argv, env, "/", resolve_instance_type("local"))
        host = _Host(self.pool.take(None), name, "", pooled=True)
        wid = self._add(host)
        try:
            self.ray.get(host.actor.start.remote(spec.to_spec(), {}, []))
        except Exception:
            self.stop(wid, 1.0)
            raise
        return wid

    def read(self, wid: str, cursor: int, timeout_s: float) -> tuple[list[str], int | None]:
        host = self._hosts[wid]
        try:
            lines, code = self.ray.get(host.actor.read.remote(cursor, timeout_s))
        except Exception as e:  # the actor or its node died
            host.broken = True
            return [f"[smdbg] host {host.host}: its Ray actor ended: {e}"], -9
        return lines, code

    def finish(self, wid: str) -> None:
        """The host ended: bring back what it wrote into the job directory, free its actor."""
        host = self._hosts[wid]
        if host.released:
            return
        if host.job_dir and not host.broken:
            try:
                files = self.ray.get(host.actor.collect.remote())
            except Exception:  # a killed actor has nothing to give back
                files = {}
            for rel, data in files.items():
                target = Path(host.job_dir) / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        self._release(host)

    def stop(self, wid: str, grace_s: float) -> None:
        host = self._hosts[wid]
        if host.released:
            return
        host.broken = True
        try:
            self.ray.get(host.actor.stop.remote(grace_s), timeout=grace_s + 10)
        except Exception:
            pass
        self._release(host)

    def _release(self, host: _Host) -> None:
        with self._lock:
            if host.released:
                return
            host.released = True
        try:
            self.ray.get(host.actor.reset.remote(), timeout=30)
        except Exception:
            host.broken = True
        if host.pooled and not host.broken:
            self.pool.give_back(host.actor)
            return
        self.ray.kill(host.actor)
        if host.pooled:
            self.pool.refill()

    def close(self) -> None:
        """Stop what still runs (the supervisor went away), remove the placement group."""
        for wid, host in list(self._hosts.items()):
            if not host.released:
                self.stop(wid, 5.0)
        if self._group is not None:
            from ray.util import remove_placement_group

            try:
                remove_placement_group(self._group)
            except Exception:
                pass
            self._group = None
