"""A real two-node Ray cluster for the Ray backend's tests, started once per session.

Both nodes run on this machine (``ray start --head`` and ``ray start --address``), each with 2
CPUs and a 100 MB object store; the second carries a ``node2`` resource. Each ``ray start`` runs
in a session of its own, and Ray's daemons stay in that process group, so teardown stops exactly
the processes this fixture started (never ``ray stop``, which stops every Ray on the machine).
Ray's files go to a private temporary folder (``RAY_TMPDIR``/``--temp-dir``).

Ray advertises each node under the machine's own address rather than 127.0.0.1 (it replaces
loopback for clusters of several nodes); the traffic stays on this machine.
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
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).with_name("ray"))
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


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """The address (``127.0.0.1:port``) of a running two-node Ray cluster."""
    temp = tempfile.mkdtemp(prefix="smdbg-ray-", dir="/tmp")  # short: Ray's socket paths are limited
    port = _free_port()
    env = {**os.environ, "RAY_TMPDIR": temp, "PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0"}
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=2", "--object-store-memory=100000000", "--disable-usage-stats"]
    commands = [
        [RAY, "start", "--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={temp}", *common],
        [RAY, "start", f"--address=127.0.0.1:{port}", '--resources={"node2": 1}', *common],
    ]
    groups: list[int] = []
    try:
        for argv in commands:
            proc = subprocess.Popen(argv, env=env, start_new_session=True, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)  # fmt: skip
            groups.append(proc.pid)
            out, _ = proc.communicate(timeout=START_TIMEOUT_S)
            if proc.returncode != 0:
                raise RuntimeError(f"{' '.join(argv)} failed:\n{out[-3000:]}")
        yield f"127.0.0.1:{port}"
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        for pgid in reversed(groups):
            _stop_group(pgid)
        shutil.rmtree(temp, ignore_errors=True)
