"""The local backend: one subprocess per worker, in its own process group (and session).

Container paths are presented with a private mount namespace: ``unshare --mount --propagation
private`` (util-linux) and bind mounts, then the worker's program is exec'ed, so a script written
for ``/opt/ml/processing/input/...`` runs unchanged and the host sees none of the mounts. That
needs root (or CAP_SYS_ADMIN); without it, jobs that need the paths fail with
:class:`IsolationUnavailableError`, and training jobs fall back to host paths in ``SM_*``.

Limits: ``taskset`` pins a worker to ``vcpus`` CPUs; ``prlimit --as`` caps its address space.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator

from smdbg._proc import pid_alive
from smdbg.platform.jobs._backend import Backend, Mount, WorkerHandle, WorkerSpec
from smdbg.platform.jobs._errors import IsolationUnavailableError
from smdbg.platform.jobs._instances import InstanceType

__all__ = ["LocalBackend", "can_isolate", "wrap_argv"]

AS_FACTOR = 4  # address-space cap = AS_FACTOR x the instance type's memory


@functools.lru_cache(maxsize=1)
def can_isolate() -> bool:
    """Whether this process can make a private mount namespace with bind mounts (probed once)."""
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    try:
        probe = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "--", "mount", "--bind", "/", "/mnt"],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def _limit_prefix(instance: InstanceType) -> list[str]:
    prefix: list[str] = []
    if instance.vcpus and shutil.which("taskset"):
        cpus = sorted(os.sched_getaffinity(0))[: instance.vcpus]
        prefix += ["taskset", "-c", ",".join(map(str, cpus))]
    if instance.memory_bytes and shutil.which("prlimit"):
        prefix += ["prlimit", f"--as={instance.memory_bytes * AS_FACTOR}", "--"]
    return prefix


def wrap_argv(argv: list[str], mounts: list[Mount], workdir: str) -> list[str]:
    """The command that runs ``argv`` in a private mount namespace with ``mounts`` bound."""
    steps = ["set -e"]
    for m in mounts:
        steps.append(f"mount --bind {shlex.quote(m.host)} {shlex.quote(m.container)}")
        if m.read_only:
            steps.append(f"mount -o remount,bind,ro {shlex.quote(m.container)}")
    steps.append(f"cd {shlex.quote(workdir)}")
    steps.append('exec "$@"')
    script = "; ".join(steps)
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "smdbg-job", *argv]


class _LocalWorker(WorkerHandle):
    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc

    @property
    def ident(self) -> str:
        return str(self._proc.pid)

    def lines(self) -> Iterator[str]:
        assert self._proc.stdout is not None
        for raw in self._proc.stdout:
            yield raw.decode("utf-8", "replace").rstrip("\r\n")

    def wait(self) -> int:
        return self._proc.wait()

    def stop(self, grace_s: float) -> None:
        _stop_group(self._proc.pid, grace_s, lambda: self._proc.poll() is not None)


def _stop_group(pid: int, grace_s: float, ended: object) -> None:
    def done() -> bool:
        return bool(ended()) if callable(ended) else False

    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + (grace_s if sig == signal.SIGTERM else 5.0)
        while time.monotonic() < deadline:
            if done():
                return
            time.sleep(0.05)


class LocalBackend(Backend):
    name = "local"

    def __init__(self, isolate: bool | None = None) -> None:
        self._isolate = can_isolate() if isolate is None else isolate

    @property
    def presents_container_paths(self) -> bool:
        return self._isolate

    def check(self, specs: list[WorkerSpec]) -> None:
        if any(s.mounts for s in specs) and not self._isolate:
            raise IsolationUnavailableError(
                "the local backend cannot present the container paths (/opt/ml/...) to this job: it needs "
                "a private mount namespace (`unshare --mount` from util-linux, run as root or with "
                "CAP_SYS_ADMIN). Run as root, or use the Docker backend (backend='docker', see "
                "scripts/setup_docker.sh)"
            )

    def start(self, spec: WorkerSpec) -> WorkerHandle:
        argv = list(spec.argv)
        cwd: str | None = spec.workdir
        if spec.mounts and self._isolate:
            for m in spec.mounts:
                if not os.path.exists(m.container) and m.container.count("/") <= 3:
                    os.makedirs(m.container, exist_ok=True)  # the top mount point, e.g. /opt/ml
            argv = wrap_argv(argv, spec.mounts, spec.workdir)
            cwd = None
        argv = _limit_prefix(spec.instance) + argv
        proc = subprocess.Popen(
            argv,
            env=spec.env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return _LocalWorker(proc)

    def kill(self, ident: str) -> None:
        pid = int(ident)
        _stop_group(pid, 10.0, lambda: not pid_alive(pid))
