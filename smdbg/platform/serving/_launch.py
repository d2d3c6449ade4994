"""Starting an endpoint's instances: N server processes behind the endpoint's one port.

The deploying process binds every socket itself and hands them to the instances it starts:

* the endpoint's address: N listening sockets on one 127.0.0.1 port, each with ``SO_REUSEPORT``;
  instance ``k`` gets socket ``k``. Linux spreads new connections over the sockets of the group
  by a hash of each connection's addresses, so every instance gets a share whatever its load;
* one private listening socket per instance (a port of its own), on which ``/ping`` and
  ``/capture/stats`` reach that instance and no other (deploy waits for each one there).

Binding in the deploying process, not in each instance, means the port is chosen once by the
kernel (no window between choosing a free port and binding it, no retry) and the group holds
only our sockets. The deploying process closes its copies once an instance holds them, so when
an instance exits its socket leaves the group and new connections go to the others.
"""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import time
from pathlib import Path

from smdbg.platform.jobs._instances import InstanceType, limit_prefix
from smdbg.platform.serving._errors import EndpointError
from smdbg.platform.serving._state import EndpointRecord, save_record

__all__ = ["MAX_INSTANCES", "check_instance_count", "Instances"]

#: the most server processes one endpoint runs (each holds the model in memory)
MAX_INSTANCES = 32


def check_instance_count(value: object, field: str = "initial_instance_count") -> int:
    """``value`` when it is an int from 1 to :data:`MAX_INSTANCES`, else a ``ValueError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_INSTANCES:
        raise ValueError(
            f"{field}={value!r} is not valid: expected an int from 1 to {MAX_INSTANCES} "
            "(the number of server processes behind the endpoint)"
        )
    return value


def _listener(port: int, shared: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if shared and hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    return sock


def _answers_ping(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/ping")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _tail(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")[-2000:].strip()
    except OSError:
        return ""


class Instances:
    """The server processes of one endpoint while :meth:`start` and :meth:`wait_ready` run."""

    def __init__(self, record: EndpointRecord, instance: InstanceType, count: int) -> None:
        if count > 1 and not sys.platform.startswith("linux"):
            raise EndpointError(
                f"initial_instance_count={count}: several instances behind one port need Linux's "
                "SO_REUSEPORT load balancing; pass 1 on this platform"
            )
        self.record = record
        self.instance = instance
        self.count = count
        self.procs: list[subprocess.Popen[bytes]] = []

    def log_path(self, k: int) -> str:
        return self.record.log_path if k == 0 else self.record.log_path[: -len(".log")] + f".{k}.log"

    def start(self, record_path: Path) -> None:
        """Bind the sockets, start every instance with its two, record their pids."""
        shared = [_listener(0, shared=True)]
        own: list[socket.socket] = []
        try:
            port = int(shared[0].getsockname()[1])
            shared += [_listener(port, shared=True) for _ in range(self.count - 1)]
            own = [_listener(0, shared=False) for _ in range(self.count)]
            self.record.port = port
            self.record.instance_count = self.count
            self.record.instances = [
                {"port": int(s.getsockname()[1]), "log_path": self.log_path(k)} for k, s in enumerate(own)
            ]
            save_record(self.record)
            for k in range(self.count):
                fds = (shared[k].fileno(), own[k].fileno())
                with open(self.log_path(k), "ab") as log:
                    self.procs.append(
                        subprocess.Popen(
                            [
                                *limit_prefix(self.instance, offset=k),
                                sys.executable,
                                "-m",
                                "smdbg.platform.serving._server",
                                "--record",
                                str(record_path),
                                "--instance",
                                str(k),
                                "--fds",
                                f"{fds[0]},{fds[1]}",
                            ],
                            stdin=subprocess.DEVNULL,
                            stdout=log,
                            stderr=subprocess.STDOUT,
                            start_new_session=True,
                            pass_fds=fds,
                        )
                    )
                shared[k].close()  # the instance holds it now: when it exits, it leaves the group
                own[k].close()
        finally:
            for sock in (*shared, *own):
                sock.close()
            self._save_pids()

    def _save_pids(self) -> None:
        from smdbg._proc import start_time

        for k, proc in enumerate(self.procs):
            self.record.instances[k].update(pid=proc.pid, pid_start=start_time(proc.pid))
        if self.procs:
            self.record.pid, self.record.pid_start = self.procs[0].pid, self.record.instances[0]["pid_start"]
        save_record(self.record)

    def wait_ready(self, timeout: float) -> str | None:
        """None once every instance answers ``/ping`` on its own port, else why not (the failing
        instance's log tail, or the ones that did not answer in time)."""
        waiting = set(range(self.count))
        deadline = time.monotonic() + timeout
        while waiting and time.monotonic() < deadline:
            for k in sorted(waiting):
                if self.procs[k].poll() is not None:
                    return f"instance {k} of {self.count} exited; its log:\n{_tail(self.log_path(k))}"
                if _answers_ping(int(self.record.instances[k]["port"])):
                    waiting.discard(k)
            if waiting:
                time.sleep(0.05)
        if waiting:
            return f"instance(s) {sorted(waiting)} of {self.count} did not answer /ping within {timeout}s"
        return None
