"""Shared test fixtures: a real S3 API server (moto) on loopback, and CI skip policy.

Under CI=true a test skipped for a missing framework or service is a failure; only tests marked
``gpu`` may skip there (they run on a lent GPU machine instead).
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# tests/api_sdk runs the SageMaker Python SDK v2, which lives in its own environment
# (scripts/setup_sagemaker_env.sh, .venv-sagemaker); the main run leaves it out, like tests/mxnet.
collect_ignore = [] if importlib.util.find_spec("sagemaker") else ["api_sdk"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout}s")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """Start moto's S3 server on 127.0.0.1 and yield its endpoint URL.

    Also sets AWS_* variables (fake credentials, endpoint) so boto3/s3fs/smdbg talk to it.
    """
    pytest.importorskip("moto")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in _S3_ENV}
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=endpoint,
        AWS_ENDPOINT_URL_S3=endpoint,
    )
    try:
        wait_for_port(port)
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


_S3_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
)


@pytest.fixture
def s3_bucket(s3_server: str) -> str:
    """A fresh, empty bucket on the loopback S3 server; yields its name."""
    import boto3

    name = f"smdbg-test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket=name)
    return name


def _fail_skip_in_ci(report: pytest.TestReport | pytest.CollectReport, gpu: bool) -> None:
    if IN_CI and report.skipped and not gpu:
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true (CI must install and start everything): {report.longrepr}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:  # type: ignore[type-arg]
    """Under CI=true, a skipped test fails, except one marked ``gpu``."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if getattr(report, "wasxfail", None) is None:
        _fail_skip_in_ci(report, item.get_closest_marker("gpu") is not None)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    """Under CI=true, a module skipped at import (importorskip) fails too."""
    outcome = yield
    _fail_skip_in_ci(outcome.get_result(), gpu=False)  # type: ignore[attr-defined]
