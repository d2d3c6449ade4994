"""The Ray backend: a job's hosts as actors in one placement group of a Ray cluster.

The supervisor does not join the cluster itself. It hands its hosts to the cluster address's
long-lived driver (:mod:`._ray_driver`, reached through :mod:`._ray_link`, started by the first
job and replaced when it died), which stays joined and keeps warm host actors: a job pays neither
``import ray`` nor ``ray.init`` nor a new actor process. What the driver does for one job is
:class:`~._ray_session.RaySession`: reserve the placement group (one bundle per host), run each
host of the job contract on its bundle's node (:class:`~._ray_host.HostRunner`), stream its log,
bring back what it wrote, stop it. This module only forwards: every handle method is one request.
If the supervisor dies, its session's connection closes and the driver stops its hosts.

Ray does not share files between nodes: inputs travel with the start call (files the job
directory holds) or are downloaded on the node (``s3://``); what a host writes comes back when it
ends. A local path given as an input on a cluster of several nodes is refused in :meth:`check`.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from typing import Any

from smdbg._optional import MissingDependencyError
from smdbg.platform.jobs._backend import Backend, WorkerHandle, WorkerSpec
from smdbg.platform.jobs._errors import RayClusterError

__all__ = ["RayBackend", "RAY_OPTIONS"]

#: the keys of a job spec's ``ray`` section
RAY_OPTIONS = ("address", "placement_timeout_s")
_POLL_S = 0.5


class _LinkedWorker(WorkerHandle):
    """A host the driver runs; ``ident`` is its actor's id."""

    def __init__(self, link: Any, wid: str, host: str) -> None:
        self._link, self._wid, self._host = link, wid, host
        self._code: int | None = None
        self._ended = threading.Event()

    @property
    def ident(self) -> str:
        return self._wid

    def lines(self) -> Iterator[str]:
        cursor = 0
        while True:
            try:
                lines, code = self._link.call("read", wid=self._wid, cursor=cursor, timeout_s=_POLL_S)
            except RayClusterError as e:  # the driver died
                yield f"[smdbg] host {self._host}: {e}"
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
        self._finish("finish", wid=self._wid)
        return self._code if self._code is not None else -9

    def _finish(self, op: str, **args: Any) -> None:
        if self._ended.is_set():
            return
        self._ended.set()
        try:
            self._link.call(op, **args)
        except RayClusterError:
            pass

    def stop(self, grace_s: float) -> None:
        self._finish("stop", wid=self._wid, grace_s=grace_s)


class RayBackend(Backend):
    """Jobs on a Ray cluster; ``address`` as in :func:`smdbg.platform.jobs._raycluster.resolve_address`."""

    name = "ray"

    def __init__(self, address: str | None = None, placement_timeout_s: float = 60.0) -> None:
        from smdbg.platform.jobs._raycluster import resolve_address

        self.address = resolve_address(address)
        self.placement_timeout_s = placement_timeout_s
        self._link: Any = None

    @property
    def presents_container_paths(self) -> bool:
        return False  # training workers see host paths on their node; processing workers are isolated there

    @property
    def link(self) -> Any:
        """The session with the driver (opened, and the driver started, on first use)."""
        if self._link is None:
            from smdbg.platform.jobs._ray_link import open_link
            from smdbg.platform.jobs._raycluster import probe

            if importlib.util.find_spec("ray") is None:
                raise MissingDependencyError("the Ray backend", "ray", "ray")
            if self.address is not None:
                probe(self.address)  # fail in seconds, naming the address, before starting a driver
            self._link = open_link(self.address)
            self._link.call("configure", placement_timeout_s=self.placement_timeout_s)
        return self._link

    def check(self, specs: list[WorkerSpec]) -> None:
        """Asked in the user's process before the job starts: a session of its own, closed after."""
        try:
            self.link.call("check", specs=[s.to_spec() for s in specs])
        finally:
            self.close()

    def start_group(self, specs: list[WorkerSpec]) -> list[WorkerHandle]:
        wids = self.link.call("start_group", specs=[s.to_spec() for s in specs])
        return [_LinkedWorker(self.link, w, s.host) for w, s in zip(wids, specs, strict=True)]

    def start(self, spec: WorkerSpec) -> WorkerHandle:
        return self.start_group([spec])[0]

    def start_sidecar(self, name: str, argv: list[str], env: dict[str, str]) -> WorkerHandle:
        return _LinkedWorker(self.link, self.link.call("start_sidecar", name=name, argv=argv, env=env), name)

    def kill(self, ident: str) -> None:
        """Hosts belong to their supervisor's session: the driver stops them when it ends."""

    def close(self) -> None:
        if self._link is not None:
            try:
                self._link.call("close")
            except RayClusterError:
                pass
            self._link.close()
            self._link = None
