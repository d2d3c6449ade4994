"""The one process-liveness helper, on real processes: alive, zombie, reaped, reused pid."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from smdbg._proc import pid_alive, start_time

LINUX = os.path.isdir("/proc")


def _wait_until(cond: object, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while not cond() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.02)


def test_running_child_is_alive_and_keeps_its_start_time() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert pid_alive(proc.pid)
        started = start_time(proc.pid)
        if LINUX:
            assert started is not None
            assert pid_alive(proc.pid, started)
            assert not pid_alive(proc.pid, started + 1)  # another process at a reused pid
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.skipif(not LINUX, reason="zombies are seen through /proc")
def test_zombie_is_dead_and_reaped_is_dead() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    # Not reaped yet: the exited child stays a zombie until wait().
    _wait_until(lambda: start_time(proc.pid) is None)
    assert start_time(proc.pid) is None
    assert not pid_alive(proc.pid)
    proc.wait()
    assert not pid_alive(proc.pid)


def test_no_pid_is_dead_and_never_probed() -> None:
    assert not pid_alive(None)
    assert not pid_alive(0)  # os.kill(0, ...) would signal our own process group
    assert not pid_alive(-1)


def test_this_process_and_init_are_alive() -> None:
    assert pid_alive(os.getpid())
    assert pid_alive(1)  # another user's process (unless root): permission denied means alive
