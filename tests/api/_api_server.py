"""Starting and stopping ``smdbg api serve`` for the tests (used by conftest.py and by tests that
need a server of their own)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any


def _loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Until ``GET /ping`` answers (True), the process exits or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            time.sleep(0.1)
    return False


class ApiServer:
    """A running control plane: its URL, root and environment, and clients for it."""

    def __init__(self, url: str, root: Path, env: dict[str, str], proc: subprocess.Popen[bytes]) -> None:
        self.url, self.root, self.env, self.proc = url, root, env, proc

    def client(self, service: str = "sagemaker", **kwargs: Any) -> Any:
        import boto3
        from botocore.config import Config

        kwargs.setdefault("config", Config(retries={"max_attempts": 1}))
        return boto3.client(service, endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id="x", aws_secret_access_key="y", **kwargs)  # fmt: skip


def start_api_server(
    root: Path, extra_args: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> ApiServer:
    """Start ``python -m smdbg.platform.api.cli serve`` on a free loopback port; its state (jobs,
    endpoints, tracker) all under ``root``."""
    port = _loopback_port()
    full_env = {**os.environ, "SMDBG_HOME": str(root / "home"),
                "SMDBG_TRACKER_URL": f"sqlite:///{root / 'tracker.db'}", **(env or {})}  # fmt: skip
    log = open(root / "server.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smdbg.platform.api.cli",
            "serve",
            "--port",
            str(port),
            "--root",
            str(root / "api"),
            *extra_args,
        ],  # fmt: skip
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    if not _wait_ready(url, proc, 60):
        proc.kill()
        proc.wait()
        raise RuntimeError(f"smdbg api serve did not start: {(root / 'server.log').read_text()[-2000:]}")
    return ApiServer(url, root, full_env, proc)


def stop_api_server(server: ApiServer) -> None:
    """Stop the server and every endpoint it started (by the registry under its SMDBG_HOME)."""
    server.proc.terminate()
    try:
        server.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()
    endpoints = server.root / "home" / "endpoints"
    for record in endpoints.glob("*.json") if endpoints.is_dir() else ():
        try:
            pid = json.loads(record.read_text()).get("pid")
            if pid:
                os.killpg(pid, signal.SIGTERM)
        except (OSError, ValueError):
            pass
