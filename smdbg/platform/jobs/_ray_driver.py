"""The long-lived Ray driver: one process per cluster address that jobs hand their hosts to.

``python -m smdbg.platform.jobs._ray_driver ADDRESS FOLDER KEY`` (started by
:func:`._ray_link.open_link`; ADDRESS empty for a Ray instance of its own) forks once (the child is
the driver; the starter's process exits at once), joins the cluster, fills its
:class:`~._ray_pool.ActorPool`, and listens on ``FOLDER/KEY.sock``. Each connection is one job's
:class:`~._ray_session.RaySession`; each request runs in a thread of its own (a host's ``read``
waits for lines while another host is stopped). When a connection closes, its session's hosts
are stopped and its placement group removed, so a supervisor that dies leaves nothing running.

It exits after ``SMDBG_RAY_DRIVER_IDLE_S`` seconds (300) without a session, on ``shutdown``, on
SIGTERM, or when the cluster goes away; its actors go with it (Ray ends a driver's actors).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from smdbg import _settings
from smdbg.platform.jobs._backend import WorkerSpec
from smdbg.platform.jobs._errors import RayClusterError
from smdbg.platform.jobs._ray_link import send
from smdbg.platform.jobs._raycluster import probe

__all__ = ["Driver", "main"]

_HEALTH_S = 5.0
#: the requests a session answers (each a :class:`~._ray_session.RaySession` method)
OPS = frozenset({"hello", "configure", "check", "start_group", "start_sidecar", "read", "finish", "stop", "close"})


class Driver:
    """The sessions of one driver process, and when it may end."""

    def __init__(self, ray: Any, address: str | None, idle_s: float) -> None:
        from smdbg.platform.jobs._ray_pool import ActorPool

        self.ray, self.address, self.idle_s = ray, address, idle_s
        self.pool = ActorPool(ray)
        self.done = threading.Event()
        self.lost = False  # the cluster went away: nothing to release there
        self._sessions = 0
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def serve(self, conn: socket.socket) -> None:
        """One connection: requests until it closes, then the session's leftovers are stopped."""
        from smdbg.platform.jobs._ray_session import RaySession

        with self._lock:
            self._sessions += 1
        session = RaySession(self.ray, self.pool)
        send_lock = threading.Lock()
        try:
            for raw in conn.makefile("rb"):
                request = json.loads(raw)
                if request["op"] == "shutdown":
                    send(conn, send_lock, {"id": request["id"], "ok": None})
                    self.done.set()
                    break
                threading.Thread(
                    target=self._answer, args=(conn, send_lock, session, request), daemon=True
                ).start()
        except (OSError, ValueError):
            pass
        finally:
            try:
                session.close()
            finally:
                conn.close()
                with self._lock:
                    self._sessions -= 1
                    self._last = time.monotonic()

    def _answer(
        self, conn: socket.socket, lock: threading.Lock, session: Any, request: dict[str, Any]
    ) -> None:
        args = request.get("args", {})
        if "specs" in args:
            args = {**args, "specs": [WorkerSpec.from_spec(s) for s in args["specs"]]}
        try:
            if request["op"] not in OPS:
                raise ValueError(f"op {request['op']!r}: expected one of {', '.join(sorted(OPS))}")
            result = getattr(session, request["op"])(**args)
            reply = {"id": request["id"], "ok": result}
        except Exception as e:  # the caller raises it as RayClusterError with this message
            cause = getattr(e, "cause", None) or e
            reply = {"id": request["id"], "error": str(cause)}
        try:
            send(conn, lock, reply)
        except OSError:
            pass

    def watch(self) -> None:
        """Set :attr:`done` when idle too long or when the cluster stops answering."""
        while not self.done.wait(_HEALTH_S):
            with self._lock:
                idle = self._sessions == 0 and time.monotonic() - self._last > self.idle_s
            if idle:
                self.done.set()
            if self.address is not None:
                try:  # Ray's own client would retry for a minute or hang; the GCS port answers or not
                    probe(self.address)
                except RayClusterError:
                    self.lost = True
                    self.done.set()


def _listen(folder: Path, key: str) -> socket.socket:
    """Listen on a temporary name, then rename it into place: a socket that exists accepts."""
    final, temp = folder / f"{key}.sock", folder / f"{key}.{os.getpid()}.sock"
    temp.unlink(missing_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(temp))
    os.chmod(temp, 0o600)
    server.listen(64)
    os.replace(temp, final)
    return server


def run(address: str | None, folder: Path, key: str) -> int:
    from smdbg.platform.jobs._raycluster import connect

    pid_temp = folder / f"{key}.{os.getpid()}.pid"
    pid_temp.write_text(str(os.getpid()))
    os.replace(pid_temp, folder / f"{key}.pid")  # whole or absent: a starter reads it while we run
    print(f"[smdbg] Ray driver {os.getpid()} joining {address or 'a local instance'}", flush=True)
    ray = connect(address)
    print(f"[smdbg] Ray driver {os.getpid()} joined", flush=True)
    driver = Driver(ray, address, float(_settings.RAY_DRIVER_IDLE_S.get() or 300))
    signal.signal(signal.SIGTERM, lambda *_: driver.done.set())
    driver.pool.fill()
    server = _listen(folder, key)
    server.settimeout(0.5)
    threading.Thread(target=driver.watch, name="watch", daemon=True).start()
    print(f"[smdbg] Ray driver {os.getpid()} listening", flush=True)
    try:
        while not driver.done.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conn.settimeout(None)
            threading.Thread(target=driver.serve, args=(conn,), daemon=True).start()
    finally:
        pid_file = folder / f"{key}.pid"
        if pid_file.exists() and pid_file.read_text() == str(os.getpid()):  # not a successor's
            (folder / f"{key}.sock").unlink(missing_ok=True)
            pid_file.unlink(missing_ok=True)
        server.close()
        if not driver.lost:
            driver.pool.drain()
            ray.shutdown()
    return 0


def main(argv: list[str]) -> int:
    address, folder, key = (argv[0] or None), Path(argv[1]), argv[2]
    if os.fork() > 0:  # the starter waits for this process only; the driver is its orphan child
        return 0
    try:
        return run(address, folder, key)
    except BaseException:
        traceback.print_exc()
        return 1


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    os._exit(code)
