"""Endpoint throughput and latency with data capture off and at 100%, measured in the same run.

Two endpoints serve the same scikit-learn model on 127.0.0.1, one without capture and one that
captures every request. A load generator (threads, each with a keep-alive http.client
connection) sends headerless CSV rows; rounds alternate between the endpoints so both see the
same machine conditions. Prints requests/s, p50 and p99 latency, and the p50 ratio.

    .venv/bin/python benchmarks/serving_bench.py [--seconds 3] [--rounds 3] [--threads 4]

``--abuse`` measures instead how an endpoint holds up under one client sending 50 MB requests
back to back while ``--threads`` (default 8) clients send normal one-row requests and one more
probes ``GET /ping``: p99 of both, unloaded and under abuse, for the default body limit (the
50 MB requests get 413) and for a limit raised to 64 MB (they are read, parsed and scored).
See benchmarks/_serving_abuse.py.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import threading
import time
from pathlib import Path

import numpy as np


def _load(port: int, body: bytes, seconds: float, threads: int) -> tuple[int, list[float]]:
    latencies: list[list[float]] = [[] for _ in range(threads)]
    stop = time.monotonic() + seconds

    def worker(out: list[float]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Content-Type": "text/csv", "Accept": "text/csv"}
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            conn.request("POST", "/invocations", body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            out.append(time.perf_counter() - t0)
            assert resp.status == 200
        conn.close()

    pool = [threading.Thread(target=worker, args=(lat,)) for lat in latencies]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    flat = [x for lat in latencies for x in lat]
    return len(flat), flat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per round per endpoint")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="client threads (4; 8 with --abuse)")
    parser.add_argument("--abuse", action="store_true", help="one 50 MB client against normal traffic")
    parser.add_argument("--big-mb", type=float, default=50.0, help="size of the abusive request (--abuse)")
    args = parser.parse_args()
    if args.abuse:
        from _serving_abuse import run_abuse

        run_abuse(args.seconds, args.rounds, args.threads or 8, args.big_mb)
        return
    args.threads = args.threads or 4

    from _serving_abuse import bench_model

    from smdbg.platform.serving import DataCaptureConfig

    model, body = bench_model("smdbg-serving-bench-")
    work = Path(os.environ["SMDBG_HOME"]).parent
    off = model.deploy(endpoint_name="bench-off")
    on = model.deploy(
        endpoint_name="bench-on",
        data_capture_config=DataCaptureConfig(
            sampling_percentage=100, destination_s3_uri=str(work / "capture")
        ),
    )
    ports = {"off": int(off.url.rsplit(":", 1)[1]), "on": int(on.url.rsplit(":", 1)[1])}
    results: dict[str, dict[str, list[float]]] = {k: {"n": [], "lat": []} for k in ports}
    try:
        for port in ports.values():  # warm up
            _load(port, body, 0.5, args.threads)
        for r in range(args.rounds):
            order = ["off", "on"] if r % 2 == 0 else ["on", "off"]
            for key in order:
                n, lat = _load(ports[key], body, args.seconds, args.threads)
                results[key]["n"].append(n / args.seconds)
                results[key]["lat"].extend(lat)
        captured = on.capture_stats()
    finally:
        off.delete_endpoint()
        on.delete_endpoint()

    rows = []
    for key, label in (("off", "capture off"), ("on", "capture 100%")):
        lat = np.array(results[key]["lat"]) * 1000
        rows.append(
            (label, statistics.mean(results[key]["n"]), np.percentile(lat, 50), np.percentile(lat, 99))
        )
    print(
        f"serving benchmark: {args.threads} client threads, {args.rounds} interleaved rounds of {args.seconds}s, 127.0.0.1"
    )
    print(f"{'config':<14} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for label, rps, p50, p99 in rows:
        print(f"{label:<14} {rps:>9.0f} {p50:>8.3f} {p99:>8.3f}")
    ratio = rows[1][2] / rows[0][2]
    print(f"p50 ratio (capture 100% / off): {ratio:.3f}  (target <= 1.05)")
    print(
        f"captured records written: {captured['written']}, dropped: {captured['dropped']}, errors: {captured['errors']}"
    )


if __name__ == "__main__":
    main()
