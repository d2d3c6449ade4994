"""Warm :class:`~smdbg.platform.jobs._ray_host.HostRunner` actors, kept per node by the driver.

Starting an actor starts a Ray worker process (1-3 s on a busy machine). The pool keeps
``spare`` idle actors on every node, pinned there (``NodeAffinitySchedulingStrategy``) and
holding no CPU (``num_cpus=0``): the job's placement-group bundle holds the host's resources, the
pooled actor only runs it. :meth:`ActorPool.take` hands out an idle actor of a node, or a new one
when none is idle; a host that ended by itself gives its actor back (:meth:`ActorPool.give_back`),
and a killed one is replaced in the background (:meth:`ActorPool.refill`). Nothing is started
while a job runs on a warm actor: on a machine of few cores a starting Ray worker would slow
the job down.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["ActorPool", "SPARE_PER_NODE"]

SPARE_PER_NODE = 1


class ActorPool:
    """Idle host actors by node id. Thread-safe."""

    def __init__(self, ray: Any, spare: int = SPARE_PER_NODE) -> None:
        from smdbg.platform.jobs._ray_host import HostRunner

        self.ray, self.spare = ray, spare
        self._cls = ray.remote(HostRunner)
        self._idle: dict[str, list[Any]] = {}
        self._lock = threading.Lock()

    def _new(self, node_id: str) -> Any:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        strategy = NodeAffinitySchedulingStrategy(node_id, soft=False)
        return self._cls.options(num_cpus=0, max_concurrency=4, scheduling_strategy=strategy).remote()

    def fill(self) -> None:
        """Start actors until every alive node has ``spare`` idle ones (they start in the background)."""
        from smdbg.platform.jobs._raycluster import alive_nodes

        for node in alive_nodes(self.ray):
            node_id = node["NodeID"]
            with self._lock:
                idle = self._idle.setdefault(node_id, [])
                while len(idle) < self.spare:
                    idle.append(self._new(node_id))

    def take(self, node_id: str | None) -> Any:
        """An actor on ``node_id`` (any node for ``None``): an idle one, else a new one."""
        with self._lock:
            if node_id is None:
                node_id = next((n for n, idle in self._idle.items() if idle), None)
            idle = self._idle.get(node_id, []) if node_id is not None else []
            actor = idle.pop() if idle else None
        if actor is not None:
            return actor
        if node_id is None:  # no pool yet: let Ray place it
            return self._cls.options(num_cpus=0, max_concurrency=4).remote()
        return self._new(node_id)

    def replace(self, actor: Any, node_id: str) -> Any:
        """A new actor on ``node_id`` for ``actor``, which is killed (it did not answer)."""
        try:
            self.ray.kill(actor)
        except Exception:
            pass
        return self._new(node_id)

    def refill(self) -> None:
        """:meth:`fill` in the background (after an actor was killed)."""
        threading.Thread(target=self.fill, name="pool-fill", daemon=True).start()

    def give_back(self, actor: Any) -> None:
        """An actor whose host ended by itself and that was reset: idle again, or killed when
        its node already has enough idle ones."""
        try:
            node_id = self.ray.get(actor.info.remote(), timeout=10)["node_id"]
        except Exception:
            self.ray.kill(actor)
            return
        with self._lock:
            idle = self._idle.setdefault(node_id, [])
            if len(idle) < self.spare:
                idle.append(actor)
                return
        self.ray.kill(actor)

    def fresh_in_group(self, group: Any, index: int, bundle: dict[str, float], job: str, host: str) -> Any:
        """A new actor inside bundle ``index`` of ``group`` (one that must hold the bundle's GPUs)."""
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        strategy = PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=index)
        return self._cls.options(
            num_cpus=bundle["CPU"], num_gpus=bundle.get("GPU", 0), max_concurrency=4,
            scheduling_strategy=strategy, name=f"{job}-{host}",
        ).remote()  # fmt: skip

    def drain(self) -> None:
        """Kill every idle actor (the driver is going away)."""
        with self._lock:
            actors = [a for idle in self._idle.values() for a in idle]
            self._idle.clear()
        for actor in actors:
            try:
                self.ray.kill(actor)
            except Exception:
                pass
