# ruff: noqa: F811  (pytest fixtures imported from _jobs_fixtures are used as parameters)
"""The Ray backend's long-lived driver: reused by later jobs, replaced when it died, gone when
idle; a supervisor that dies takes its hosts with it. And the test cluster itself: every node and
every address on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "platform"))
from _jobs_fixtures import jobs_home, wait_for_log, write_script  # noqa: E402, F401

from smdbg._proc import pid_alive  # noqa: E402
from smdbg.platform.jobs import Estimator  # noqa: E402
from smdbg.platform.jobs._ray_link import _read_pid, driver_paths  # noqa: E402

SLOW = "import os, time\nprint(f'started pid={os.getpid()}', flush=True)\ntime.sleep(600)\n"


def _driver_pid(address: str) -> int | None:
    folder, key = driver_paths(address)
    return _read_pid(folder / f"{key}.pid")


def test_a_pid_file_being_written_is_not_a_dead_driver(tmp_path: Path) -> None:
    """The starter polls the pid file while the driver writes it: an empty or partial file means
    "not yet" (it once read as pid 0, "dead", and the starter killed a healthy driver)."""
    pid_file = tmp_path / "k.pid"
    assert _read_pid(pid_file) is None
    pid_file.write_text("")
    assert _read_pid(pid_file) is None
    pid_file.write_text("12a")
    assert _read_pid(pid_file) is None
    pid_file.write_text(f"{os.getpid()}\n")
    assert _read_pid(pid_file) == os.getpid()


def _wait_until(check: object, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return True
        time.sleep(0.2)
    return False


def _run(address: str, script: Path, name: str) -> str:
    est = Estimator(str(script), backend="ray", ray_address=address)
    est.fit(job_name=name, logs=False)
    return est.latest_training_job.logs()["algo-1"]  # type: ignore[union-attr]


def test_later_jobs_reuse_the_driver_and_a_dead_one_is_replaced(
    ray_cluster: str, jobs_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = write_script(tmp_path, "hi.py", "print('hi from', __import__('os').getpid(), flush=True)\n")
    assert "hi from" in _run(ray_cluster, script, "drv-1")
    first = _driver_pid(ray_cluster)
    assert first is not None and pid_alive(first)
    assert "hi from" in _run(ray_cluster, script, "drv-2")
    assert _driver_pid(ray_cluster) == first  # the same driver served the second job
    os.kill(first, signal.SIGKILL)  # a driver this session's jobs started
    assert _wait_until(lambda: not pid_alive(first))
    monkeypatch.setenv("SMDBG_RAY_DRIVER_IDLE_S", "2")  # the replacement inherits it
    assert "hi from" in _run(ray_cluster, script, "drv-3")
    second = _driver_pid(ray_cluster)
    assert second is not None and second != first
    assert _wait_until(lambda: not pid_alive(second))  # no job for 2 s: it ended by itself
    folder, key = driver_paths(ray_cluster)
    assert not (folder / f"{key}.sock").exists()


def test_a_dead_supervisor_takes_its_hosts_with_it(ray_cluster: str, jobs_home: Path, tmp_path: Path) -> None:
    est = Estimator(str(write_script(tmp_path, "slow.py", SLOW)), backend="ray", ray_address=ray_cluster)
    est.fit(job_name="drv-orphan", wait=False)
    job = est.latest_training_job
    assert job is not None
    wait_for_log(job.job_dir, "started", timeout=120)
    host_pid = int(job.logs()["algo-1"].split("started pid=")[1].split()[0])
    supervisor = json.loads((job.job_dir / "job.json").read_text())["_smdbg"]["supervisor_pid"]
    os.kill(supervisor, signal.SIGKILL)  # the supervisor this test's job started
    assert _wait_until(lambda: not pid_alive(host_pid))  # its session closed: the driver stopped the host


def test_every_node_and_address_is_loopback(ray_cluster: str) -> None:
    from smdbg.platform.jobs._raycluster import alive_nodes, connect

    ray = connect(ray_cluster)
    nodes = alive_nodes(ray)
    assert len(nodes) == 2
    assert {n["NodeManagerAddress"] for n in nodes} == {"127.0.0.1"}
    assert {n["ObjectManagerPort"] > 0 for n in nodes} == {True}
    assert {k for k in ray.cluster_resources() if k.startswith("node:")} == {
        "node:127.0.0.1",
        "node:__internal_head__",
    }
