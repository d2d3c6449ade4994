"""Request overhead of the SageMaker-compatible control plane (``smdbg api serve``).

Starts the server on 127.0.0.1 in a subprocess (a fresh root), creates one model and one
experiment, then times, per call, the same Describe done three ways:

* **in-process**: the handler alone (state lookup + output serialisation), no HTTP;
* **raw HTTP**: one keep-alive ``http.client`` POST of the JSON 1.1 request to the server;
* **boto3**: the real ``boto3.client("sagemaker")`` call (its serialiser, signer and parser too).

The control plane's overhead is raw HTTP minus in-process (the HTTP hop, botocore validation,
dispatch); the boto3 row adds the client's own cost. Target: overhead p50 <= 5 ms.

    python benchmarks/api_bench.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _times(fn: Callable[[], object], calls: int) -> np.ndarray:
    for _ in range(min(50, calls)):  # warm up connections and caches
        fn()
    out = np.empty(calls)
    for i in range(calls):
        t = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - t
    return out * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    import boto3
    from botocore.config import Config

    work = Path(tempfile.mkdtemp(prefix="api-bench-"))
    (work / "model").mkdir()
    (work / "model" / "model.joblib").write_bytes(b"placeholder: never loaded")
    port = _port()
    env = {**os.environ, "SMDBG_HOME": str(work / "home"), "SMDBG_TRACKER_URL": f"sqlite:///{work / 'tracker.db'}",
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "smdbg.platform.api.cli", "serve", "--port", str(port),
                             "--root", str(work / "api")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/ping", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.1)
        sm = boto3.client("sagemaker", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="y", config=Config(retries={"max_attempts": 1}))  # fmt: skip
        sm.create_model(ModelName="bench", PrimaryContainer={"ModelDataUrl": str(work / "model")})
        sm.create_experiment(ExperimentName="bench")

        # in-process: the same handlers over the same state file (opened read-side here)
        os.environ["SMDBG_TRACKER_URL"] = env["SMDBG_TRACKER_URL"]
        from smdbg.platform.api import _protocol as proto
        from smdbg.platform.api._registry import OPERATIONS
        from smdbg.platform.api._server import make_context

        ctx = make_context(work / "api")

        def raw(op: str, body: dict[str, str]) -> Callable[[], object]:
            data = json.dumps(body).encode()
            headers = {"X-Amz-Target": f"SageMaker.{op}", "Content-Type": "application/x-amz-json-1.1"}
            conn = http.client.HTTPConnection("127.0.0.1", port)  # keep-alive, opened right before timing

            def call() -> object:
                conn.request("POST", "/", body=data, headers=headers)
                resp = conn.getresponse()
                return resp.read()

            return call

        def local(op: str, body: dict[str, str]) -> Callable[[], object]:
            model = proto.operation_model(op)
            return lambda: proto.serialise_output(model, OPERATIONS[op](ctx, body))

        rows = []
        for op, body, client_call in (
            ("DescribeModel", {"ModelName": "bench"}, lambda: sm.describe_model(ModelName="bench")),
            ("DescribeExperiment", {"ExperimentName": "bench"}, lambda: sm.describe_experiment(ExperimentName="bench")),
        ):  # fmt: skip
            base = _times(local(op, body), args.calls)
            http_t = _times(raw(op, body), args.calls)
            boto_t = _times(client_call, args.calls)
            for label, t in (("in-process", base), ("raw HTTP", http_t), ("boto3", boto_t)):
                rows.append(
                    (
                        op,
                        label,
                        np.percentile(t, 50),
                        np.percentile(t, 99),
                        np.percentile(t, 50) / np.percentile(base, 50),
                    )
                )
            rows.append((op, "overhead (raw HTTP - in-process)", np.percentile(http_t, 50) - np.percentile(base, 50),
                         np.percentile(http_t, 99) - np.percentile(base, 99), float("nan")))  # fmt: skip
        print(f"{args.calls} calls each; times in ms\n")
        print("| operation | path | p50 ms | p99 ms | p50 / in-process |\n|---|---|---|---|---|")
        for op, label, p50, p99, ratio in rows:
            print(f"| {op} | {label} | {p50:.3f} | {p99:.3f} | {'-' if ratio != ratio else f'{ratio:.1f}'} |")
    finally:
        proc.terminate()
        proc.wait(timeout=15)


if __name__ == "__main__":
    main()
