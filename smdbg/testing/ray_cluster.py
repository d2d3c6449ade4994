"""A real Ray cluster of several nodes on this machine, for tests and benchmarks.

Each node is one ``ray start`` (the head with ``--head``), each with a CPU count, a small object
store and, for nodes after the head, a custom resource ``node<i>``. Every ``ray start`` runs in a
session of its own and Ray's daemons stay in its process group, so :meth:`LocalRayCluster.stop`
stops exactly the processes started here (never ``ray stop``, which stops every Ray on the
machine). Ray's files go to a private temporary folder (``RAY_TMPDIR`` and ``--temp-dir``).

Every node runs at 127.0.0.1: ``ray start`` would replace a loopback ``--node-ip-address`` (and
the head's address a joining node is given) with the machine's outward address, so the nodes
start through :mod:`smdbg.testing._ray_start`, Ray's own command line with that replacement off.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

__all__ = ["LocalRayCluster"]

START_TIMEOUT_S = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop_group(pgid: int) -> None:
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


class LocalRayCluster:
    """``with LocalRayCluster(nodes=2) as c: ... c.address ...``; :meth:`add_node` grows it."""

    def __init__(
        self, nodes: int = 2, cpus: int = 2, object_store_mb: int = 100, pythonpath: str = ""
    ) -> None:
        self.cpus, self.object_store_mb = cpus, object_store_mb
        self.temp = tempfile.mkdtemp(prefix="smdbg-ray-", dir="/tmp")  # short: socket paths are limited
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self._env = {**os.environ, "RAY_TMPDIR": self.temp, "RAY_USAGE_STATS_ENABLED": "0"}
        if pythonpath:
            self._env["PYTHONPATH"] = pythonpath
        self._groups: list[int] = []
        self._ray = [sys.executable, "-m", "smdbg.testing._ray_start"]
        try:
            for _ in range(nodes):
                self.add_node()
        except BaseException:
            self.stop()
            raise

    def add_node(self) -> None:
        common = [
            "--node-ip-address=127.0.0.1", f"--num-cpus={self.cpus}",
            f"--object-store-memory={self.object_store_mb * 1_000_000}", "--disable-usage-stats",
        ]  # fmt: skip
        if not self._groups:
            argv = [*self._ray, "start", "--head", f"--port={self.port}", "--include-dashboard=false",
                    f"--temp-dir={self.temp}", *common]  # fmt: skip
        else:
            argv = [*self._ray, "start", f"--address={self.address}",
                    f'--resources={{"node{len(self._groups) + 1}": 1}}', *common]  # fmt: skip
        proc = subprocess.Popen(argv, env=self._env, start_new_session=True, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)  # fmt: skip
        self._groups.append(proc.pid)
        out, _ = proc.communicate(timeout=START_TIMEOUT_S)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed:\n{out[-3000:]}")

    def stop(self) -> None:
        """Disconnect this process if it joined, then stop the nodes started here."""
        try:
            import ray

            if ray.is_initialized():
                ray.shutdown()
        except ImportError:
            pass
        for pgid in reversed(self._groups):
            _stop_group(pgid)
        self._groups.clear()
        shutil.rmtree(self.temp, ignore_errors=True)

    def __enter__(self) -> LocalRayCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
