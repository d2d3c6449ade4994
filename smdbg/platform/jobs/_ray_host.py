"""What runs on a Ray node: one host of a job (or one rule job) in a node-local copy of its tree.

:class:`HostRunner` is the body of a small Ray actor (the Ray backend wraps it with
``ray.remote``; this module does not import Ray). Ray does not share files between nodes, so the
driver ships the host's part of the job directory (config, code, channels given as local
files) with :meth:`HostRunner.start`; the actor writes it under a temporary folder of its node,
rewrites the job directory's path in the worker's command and environment to that folder,
downloads the ``s3://`` inputs there (in a child process that has the worker's environment, so
credentials reach no other process), and runs the worker with the local backend (isolated, with
the ``/opt/ml`` mounts, when the worker needs the container paths). :meth:`read` streams the log;
:meth:`collect` returns the files the worker wrote, which the driver puts back into the job
directory, where outputs are copied as on every other backend; :meth:`reset` readies the actor
for the next host (the driver keeps warm actors, :mod:`._ray_pool`).

``python -m smdbg.platform.jobs._ray_host fetch '<json [[target, url], ...]>'`` is the download
step.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

__all__ = ["HostRunner", "snapshot"]

_SKIP_COLLECT = ("input", "root", "code")  # inputs, the sandbox root, the code: never sent back


def snapshot(base: Path) -> dict[str, tuple[int, int]]:
    """``relative path -> (size, mtime_ns)`` of every regular file under ``base``."""
    out = {}
    for dirpath, _dirs, files in os.walk(base):
        for name in files:
            path = Path(dirpath) / name
            st = path.lstat()
            if path.is_file() and not path.is_symlink():
                out[path.relative_to(base).as_posix()] = (st.st_size, st.st_mtime_ns)
    return out


class HostRunner:
    """One host on one node. Methods are called concurrently (a threaded actor): ``read`` blocks
    while ``stop`` may come from another call."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._cond = threading.Condition()
        self._code: int | None = None
        self._handle: Any = None
        self._local: Path | None = None
        self._shipped: dict[str, tuple[int, int]] = {}

    def info(self) -> dict[str, Any]:
        """Where this actor runs: Ray node id, the node's address and a port free on it."""
        import ray

        with socket.socket() as s:
            s.bind(("", 0))
            port = int(s.getsockname()[1])
        return {
            "node_id": ray.get_runtime_context().get_node_id(),
            "ip": ray.util.get_node_ip_address(),
            "port": port,
        }

    def start(self, worker: dict[str, Any], files: dict[str, bytes], fetch: list[list[str]]) -> str:
        """Lay out ``files`` (relative to the job directory), download ``fetch`` and start the
        worker (a :meth:`WorkerSpec.to_spec` dict); returns the node-local job directory."""
        from smdbg.platform.jobs._backend import WorkerSpec
        from smdbg.platform.jobs._local import LocalBackend

        old = worker.get("job_dir") or ""
        local = Path(tempfile.mkdtemp(prefix=f"smdbg-{worker['job_name']}-{worker['host']}-"))
        self._local = local
        for rel, data in files.items():
            target = local / rel
            if rel.endswith("/"):
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if old:
            worker = json.loads(json.dumps(worker).replace(json.dumps(old)[1:-1], str(local)))
        worker["job_dir"] = str(local)
        gpus = _gpu_ids()
        if gpus:  # the GPUs Ray gave this actor's bundle, and only those
            worker["env"].update(CUDA_VISIBLE_DEVICES=",".join(gpus), SM_NUM_GPUS=str(len(gpus)))
        if not os.path.exists(worker["argv"][0]) and os.path.basename(worker["argv"][0]).startswith("python"):
            worker["argv"][0] = sys.executable  # another interpreter path on this node
        if fetch:
            targets = [[str(local / rel), url] for rel, url in fetch]
            done = subprocess.run(
                [sys.executable, "-m", "smdbg.platform.jobs._ray_host", "fetch", json.dumps(targets)],
                env=worker["env"], capture_output=True, text=True,
            )  # fmt: skip
            if done.returncode != 0:
                raise RuntimeError(f"downloading the inputs failed: {done.stderr.strip()[-1500:]}")
        self._shipped = snapshot(local)
        spec = WorkerSpec.from_spec(worker)
        backend = LocalBackend(isolate=None if spec.mounts else False)
        backend.check([spec])
        self._handle = backend.start(spec)
        threading.Thread(target=self._pump, name="pump", daemon=True).start()
        return str(local)

    def _pump(self) -> None:
        for line in self._handle.lines():
            with self._cond:
                self._lines.append(line)
                self._cond.notify_all()
        code = self._handle.wait()
        with self._cond:
            self._code = code
            self._cond.notify_all()

    def read(self, cursor: int, timeout_s: float) -> tuple[list[str], int | None]:
        """Log lines from ``cursor`` on (waiting up to ``timeout_s`` for one), and the exit status
        once the worker ended and every line was read."""
        with self._cond:
            if cursor >= len(self._lines) and self._code is None:
                self._cond.wait(timeout_s)
            lines = self._lines[cursor:]
            return lines, (self._code if cursor + len(lines) >= len(self._lines) else None)

    def stop(self, grace_s: float) -> None:
        if self._handle is not None:
            self._handle.stop(grace_s)

    def collect(self) -> dict[str, bytes]:
        """The files the worker wrote or changed (not its inputs, code or sandbox root)."""
        if self._local is None:
            return {}
        out = {}
        for rel, stat in snapshot(self._local).items():
            parts = rel.split("/")
            if any(p in _SKIP_COLLECT for p in parts[:-1]) or self._shipped.get(rel) == stat:
                continue
            out[rel] = (self._local / rel).read_bytes()
        return out

    def reset(self) -> None:
        """Remove the host's node-local folder and forget it: the actor can run another host."""
        if self._local is not None:
            shutil.rmtree(self._local, ignore_errors=True)
        with self._cond:
            self._lines, self._code, self._handle, self._local, self._shipped = [], None, None, None, {}


def _gpu_ids() -> list[str]:
    import ray

    return [str(g) for g in ray.get_gpu_ids()]


def _fetch(targets: list[list[str]]) -> None:
    from smdbg import fs

    for target, url in targets:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(url, Path(target))


if __name__ == "__main__":
    if sys.argv[1:2] == ["fetch"]:
        _fetch(json.loads(sys.argv[2]))
