"""The backend contract: start one worker, read its log, wait for it, stop it.

A backend is small on purpose (three primitives on a handle); the supervisor builds jobs on it:
metrics, rule jobs, statuses and outputs live once, in :mod:`smdbg.platform.jobs._supervisor`.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from smdbg.platform.jobs._instances import InstanceType, resolve_instance_type

__all__ = ["Mount", "WorkerSpec", "WorkerHandle", "Backend"]


@dataclass(frozen=True)
class Mount:
    """``host`` presented at ``container`` inside the worker (bind mount)."""

    host: str
    container: str
    read_only: bool = False


@dataclass
class WorkerSpec:
    """One worker (one "instance") of a job."""

    job_name: str
    host: str
    argv: list[str]
    env: dict[str, str]
    workdir: str
    instance: InstanceType
    mounts: list[Mount] = field(default_factory=list)
    #: the job's folder on the host (a backend may keep per-worker state there)
    job_dir: str = ""
    #: ``(path relative to job_dir, s3:// URL)`` a backend whose workers run elsewhere downloads
    #: there (the Ray backend); other backends get these files already placed in the job folder
    fetch: list[tuple[str, str]] = field(default_factory=list)
    #: the inputs given as local paths, as people name them (``channel 'train': /data``)
    local_inputs: list[str] = field(default_factory=list)

    def to_spec(self) -> dict[str, Any]:
        """The worker as it is stored in a job's ``spec.json``."""
        return {
            "job_name": self.job_name,
            "host": self.host,
            "argv": self.argv,
            "env": self.env,
            "workdir": self.workdir,
            "instance_type": self.instance.name,
            "mounts": [[m.host, m.container, m.read_only] for m in self.mounts],
            "job_dir": self.job_dir,
            "fetch": [list(f) for f in self.fetch],
            "local_inputs": self.local_inputs,
        }

    @classmethod
    def from_spec(cls, d: dict[str, Any]) -> WorkerSpec:
        """The worker :meth:`to_spec` stored."""
        return cls(
            job_name=d["job_name"],
            host=d["host"],
            argv=list(d["argv"]),
            env=dict(d["env"]),
            workdir=d["workdir"],
            instance=resolve_instance_type(d["instance_type"]),
            mounts=[Mount(*m) for m in d.get("mounts", [])],
            job_dir=d.get("job_dir", ""),
            fetch=[(str(a), str(b)) for a, b in d.get("fetch", [])],
            local_inputs=list(d.get("local_inputs", [])),
        )


class WorkerHandle(abc.ABC):
    """A started worker. ``lines`` and ``wait`` are called from one reader thread; ``stop`` may be
    called from any thread, also after the worker ended (then it does nothing)."""

    @property
    @abc.abstractmethod
    def ident(self) -> str:
        """A pid or container id, recorded in ``job.json`` so another process can stop the worker."""

    @abc.abstractmethod
    def lines(self) -> Iterator[str]:
        """The worker's stdout and stderr, line by line (without newline), until it ends."""

    @abc.abstractmethod
    def wait(self) -> int:
        """Block until the worker ends; its exit status (negative: killed by that signal)."""

    @abc.abstractmethod
    def stop(self, grace_s: float) -> None:
        """SIGTERM, then SIGKILL after ``grace_s`` seconds."""


class Backend(abc.ABC):
    name: str

    @property
    @abc.abstractmethod
    def presents_container_paths(self) -> bool:
        """True when workers see their mounts at the container paths (``/opt/ml/...``)."""

    @property
    def worker_home(self) -> str:
        """``HOME`` of a worker: a folder it can write (by default its own ``/tmp``)."""
        return "/tmp"

    @abc.abstractmethod
    def check(self, specs: list[WorkerSpec]) -> None:
        """Raise a clear :class:`JobError` now if these workers cannot start (engine down, image
        missing, no way to present the paths); called in the user's process before anything runs."""

    @abc.abstractmethod
    def start(self, spec: WorkerSpec) -> WorkerHandle:
        """Start one worker."""

    def start_group(self, specs: list[WorkerSpec]) -> list[WorkerHandle]:
        """Start a job's workers together (a backend that gang-schedules overrides this). If one
        cannot start, the ones started are stopped and the error is raised."""
        handles: list[WorkerHandle] = []
        try:
            for spec in specs:
                handles.append(self.start(spec))
        except BaseException:
            for h in handles:
                h.stop(1.0)
            raise
        return handles

    def start_sidecar(self, name: str, argv: list[str], env: dict[str, str]) -> WorkerHandle | None:
        """Start a helper beside the workers (a rule job) where the backend places it, or return
        ``None``: the supervisor runs it as its own child process."""
        return None

    def close(self) -> None:
        """Release what the backend holds for the job (called once, when the job has ended)."""
        return None

    @abc.abstractmethod
    def kill(self, ident: str) -> None:
        """Stop a worker by its recorded ident, from another process (supervisor gone)."""
