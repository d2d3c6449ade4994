"""``serving_bench.py --abuse``: an endpoint under one 50 MB client plus normal traffic.

Each round runs a window of normal traffic alone ("unloaded") and a window with the abusive
client too ("abuse"), on the same endpoint, so both see the same machine. Normal clients send one
CSV row per request over keep-alive connections; a probe thread sends ``GET /ping`` every 10 ms;
the abusive client sends a 50 MB CSV body over a raw socket (reading an early answer, as a
careful HTTP client does) and starts the next as soon as one is answered.
"""

from __future__ import annotations

import http.client
import os
import select
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["run_abuse", "bench_model"]


def bench_model(prefix: str) -> tuple[Any, bytes]:
    """A fitted LogisticRegression on 8 features as a :class:`Model` under a fresh SMDBG_HOME
    (set for this process), and one CSV row of features."""
    import warnings

    import joblib
    from sklearn.linear_model import LogisticRegression

    from smdbg.platform.serving import CodeExecutionWarning, Model

    work = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["SMDBG_HOME"] = str(work / "home")
    X = np.random.default_rng(0).normal(size=(1000, 8))
    (work / "model").mkdir()
    joblib.dump(LogisticRegression().fit(X, X[:, 0] > 0), work / "model" / "model.joblib")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CodeExecutionWarning)
        model = Model(str(work / "model"))
    return model, ",".join(f"{v:.6f}" for v in X[0]).encode()


def _normal(port: int, body: bytes, stop: threading.Event, out: list[float], errors: list[int]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Content-Type": "text/csv", "Accept": "text/csv"}
    while not stop.is_set():
        t0 = time.perf_counter()
        conn.request("POST", "/invocations", body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        out.append(time.perf_counter() - t0)
        if resp.status != 200:
            errors.append(resp.status)
    conn.close()


def _ping(port: int, stop: threading.Event, out: list[float]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    while not stop.is_set():
        t0 = time.perf_counter()
        conn.request("GET", "/ping")
        resp = conn.getresponse()
        resp.read()
        out.append(time.perf_counter() - t0)
        stop.wait(0.01)
    conn.close()


def _read_response(sock: socket.socket) -> int:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(1 << 16)
        if not chunk:
            return 0
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(
        (int(v) for k, _, v in (line.partition(b":") for line in head.split(b"\r\n")[1:]) if k.strip().lower() == b"content-length"),
        0,
    )  # fmt: skip
    while len(rest) < length:
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        rest += chunk
    return int(head[9:12])


def _big_request(port: int, body: bytes) -> int:
    """Send one big request; stop sending as soon as the server answers. Returns the status."""
    head = (
        f"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\nAccept: text/csv\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=300) as sock:
        sock.sendall(head)
        view = memoryview(body)
        sent = 0
        try:
            while sent < len(body):
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:  # an early answer (413): stop sending
                    break
                sent += sock.send(view[sent : sent + (1 << 20)])
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            return _read_response(sock)
        except ConnectionResetError:
            return -1


def _abuser(port: int, body: bytes, stop: threading.Event, statuses: list[tuple[int, float]]) -> None:
    while not stop.is_set():
        t0 = time.perf_counter()
        statuses.append((_big_request(port, body), time.perf_counter() - t0))


def _window(port: int, row: bytes, big: bytes | None, seconds: float, threads: int) -> dict[str, Any]:
    stop = threading.Event()
    lat: list[list[float]] = [[] for _ in range(threads)]
    errors: list[int] = []
    pings: list[float] = []
    statuses: list[tuple[int, float]] = []
    pool = [threading.Thread(target=_normal, args=(port, row, stop, out, errors)) for out in lat]
    pool.append(threading.Thread(target=_ping, args=(port, stop, pings)))
    if big is not None:
        pool.append(threading.Thread(target=_abuser, args=(port, big, stop, statuses)))
    for t in pool:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in pool:
        t.join()
    return {"lat": [x for out in lat for x in out], "ping": pings, "errors": errors, "big": statuses}


def run_abuse(seconds: float, rounds: int, threads: int, big_mb: float) -> None:
    model, row = bench_model("smdbg-serving-abuse-")
    from smdbg.platform.serving import EndpointLimits

    line = row + b"\n"
    big = line * int(big_mb * 1024 * 1024 / len(line))
    configs = [
        ("default limit (6 MB)", EndpointLimits()),
        ("limit 64 MB", EndpointLimits(max_body_bytes=64 * 1024 * 1024)),
    ]
    print(
        f"serving abuse benchmark: {threads} normal client threads + 1 /ping probe + 1 client sending "
        f"{len(big) / 2**20:.0f} MB CSV bodies back to back; {rounds} rounds of {seconds}s per window, 127.0.0.1"
    )
    print(
        f"{'endpoint':<22} {'window':<9} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'ping p99':>9} "
        f"{'p99 ratio':>9} {'big requests (status: count, mean s)':<36}"
    )
    for label, limits in configs:
        predictor = model.deploy(endpoint_name=f"abuse-{len(label)}", limits=limits)
        port = int(predictor.url.rsplit(":", 1)[1])
        try:
            _window(port, row, None, 0.5, threads)  # warm up
            res: dict[str, dict[str, list[Any]]] = {
                w: {"lat": [], "ping": [], "errors": [], "big": [], "n": []} for w in ("unloaded", "abuse")
            }
            for r in range(rounds):
                order = ["unloaded", "abuse"] if r % 2 == 0 else ["abuse", "unloaded"]
                for w in order:
                    got = _window(port, row, big if w == "abuse" else None, seconds, threads)
                    for k in ("lat", "ping", "errors", "big"):
                        res[w][k].extend(got[k])
                    res[w]["n"].append(len(got["lat"]) / seconds)
        finally:
            predictor.delete_endpoint()
        base_p99 = float(np.percentile(np.array(res["unloaded"]["lat"]) * 1000, 99))
        for w in ("unloaded", "abuse"):
            lat = np.array(res[w]["lat"]) * 1000
            ping = np.array(res[w]["ping"]) * 1000
            p99 = float(np.percentile(lat, 99))
            bigs: dict[int, list[float]] = {}
            for status, secs in res[w]["big"]:
                bigs.setdefault(status, []).append(secs)
            big_txt = ", ".join(f"{s}: {len(v)}, {np.mean(v):.2f}" for s, v in sorted(bigs.items())) or "-"
            print(
                f"{label:<22} {w:<9} {np.mean(res[w]['n']):>7.0f} {np.percentile(lat, 50):>8.2f} {p99:>8.2f} "
                f"{np.percentile(ping, 99):>9.2f} {p99 / base_p99:>9.2f} {big_txt:<36}"
            )
            if res[w]["errors"]:
                print(f"  normal requests answered with errors: {sorted(set(res[w]['errors']))}")
    print("targets: /ping p99 <= 50 ms; normal p99 under abuse <= 2x unloaded")
