"""The Docker backend: one container per worker through the docker SDK.

No registry is reachable here, so images are built locally (``scripts/setup_docker.sh`` imports a
Debian root filesystem as :data:`DEFAULT_IMAGE`). The host's Python, the virtualenv and the
project are bind-mounted read-only at their own paths, so a container runs the same interpreter
and packages as the host (both Debian 12, same glibc). Containers use the host network so that
distributed workers meet on 127.0.0.1, and get the instance type's ``nano_cpus``/``mem_limit``.
They run as ``SMDBG_JOBS_USER`` (nobody by default; the caller's uid when smdbg is not root) with
every capability dropped and ``no-new-privileges``; the job's writable mounts are handed to that
user.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from smdbg import _settings
from smdbg._optional import require
from smdbg.platform.jobs._backend import Backend, Mount, WorkerHandle, WorkerSpec
from smdbg.platform.jobs._errors import DockerUnavailableError, JobError
from smdbg.platform.jobs._sandbox import hand_over, job_user, runtime_paths

__all__ = ["DockerBackend", "DEFAULT_IMAGE", "host_runtime_mounts"]

DEFAULT_IMAGE = "smdbg-base:bookworm"
_HOW = (
    "start one with `bash scripts/setup_docker.sh` (installs docker.io, starts dockerd, builds "
    f"{DEFAULT_IMAGE}) or `dockerd &`, set DOCKER_HOST if it listens elsewhere, or use the local "
    "backend (backend='local', no image_uri)"
)


def host_runtime_mounts(pythonpath: str = "") -> list[Mount]:
    """Read-only mounts that make the host's interpreter, virtualenv and smdbg work in a container
    (and the ``PYTHONPATH`` entries given)."""
    return [Mount(p, p, read_only=True) for p in runtime_paths(pythonpath.split(os.pathsep))]


def _closed_ancestors(paths: list[str]) -> list[str]:
    """Ancestors of ``paths`` that other users cannot enter on the host (``/root``); the image's
    copy is as closed, so the container gets an empty, enterable folder there (a tmpfs would
    not do: Docker gives it the mode of the folder it covers)."""
    out = set()
    for p in paths:
        parent = os.path.dirname(p)
        while parent not in ("/", ""):
            try:
                if not os.stat(parent).st_mode & 0o001:
                    out.add(parent)
            except OSError:
                pass
            parent = os.path.dirname(parent)
    return sorted(out)


def _client() -> Any:
    docker = require("docker", extra="platform", feature="the Docker job backend")
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as e:
        where = _settings.DOCKER_HOST.get()
        raise DockerUnavailableError(f"no Docker engine is reachable at {where} ({e}); {_HOW}") from e
    return client


class _Container(WorkerHandle):
    def __init__(self, container: Any) -> None:
        self._c = container

    @property
    def ident(self) -> str:
        return str(self._c.id)

    def lines(self) -> Iterator[str]:
        buf = b""
        for chunk in self._c.logs(stream=True, follow=True, stdout=True, stderr=True):
            buf += chunk
            *complete, buf = buf.split(b"\n")
            for raw in complete:
                yield raw.decode("utf-8", "replace").rstrip("\r")
        if buf:
            yield buf.decode("utf-8", "replace").rstrip("\r")

    def wait(self) -> int:
        code = int(self._c.wait().get("StatusCode", -1))
        try:
            self._c.remove(force=True)
        except Exception:  # already removed by a stop from another process
            pass
        return code

    def stop(self, grace_s: float) -> None:
        try:
            self._c.stop(timeout=max(1, int(grace_s)))
        except Exception:  # ended already
            pass


class DockerBackend(Backend):
    name = "docker"

    def __init__(self, image: str | None = None) -> None:
        self.image = image or DEFAULT_IMAGE
        self._docker: Any = None

    @property
    def client(self) -> Any:
        if self._docker is None:
            self._docker = _client()
        return self._docker

    @property
    def presents_container_paths(self) -> bool:
        return True

    def check(self, specs: list[WorkerSpec]) -> None:
        import docker.errors

        try:
            self.client.images.get(self.image)
        except docker.errors.ImageNotFound:
            raise JobError(
                f"image_uri {self.image!r} is not in the local Docker engine and no registry is reachable: "
                f"build it locally (`bash scripts/setup_docker.sh` builds {DEFAULT_IMAGE}) or pass the "
                "name of a local image (`docker images`)"
            ) from None

    def start(self, spec: WorkerSpec) -> WorkerHandle:
        runtime = host_runtime_mounts(spec.env.get("PYTHONPATH", ""))
        volumes: dict[str, dict[str, str]] = {}
        for m in [*runtime, *spec.mounts]:
            volumes[m.host] = {"bind": m.container, "mode": "ro" if m.read_only else "rw"}
        uid, gid = job_user() or (os.getuid(), os.getgid())
        hand_over(spec.mounts, (uid, gid))
        shadow = Path(spec.job_dir or tempfile.mkdtemp(prefix="smdbg-shadow-")) / "hosts" / spec.host / "shadow"
        for p in _closed_ancestors([m.container for m in runtime]):
            (shadow / p.lstrip("/")).mkdir(mode=0o755, parents=True, exist_ok=True)
            volumes[str(shadow / p.lstrip("/"))] = {"bind": p, "mode": "rw"}
        kwargs: dict[str, Any] = {}
        if spec.instance.vcpus:
            kwargs["nano_cpus"] = int(min(spec.instance.vcpus, os.cpu_count() or 1) * 1e9)
        if spec.instance.memory_bytes:
            kwargs["mem_limit"] = spec.instance.memory_bytes
        container = self.client.containers.create(
            self.image,
            command=spec.argv,
            environment=spec.env,
            volumes=volumes,
            tmpfs={"/tmp": "mode=1777"},
            working_dir=spec.workdir,
            network_mode="host",
            user=f"{uid}:{gid}",
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            name=f"{spec.job_name}-{spec.host}",
            labels={"smdbg.job": spec.job_name, "smdbg.host": spec.host},
            **kwargs,
        )
        try:
            container.start()
        except Exception:  # a container that cannot start is not left behind under the job's name
            container.remove(force=True)
            raise
        return _Container(container)

    def kill(self, ident: str) -> None:
        try:
            self.client.containers.get(ident).stop(timeout=10)
        except Exception:
            pass
