"""The client side of an endpoint: :class:`Predictor`, and listing/deleting endpoints by name."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from typing import Any

import numpy as np

from smdbg._proc import pid_alive
from smdbg.platform.serving._codec import CSV, JSON, base_type
from smdbg.platform.serving._errors import EndpointError, InvocationError
from smdbg.platform.serving._limits import EndpointLimits
from smdbg.platform.serving._state import (
    EndpointRecord,
    extract_dirs,
    list_records,
    load_record,
    remove_record,
)

__all__ = ["Predictor", "delete_endpoint", "list_endpoints", "endpoint_status", "alive_instances"]

# Server processes (one per instance) this Python process started, so that deleting one reaps them.
_CHILDREN: dict[str, list[subprocess.Popen[bytes]]] = {}


def _serialize(data: Any, content_type: str) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode()
    if base_type(content_type) == JSON:
        if hasattr(data, "tolist"):
            data = data.tolist()
        return json.dumps(data).encode()
    if hasattr(data, "to_csv"):
        return str(data.to_csv(header=False, index=False)).encode()
    arr = np.asarray(data, dtype=object)
    rows = arr.reshape(1, -1) if arr.ndim <= 1 else arr
    return "\n".join(",".join(str(v) for v in row) for row in rows.tolist()).encode()


def _deserialize(body: bytes, content_type: str) -> Any:
    kind = base_type(content_type)
    if kind == JSON:
        return json.loads(body)
    if kind == CSV:
        rows = [line.split(",") for line in body.decode().splitlines() if line]
        try:
            arr = np.asarray(rows, dtype=np.float64)
        except ValueError:
            arr = np.asarray(rows, dtype=object)
        return arr[:, 0] if arr.ndim == 2 and arr.shape[1] == 1 else arr
    return body


def alive_instances(record: EndpointRecord) -> int:
    """How many of the endpoint's instances (server processes) are running."""
    return sum(pid_alive(pid, start) for pid, start in record.processes())


def endpoint_status(record: EndpointRecord) -> str:
    """``InService`` when every instance's server process is alive, ``Degraded`` when some are,
    else ``Stopped``."""
    alive = alive_instances(record)
    return "Stopped" if not alive else "InService" if alive >= record.instance_count else "Degraded"


