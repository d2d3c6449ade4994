"""Helpers for the endpoint abuse tests: a model on disk, raw HTTP over a socket, fixtures.

pytest loads only ``conftest.py`` files by itself; the test modules import this one.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

N_FEATURES = 4


def sklearn_model_dir(directory: Path) -> Path:
    """A fitted LogisticRegression saved as ``model.joblib`` in ``directory``."""
    import joblib
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, N_FEATURES))
    directory.mkdir(parents=True, exist_ok=True)
    joblib.dump(LogisticRegression().fit(X, X[:, 0] > 0), directory / "model.joblib")
    return directory


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def raw_exchange(port: int, head: bytes, body: bytes = b"", timeout: float = 60.0) -> tuple[int, bytes]:
    """Send ``head`` (and ``body``) on a fresh connection; read until the server closes or a
    whole response arrived. Returns (status, raw response); status 0 when nothing came back."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head + body)
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
            if _complete(data):
                break
    if not data.startswith(b"HTTP/1.1 "):
        return 0, data
    return int(data[9:12]), data


def _complete(data: bytes) -> bool:
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(rest) >= int(value.strip())
    return False


def request_head(path: str, length: int | None, content_type: str = "text/csv", extra: str = "") -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {content_type}"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


@pytest.fixture
def endpoint_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private SMDBG_HOME; endpoints still registered at the end are deleted."""
    home = tmp_path / "smdbg-home"
    monkeypatch.setenv("SMDBG_HOME", str(home))
    yield home
    from smdbg.platform.serving import delete_endpoint, list_endpoints

    for ep in list_endpoints():
        delete_endpoint(ep["name"])
