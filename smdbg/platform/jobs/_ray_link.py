"""The way to the long-lived Ray driver of a cluster address (:mod:`._ray_driver`); no Ray import.

A job's supervisor (and the user's process, for :meth:`RayBackend.check`) does not join the
cluster itself: joining costs seconds (``import ray``, ``ray.init``) every time. One driver
process per cluster address (and per interpreter and smdbg tree, so that two checkouts never
share one) stays joined and keeps warm host actors; callers reach it over a Unix socket in a
private folder of this user's temporary directory (``smdbg-ray-<uid>/<key>.sock``).

:func:`open_link` connects, and starts the driver when none answers: under a file lock (two
supervisors never start two), a socket nobody listens on is removed and a new driver is started,
detached; the caller waits until it listens, or fails with the last lines of its log. A driver that
died is thus replaced by the next job.

The protocol is one JSON object per line each way: ``{"id", "op", "args"}`` asks, ``{"id", "ok"}``
or ``{"id", "error"}`` answers, in any order (requests run concurrently in the driver). One
connection is one job's session: when it closes (the supervisor ended or died) the driver stops
what the session still runs and removes its placement group.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from smdbg._proc import pid_alive
from smdbg.platform.jobs._errors import RayClusterError

__all__ = ["DriverLink", "open_link", "stop_driver", "driver_paths", "send", "START_TIMEOUT_S"]

START_TIMEOUT_S = 180.0
HELLO_TIMEOUT_S = 30.0


def driver_paths(address: str | None) -> tuple[Path, str]:
    """The folder of this user's drivers and the key (file stem) of ``address``'s driver."""
    tree = str(Path(__file__).resolve().parents[2])
    key = hashlib.sha256(f"{address or 'local'}\0{sys.executable}\0{tree}".encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"smdbg-ray-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder, key


def send(sock: socket.socket, lock: threading.Lock, message: dict[str, Any]) -> None:
    data = (json.dumps(message) + "\n").encode()
    with lock:
        sock.sendall(data)


class DriverLink:
    """One session with the driver; :meth:`call` may be used from several threads at once."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._send_lock = threading.Lock()
        self._lock = threading.Lock()
        self._waiting: dict[int, tuple[threading.Event, list[Any]]] = {}
        self._next = 0
        self._lost: str | None = None
        threading.Thread(target=self._receive, name="ray-link", daemon=True).start()

    def _receive(self) -> None:
        reason = "the Ray driver closed the connection"
        try:
            for raw in self._sock.makefile("rb"):
                reply = json.loads(raw)
                with self._lock:
                    event, box = self._waiting.pop(reply["id"], (None, []))
                if event is not None:
                    box.append(reply)
                    event.set()
        except (OSError, ValueError) as e:
            reason = f"the connection to the Ray driver broke: {e}"
        with self._lock:
            self._lost = reason
            waiting, self._waiting = self._waiting, {}
        for event, _box in waiting.values():
            event.set()

    def call(self, op: str, /, answer_within_s: float | None = None, **args: Any) -> Any:
        """Run ``op`` with ``args`` in the driver; its result, or :class:`RayClusterError` with the
        driver's message (also when no answer came within ``answer_within_s``)."""
        event, box = threading.Event(), []  # type: ignore[var-annotated]
        with self._lock:
            if self._lost is not None:
                raise RayClusterError(self._lost)
            self._next += 1
            ident = self._next
            self._waiting[ident] = (event, box)
        try:
            send(self._sock, self._send_lock, {"id": ident, "op": op, "args": args})
        except OSError as e:
            raise RayClusterError(f"the connection to the Ray driver broke: {e}") from None
        if not event.wait(answer_within_s):
            raise RayClusterError(f"the Ray driver did not answer {op!r} within {answer_within_s:g} s")
        if not box:
            raise RayClusterError(self._lost or "the Ray driver went away")
        if "error" in box[0]:
            raise RayClusterError(box[0]["error"])
        return box[0].get("ok")

    def close(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()


def _connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        return None
    return sock


def _read_pid(pid_file: Path) -> int | None:
    """The driver's pid from its pid file; ``None`` while there is none (or it is being written)."""
    try:
        text = pid_file.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _start(folder: Path, key: str, address: str | None) -> None:
    """Start the driver, detached, and wait until it listens."""
    sock_path, log, pid_file = (folder / f"{key}{ext}" for ext in (".sock", ".log", ".pid"))
    sock_path.unlink(missing_ok=True)
    pid_file.unlink(missing_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "smdbg.platform.jobs._ray_driver", address or "", str(folder), key],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    proc.wait()  # it forks the driver and exits at once
    deadline = time.monotonic() + START_TIMEOUT_S
    exited = proc.returncode != 0
    while not exited and time.monotonic() < deadline:
        if sock_path.exists():
            return
        pid = _read_pid(pid_file)
        exited = pid is not None and not pid_alive(pid)
        time.sleep(0.05)
    pid = _read_pid(pid_file)
    if pid and pid_alive(pid):  # the driver started here, stuck: it must not linger
        os.kill(pid, signal.SIGKILL)
    tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
    where = "a local instance" if address is None else repr(address)
    how = "it exited" if exited else f"no socket within {START_TIMEOUT_S:g} s"
    raise RayClusterError(
        f"the Ray driver for {where} did not start ({how}; log {log}): " + (" | ".join(tail) or "no output")
    )


def _hello(sock: socket.socket | None) -> DriverLink | None:
    """A session over ``sock`` if a driver answers there (one that is dying may still accept)."""
    if sock is None:
        return None
    link = DriverLink(sock)
    try:
        link.call("hello", answer_within_s=HELLO_TIMEOUT_S)
    except RayClusterError:
        link.close()
        return None
    return link


def open_link(address: str | None) -> DriverLink:
    """A session with ``address``'s driver, started first when none answers."""
    folder, key = driver_paths(address)
    sock_path = folder / f"{key}.sock"
    link = _hello(_connect(sock_path))
    if link is None:
        with open(folder / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            link = _hello(_connect(sock_path))  # another process may have started it meanwhile
            if link is None:
                _start(folder, key, address)
                link = _hello(_connect(sock_path))
    if link is None:
        raise RayClusterError(f"the Ray driver at {sock_path} does not answer")
    return link


def stop_driver(address: str | None) -> None:
    """Ask ``address``'s driver (of this interpreter and tree) to stop, if one runs; wait for it."""
    folder, key = driver_paths(address)
    sock = _connect(folder / f"{key}.sock")
    if sock is None:
        return
    link = DriverLink(sock)
    pid = _read_pid(folder / f"{key}.pid")
    try:
        link.call("shutdown")
    except RayClusterError:
        pass
    link.close()
    deadline = time.monotonic() + 30
    while pid and pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
