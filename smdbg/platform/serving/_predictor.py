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
    extract_dir,
    list_records,
    load_record,
    remove_record,
)

__all__ = ["Predictor", "delete_endpoint", "list_endpoints", "endpoint_status"]

# Server processes this Python process started, so that deleting one also reaps it.
_CHILDREN: dict[str, subprocess.Popen[bytes]] = {}


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


def endpoint_status(record: EndpointRecord) -> str:
    """``InService`` when the server process is alive, else ``Stopped``."""
    return "InService" if pid_alive(record.pid, record.pid_start) else "Stopped"


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
                "framework": rec.framework,
                "model_data": rec.model_data,
                "capture": capture.get("destination_s3_uri") if capture.get("enable_capture") else None,
                "created": rec.created,
            }
        )
    return out


def _wait_gone(name: str, pid: int, start: int | None, timeout: float) -> bool:
    child = _CHILDREN.pop(name, None)
    if child is not None:
        try:
            child.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid, start):
            return True
        time.sleep(0.05)
    return False


def delete_endpoint(name: str, timeout: float = 30.0) -> None:
    """Stop the endpoint's server (SIGTERM: in-flight requests finish, capture is flushed) and
    remove its record and its extracted model. A server that does not stop within ``timeout``
    seconds is killed. Capture records spilled to disk and not yet published stay in
    ``$SMDBG_HOME/endpoints/<name>.spill`` for the next endpoint of that name."""
    record = load_record(name)
    try:
        _stop_server(name, record, timeout)
    finally:
        remove_record(name)
        shutil.rmtree(extract_dir(name), ignore_errors=True)


def _stop_server(name: str, record: EndpointRecord, timeout: float) -> None:
    pid = record.pid
    if pid and pid_alive(pid, record.pid_start):
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        if not _wait_gone(name, pid, record.pid_start, timeout):
            os.killpg(pid, signal.SIGKILL)
            _wait_gone(name, pid, record.pid_start, 5.0)
            raise EndpointError(
                f"endpoint {name!r} (pid {pid}) did not stop within {timeout}s and was killed; "
                "capture records still buffered in it may be lost"
            )
    else:
        _CHILDREN.pop(name, None)


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
        """The capture writer's counters: submitted, written, dropped, pending, last_error, ..."""
        status, _, body = self._request("GET", "/capture/stats", None, {})
        if status != 200:
            raise InvocationError(status, body.decode(errors="replace"))
        result: dict[str, Any] = json.loads(body)
        return result

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
