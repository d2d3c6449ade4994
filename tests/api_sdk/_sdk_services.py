"""Services for the SageMaker Python SDK v2 tests, which run in .venv-sagemaker
(``.venv-sagemaker/bin/python -m pytest tests/api_sdk``; scripts/setup_sagemaker_env.sh builds it).

The SDK's environment does not hold smdbg: the moto S3 server and ``smdbg api serve`` run as
subprocesses of the main environment's Python (``$SMDBG_MAIN_PYTHON``, default ``.venv/bin/python``),
with this checkout first on their ``PYTHONPATH``, on 127.0.0.1. The SDK is pointed at them the way
a user would: a ``sagemaker.Session`` built on boto3 clients with ``endpoint_url=`` the server, and
S3 on moto through ``AWS_ENDPOINT_URL_S3``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
BUCKET = "smdbg-sdk"
ROLE = "arn:aws:iam::111122223333:role/SageMakerRole"


_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _loopback_only(event: str, args: tuple[Any, ...]) -> None:
    """An audit hook: this process resolves and connects to loopback addresses only (the SDK
    would otherwise reach AWS hosts, e.g. for telemetry or a default bucket)."""
    if event == "socket.getaddrinfo" and args and args[0] not in (*_LOOPBACK, None):
        raise ConnectionRefusedError(f"tests/api_sdk: refused to resolve {args[0]!r}; only 127.0.0.1 is reached")
    if event == "socket.connect" and isinstance(args[1], tuple) and args[1][0] not in _LOOPBACK:
        raise ConnectionRefusedError(f"tests/api_sdk: refused to connect to {args[1]!r}; only 127.0.0.1 is reached")


sys.addaudithook(_loopback_only)


def main_python() -> str:
    return os.environ.get("SMDBG_MAIN_PYTHON") or str(ROOT / ".venv" / "bin" / "python")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{url} did not answer within {timeout}s; log:\n{log.read_text(errors='replace')[-2000:]}")


class Services:
    """The moto S3 server and smdbg's API server, with the environment they share."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.s3_url = f"http://127.0.0.1:{_port()}"
        self.api_url = f"http://127.0.0.1:{_port()}"
        self.env = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL_S3": self.s3_url,
            "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
        }
        self.procs: list[subprocess.Popen[bytes]] = []
        self.base_env: dict[str, str] = {}

    def start(self, name: str, argv: list[str], url: str, env: dict[str, str]) -> None:
        log = self.root / f"{name}.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        _wait(url, proc, log)

    def stop(self) -> None:
        """Delete the endpoints the API server started (smdbg's own delete_endpoint, in the main
        environment, by the server's registry), then stop the two servers."""
        if (self.root / "home" / "endpoints").is_dir():
            code = ("from smdbg.platform.serving import delete_endpoint, list_endpoints\n"
                    "for e in list_endpoints(): delete_endpoint(e['name'])")  # fmt: skip
            env = {**self.base_env, "SMDBG_HOME": str(self.root / "home")}
            subprocess.run([main_python(), "-c", code], env=env, timeout=120, check=False)
        for proc in reversed(self.procs):
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def log_tail(self) -> str:
        return (self.root / "api.log").read_text(errors="replace")[-3000:]


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    py = main_python()
    if not Path(py).exists():
        raise RuntimeError(f"the main environment's Python {py} is missing: run scripts/install.sh first")
    svc = Services(tmp_path_factory.mktemp("sdk"))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMDBG_", "PYTHON"))}
    base.update(svc.env, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    svc.base_env = base
    saved = {k: os.environ.get(k) for k in svc.env}
    try:
        svc.start("moto", [py, "-m", "moto.server", "-H", "127.0.0.1", "-p", svc.s3_url.rsplit(":", 1)[1]],
                  svc.s3_url, base)  # fmt: skip
        api_env = {**base, "SMDBG_HOME": str(svc.root / "home"),
                   "SMDBG_TRACKER_URL": f"sqlite:///{svc.root / 'tracker.db'}"}  # fmt: skip
        svc.env["SMDBG_TRACKER_URL"] = api_env["SMDBG_TRACKER_URL"]
        svc.start("api", [py, "-m", "smdbg.platform.api.cli", "serve", "--port", svc.api_url.rsplit(":", 1)[1],
                          "--root", str(svc.root / "api")], f"{svc.api_url}/ping", api_env)  # fmt: skip
        os.environ.update({k: v for k, v in svc.env.items() if k.startswith(("AWS_", "SAGEMAKER_"))})
        import boto3

        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        yield svc
    finally:
        svc.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="session")
def session(services: Services) -> Any:
    """A ``sagemaker.Session`` whose SageMaker and runtime clients talk to smdbg's API server."""
    import boto3
    import sagemaker
    from botocore.config import Config

    boto_session = boto3.Session(region_name=REGION)
    config = Config(retries={"max_attempts": 1})
    return sagemaker.Session(
        boto_session=boto_session,
        sagemaker_client=boto_session.client("sagemaker", endpoint_url=services.api_url, config=config),
        sagemaker_runtime_client=boto_session.client("sagemaker-runtime", endpoint_url=services.api_url,
                                                     config=config),  # fmt: skip
        default_bucket=BUCKET,
        # the SDK reports usage to an AWS host unless told not to: nothing leaves 127.0.0.1
        sagemaker_config={"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}},
    )


def run_main(services: Services, code: str) -> str:
    """Run ``code`` in the main environment (smdbg importable) with the API server's tracker
    database and S3; returns its stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(services.env, PYTHONPATH=str(ROOT))
    done = subprocess.run([main_python(), "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout
