"""The local backend: one subprocess per worker, in its own process group (and session).

As root (or with CAP_SYS_ADMIN), each worker runs in a private mount namespace (``unshare
--mount --propagation private``, util-linux) on a root filesystem of its own
(:mod:`smdbg.platform.jobs._sandbox`): the system and the interpreter read-only, its own
``/tmp``, and the job contract's mounts (``/opt/ml``); the host's other files are not there. It
runs as ``SMDBG_JOBS_USER`` (nobody by default). A script written for ``/opt/ml/...`` runs
unchanged and the host sees none of the mounts. Without root, jobs that need the container paths
fail with :class:`IsolationUnavailableError`, and training jobs run unisolated with host paths in
``SM_*``, as the caller.

Limits: ``taskset`` pins a worker to ``vcpus`` CPUs; ``prlimit --as`` caps its address space.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from smdbg._proc import pid_alive
from smdbg.platform.jobs._backend import Backend, Mount, WorkerHandle, WorkerSpec
from smdbg.platform.jobs._errors import IsolationUnavailableError
from smdbg.platform.jobs._instances import limit_prefix
from smdbg.platform.jobs._sandbox import SANDBOX_HOME, hand_over, job_user, sandbox_script

__all__ = ["LocalBackend", "can_isolate", "wrap_argv"]


@functools.lru_cache(maxsize=1)
def can_isolate() -> bool:
    """Whether this process can give a worker a private mount namespace, a root of its own and
    another user (probed once)."""
    if any(shutil.which(t) is None for t in ("unshare", "mount", "chroot", "setpriv")):
        return False
    try:
        probe = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "--", "mount", "-t", "tmpfs", "probe", "/mnt"],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def wrap_argv(
    argv: list[str], mounts: list[Mount], workdir: str, root: str, env: Mapping[str, str],
    user: tuple[int, int] | None,
) -> list[str]:  # fmt: skip
    """The command that runs ``argv`` in a private mount namespace, on a root of its own built at
    ``root`` (an empty folder) with ``mounts`` bound, as ``user``."""
    script = sandbox_script(root, mounts, workdir, env, user)
    unshare = shutil.which("unshare") or "unshare"
    return [unshare, "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "smdbg-job", *argv]


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

    @property
    def worker_home(self) -> str:
        return SANDBOX_HOME if self._isolate else str(Path.home())

    def start(self, spec: WorkerSpec) -> WorkerHandle:
        argv = list(spec.argv)
        cwd: str | None = spec.workdir
        env = dict(spec.env)
        if self._isolate:
            user = job_user()
            hand_over(spec.mounts, user)
            if spec.job_dir:
                root = Path(spec.job_dir) / "hosts" / spec.host / "root"
                root.mkdir(parents=True, exist_ok=True)
                os.chmod(root, 0o700)
            else:  # a worker started outside a job
                root = Path(tempfile.mkdtemp(prefix="smdbg-root-"))
            argv = wrap_argv(argv, spec.mounts, spec.workdir, str(root), env, user)
            cwd = None
        argv = limit_prefix(spec.instance) + argv
        proc = subprocess.Popen(
            argv,
            env=env,
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