def list_endpoints(home: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Every registered endpoint with its status, url and capture destination; ``home``: the
    state directory holding ``endpoints/`` (None: ``$SMDBG_HOME``, else ``~/.smdbg``)."""
    out = []
    for rec in list_records(home):
        capture = rec.capture or {}
        out.append(
            {
                "name": rec.name,
                "status": endpoint_status(rec),
                "url": rec.url,
                "pid": rec.pid,
                "instances": f"{alive_instances(rec)}/{rec.instance_count}",
                "pids": [pid for pid, _ in rec.processes()],
                "framework": rec.framework,
                "model_data": rec.model_data,
                "capture": capture.get("destination_s3_uri") if capture.get("enable_capture") else None,
                "created": rec.created,
            }
        )
    return out


def _wait_gone(
    procs: list[tuple[int, int | None]], children: list[subprocess.Popen[bytes]], deadline: float
) -> list[int]:
    """The pids of ``procs`` still running at ``deadline`` (our own children are reaped)."""
    mine = {c.pid: c for c in children}
    left = []
    for pid, start in procs:
        child = mine.get(pid)
        if child is not None:
            try:
                child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                left.append(pid)
            continue
        while pid_alive(pid, start) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(pid, start):
            left.append(pid)
    return left


def _signal(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            pass


def delete_endpoint(name: str, timeout: float = 30.0) -> None:
    """Stop every instance of the endpoint (SIGTERM to all at once: in-flight requests finish,
    each flushes its capture) and remove its record and its extracted model. An instance that
    does not stop within ``timeout`` seconds is killed. Capture records spilled to disk and not
    yet published stay in ``$SMDBG_HOME/endpoints/<name>.spill[.<k>]`` for the next endpoint of
    that name."""
    record = load_record(name)
    try:
        _stop_server(name, record, timeout)
    finally:
        remove_record(name)
        for path in extract_dirs(name):
            shutil.rmtree(path, ignore_errors=True)


def _stop_server(name: str, record: EndpointRecord, timeout: float) -> None:
    children = _CHILDREN.pop(name, [])
    procs = [(pid, start) for pid, start in record.processes() if pid_alive(pid, start)]
    _signal([pid for pid, _ in procs], signal.SIGTERM)
    left = _wait_gone(procs, children, time.monotonic() + timeout)
    for child in children:  # reap the instances that had exited before (no zombies left)
        child.poll()
    if left:
        _signal(left, signal.SIGKILL)
        _wait_gone([p for p in procs if p[0] in left], children, time.monotonic() + 5.0)
        raise EndpointError(
            f"endpoint {name!r} (pids {left}) did not stop within {timeout}s and was killed; "
            "capture records still buffered in it may be lost"
        )


class Predictor:
    """Sends requests to a running endpoint (by name), over keep-alive HTTP connections.

    ``content_type`` decides how :meth:`predict` serialises lists/arrays/DataFrames (CSV rows or a
    JSON list); bytes and str are sent as they are. ``accept`` is the response type asked for
    (default: the request's). CSV responses come back as a numpy array, JSON ones parsed.
    """

    def __init__(
        self, endpoint_name: str, content_type: str = CSV, accept: str | None = None, timeout: float = 60.0
    ) -> None:
        self.endpoint_name = endpoint_name
        self.content_type = content_type
        self.accept = accept
        self.timeout = timeout
        self._record = load_record(endpoint_name)
        self.limits = EndpointLimits.from_dict(self._record.limits)
        self._local = threading.local()

    @property
    def url(self) -> str:
        return self._record.url

    def _conn(self, fresh: bool = False) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", self._record.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, str, bytes]:
        for attempt in (0, 1):
            conn = self._conn(fresh=attempt == 1)
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                return resp.status, resp.getheader("content-type", ""), resp.read()
            except (ConnectionError, http.client.HTTPException) as e:
                if attempt == 1:
                    raise EndpointError(
                        f"endpoint {self.endpoint_name!r} at {self.url} did not answer ({e}); "
                        f"is it running? see `smdbg endpoints list`"
                    ) from e
        raise AssertionError("unreachable")  # pragma: no cover

    def predict(
        self, data: Any, initial_args: dict[str, str] | None = None, inference_id: str | None = None
    ) -> Any:
        args = dict(initial_args or {})
        content_type = args.get("ContentType", self.content_type)
        headers = {"Content-Type": content_type, "Accept": args.get("Accept", self.accept or content_type)}
        if inference_id:
            headers["X-Amzn-SageMaker-Inference-Id"] = inference_id
        payload = _serialize(data, content_type)
        if len(payload) > self.limits.max_body_bytes:  # the server would answer 413 and close
            raise InvocationError(
                413,
                f"request body of {len(payload)} bytes is larger than endpoint {self.endpoint_name!r}'s limit "
                f"of {self.limits.max_body_bytes} bytes; send smaller batches",
            )
        status, ctype, body = self._request("POST", "/invocations", payload, headers)
        if status != 200:
            raise InvocationError(status, body.decode(errors="replace"))
        return _deserialize(body, ctype)

    def ping(self) -> bool:
        try:
            return self._request("GET", "/ping", None, {})[0] == 200
        except EndpointError:
            return False

    def capture_stats(self) -> dict[str, Any]:
        """The capture writers' counters (submitted, written, dropped, pending, ...) summed over
        the instances, the first ``last_error``, and each instance's own under ``instances``."""
        per = []
        for k, inst in enumerate(self._record.instances or [{"port": self._record.port}]):
            conn = http.client.HTTPConnection("127.0.0.1", int(inst["port"]), timeout=self.timeout)
            try:
                conn.request("GET", "/capture/stats")
                resp = conn.getresponse()
                status, body = resp.status, resp.read()
            except (ConnectionError, http.client.HTTPException) as e:
                raise EndpointError(
                    f"instance {k} of endpoint {self.endpoint_name!r} did not answer ({e})"
                ) from e
            finally:
                conn.close()
            if status != 200:
                raise InvocationError(status, body.decode(errors="replace"))
            per.append(json.loads(body))
        total: dict[str, Any] = dict(per[0])
        for stats in per[1:]:
            for key, value in stats.items():
                if isinstance(value, int) and not isinstance(value, bool):
                    total[key] = total.get(key, 0) + value
                elif key == "last_error" and not total.get(key):
                    total[key] = value
        total["instances"] = per
        return total

    @property
    def capture_uri(self) -> str | None:
        """Where this endpoint's capture files go (``{destination}/{endpoint}``), or None."""
        cap = self._record.capture
        if not cap or not cap.get("enable_capture"):
            return None
        return f"{str(cap['destination_s3_uri']).rstrip('/')}/{self.endpoint_name}"

    def delete_endpoint(self, timeout: float = 30.0) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        delete_endpoint(self.endpoint_name, timeout)

    def __repr__(self) -> str:
        return f"Predictor(endpoint_name={self.endpoint_name!r}, url={self.url!r})"
