"""Fixtures and helpers for the platform jobs tests (imported by test_jobs*, test_processing*, test_docker*)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def jobs_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private SMDBG_HOME and tracker database for one test."""
    home = tmp_path / "home"
    monkeypatch.setenv("SMDBG_HOME", str(home))
    monkeypatch.setenv("SMDBG_TRACKER_URL", f"sqlite:///{tmp_path / 'tracker.db'}")
    return home


def write_script(directory: Path, name: str, body: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent(body).lstrip())
    return path


def jobs_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``smdbg jobs ...`` in another process."""
    return subprocess.run(
        [sys.executable, "-m", "smdbg.platform.jobs.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def wait_for_log(job_dir: Path, text: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for log in (job_dir / "logs").glob("*.log"):
            if text in log.read_text(errors="replace"):
                return
        time.sleep(0.1)
    raise TimeoutError(f"{text!r} not in the logs of {job_dir} within {timeout}s")


def _docker_ok() -> bool:
    try:
        import docker

        docker.from_env(timeout=10).images.get("smdbg-base:bookworm")
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[str]:
    """A running Docker engine with smdbg's base image (scripts/setup_docker.sh starts/builds them)."""
    if not _docker_ok():
        subprocess.run(["bash", str(ROOT / "scripts" / "setup_docker.sh")], check=True, timeout=1200)
    assert _docker_ok(), "scripts/setup_docker.sh ran but no Docker engine with smdbg-base:bookworm answers"
    yield "smdbg-base:bookworm"
