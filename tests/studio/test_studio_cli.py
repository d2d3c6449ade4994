"""``smdbg studio`` serves until interrupted, over the database it is given; with a token from
``SMDBG_STUDIO_TOKEN`` it requires the token (the tests bind loopback only: that a non-loopback
host without a token is refused is in tests/test_cli_bad_input.py)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(300)


def start(args: list[str], db_url: str, tmp_path: Path, **env: str) -> tuple[subprocess.Popen[str], str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "SMDBG_HOME": str(tmp_path / "home"), **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "smdbg.cli", "studio", "--port", "0", "--db-url", db_url, *args],
        stderr=subprocess.PIPE, text=True, env=full_env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.stderr is not None
    line = proc.stderr.readline()
    match = re.search(r"serving on (\S+)", line)
    if not match:
        proc.kill()
        raise AssertionError(f"no URL in {line!r}")
    return proc, match.group(1)


def stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_cli_serves_until_interrupted(db_url: str, tmp_path: Path) -> None:
    proc, url = start([], db_url, tmp_path)
    try:
        assert url.startswith("http://127.0.0.1:")
        r = httpx.get(url, follow_redirects=True)
        assert r.status_code == 200 and "MNIST" in r.text
    finally:
        code = stop(proc)
    assert code == 0


def test_cli_token_from_the_environment(db_url: str, tmp_path: Path) -> None:
    proc, url = start([], db_url, tmp_path, SMDBG_STUDIO_TOKEN="tok-123")
    try:
        assert url.endswith("/?token=tok-123")
        base = url.split("/?")[0]
        assert httpx.get(base + "/experiments").status_code == 401
        r = httpx.get(base + "/experiments", headers={"Authorization": "Bearer tok-123"})
        assert r.status_code == 200 and "MNIST" in r.text
    finally:
        stop(proc)
