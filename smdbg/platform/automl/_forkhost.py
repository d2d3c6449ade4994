"""A fork host: a clean helper process that forks one child per candidate training.

Why not ``multiprocessing``: forking the caller directly can hang once its OpenMP runtime has run
(any HistGradientBoosting fit), and the forkserver/spawn methods re-import the caller's main
script in every child. The host is started once (``python -m smdbg.platform.automl._forkhost``),
imports scikit-learn and pandas but never trains, and is single-threaded, so forking it is safe
and cheap. The caller sends ``(task_id, task, result_path)``; the host forks a child that runs
:func:`._worker.train_task` and pickles ``("ok", result)`` or ``("error", message)`` to
``result_path``; the host reports ``("started", task_id, pid)`` and ``("exit", pid, status)``.
The caller enforces time limits and stops by sending ``("kill", pid)``: the host kills only a
child of its own that it has not reaped yet, so a pid reused by another process is never hit.
"""

from __future__ import annotations

import math
import os
import pickle
import select
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from ._cancel import CancelScope
from ._worker import CandidateFailure, TrainTask, train_task

__all__ = ["ForkHost", "host", "run_task"]


# -- the host process --------------------------------------------------------------------------
def _child(task: Any, result_path: str) -> None:
    try:
        payload: tuple[str, Any] = ("ok", train_task(task))
    except BaseException as e:  # reported to the caller, which records the candidate as Failed
        payload = ("error", traceback.format_exception_only(type(e), e)[-1].strip())
    tmp = result_path + ".tmp"
    with open(tmp, "wb") as f:
        pickle.dump(payload, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, result_path)


def _serve(read_fd: int, write_fd: int) -> None:
    import sklearn.pipeline  # noqa: F401  (imported once here, shared by every forked child)

    inbox, outbox = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    running: set[int] = set()
    while True:
        ready, _, _ = select.select([inbox], [], [], 0.02)
        if ready:
            try:
                message = inbox.recv()
            except EOFError:
                message = None
            if message is None:
                break
            if len(message) == 2:  # ("kill", pid)
                if message[1] in running:
                    os.kill(message[1], signal.SIGKILL)
                continue
            task_id, task, result_path = message
            pid = os.fork()
            if pid == 0:
                code = 0
                try:
                    signal.signal(signal.SIGTERM, signal.SIG_DFL)
                    _child(task, result_path)
                except BaseException:
                    code = 1
                finally:
                    os._exit(code)
            running.add(pid)
            outbox.send(("started", task_id, pid))
        for pid in list(running):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                running.discard(pid)
                outbox.send(("exit", pid, os.waitstatus_to_exitcode(status)))
    for pid in running:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


# -- the caller's side -------------------------------------------------------------------------
@dataclass
class _Pending:
    started: threading.Event = field(default_factory=threading.Event)
    exited: threading.Event = field(default_factory=threading.Event)
    pid: int = 0
    exit_code: int | None = None


class ForkHost:
    """The caller's handle on a host process. Thread safe: several tasks may run at once."""

    def __init__(self) -> None:
        to_host_r, to_host_w = os.pipe()
        from_host_r, from_host_w = os.pipe()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", __name__, str(to_host_r), str(from_host_w)],
            pass_fds=(to_host_r, from_host_w),
            env=env,
        )
        os.close(to_host_r)
        os.close(from_host_w)
        self._outbox = Connection(to_host_w, readable=False)
        self._inbox = Connection(from_host_r, writable=False)
        self._lock = threading.Lock()
        self._tasks: dict[int, _Pending] = {}
        self._by_pid: dict[int, _Pending] = {}
        self._next = 0
        self._dir = tempfile.mkdtemp(prefix="smdbg-automl-")
        self._reader = threading.Thread(target=self._read, name="automl-forkhost", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                kind, a, b = self._inbox.recv()
            except (EOFError, OSError):
                break
            with self._lock:
                if kind == "started":
                    pending = self._tasks.pop(a)
                    pending.pid = b
                    self._by_pid[b] = pending
                    pending.started.set()
                else:
                    pending = self._by_pid.pop(a)
                    pending.exit_code = b
                    pending.exited.set()
        with self._lock:  # the host is gone: nothing will report any more
            for pending in list(self._tasks.values()) + list(self._by_pid.values()):
                pending.started.set()
                pending.exited.set()

    def alive(self) -> bool:
        return self.proc.poll() is None and self._reader.is_alive()

    def _kill(self, pid: int) -> None:
        with self._lock:
            try:
                self._outbox.send(("kill", pid))
            except OSError:  # the host is gone, and its children with it
                pass

    def run(self, task: Any, timeout: float, cancel: CancelScope | None = None) -> tuple[str, Any]:
        """Run ``task`` in a forked child; ``("ok", result)``, ``("error", msg)``, ``("timeout", s)``,
        ``("died", code)`` or, once ``cancel`` is cancelled, ``("stopped", reason)`` (a cancelled
        scope starts no child; one running is killed)."""
        if cancel is not None and cancel.cancelled():
            return ("stopped", cancel.reason)
        pending = _Pending()
        with self._lock:
            self._next += 1
            task_id = self._next
            self._tasks[task_id] = pending
            result_path = os.path.join(self._dir, f"{task_id}.pkl")
            self._outbox.send((task_id, task, result_path))
        pending.started.wait()
        token = None
        if cancel is not None and pending.pid:
            cancel.record_pid(pending.pid)
            token = cancel.hold(lambda: self._kill(pending.pid))
        wait_s = None if math.isinf(timeout) else max(timeout, 0.0)
        timed_out = not pending.exited.wait(wait_s)
        if timed_out and pending.pid:
            self._kill(pending.pid)
            pending.exited.wait(30)
        if cancel is not None and token is not None:
            cancel.release(token)
        try:
            if timed_out:
                return ("timeout", timeout)
            with open(result_path, "rb") as f:
                return pickle.load(f)  # type: ignore[no-any-return]
        except FileNotFoundError:
            if cancel is not None and cancel.cancelled():
                return ("stopped", cancel.reason)
            return ("died", pending.exit_code)
        finally:
            for path in (result_path, result_path + ".tmp"):
                if os.path.exists(path):
                    os.remove(path)

    def close(self) -> None:
        try:
            self._outbox.send(None)
            self._outbox.close()
        except OSError:
            pass
        self.proc.wait(30)


_HOST: list[ForkHost] = []
_HOST_LOCK = threading.Lock()


def host() -> ForkHost:
    """This process's fork host, started on first use (and again if it died)."""
    with _HOST_LOCK:
        if not _HOST or not _HOST[0].alive():
            _HOST[:] = [ForkHost()]
        return _HOST[0]


def run_task(task: TrainTask, timeout: float, cancel: CancelScope | None = None) -> dict[str, Any]:
    """Run ``task`` in a child of the fork host; raise :class:`CandidateFailure` on error, after
    ``timeout`` s, or when ``cancel`` is cancelled (then with ``stopped=True``)."""
    status, payload = host().run(task, timeout, cancel)
    if status == "ok":
        return dict(payload)
    if status == "stopped":
        raise CandidateFailure(f"stopped before it finished: {payload}", stopped=True)
    if status == "timeout":
        raise CandidateFailure(
            f"training ran past its time limit of {timeout:.3g} s and was stopped", timed_out=True
        )
    if status == "died":
        raise CandidateFailure(f"the training process died (exit code {payload})")
    raise CandidateFailure(str(payload))


if __name__ == "__main__":
    _serve(int(sys.argv[1]), int(sys.argv[2]))
