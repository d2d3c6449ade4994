"""Merges computed in one child process (:mod:`smdbg.store._merge_worker`), so that they never
hold the training process's GIL (a merge on a thread of it slowed PyTorch training 2.37x:
docs/store_long_runs.md). The compactor keeps planning and publishing in the writer's process.

The child is started lazily, with ``subprocess.Popen([sys.executable, "-m", ...])`` (not
multiprocessing: spawn re-imports the user's ``__main__``, fork is unsafe beside torch's
threads), in its own session (a terminal's Ctrl-C goes to the training script, which closes the
writer). It exits when its stdin closes: at :meth:`MergeProcess.close` or when the parent dies.
A child that dies or cannot be started is restarted once; after that, and after any answer that
does not parse, merges run on the caller's thread (with a warning), as they do for stores
another process cannot open (``memory://``).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import IO, Any

from smdbg import _settings
from smdbg.store._merge import MergeJob, MergeResult

__all__ = ["MergeProcess", "MergeWorkerError", "merge_in_child"]

log = logging.getLogger(__name__)

def merge_in_child() -> bool:
    """``SMDBG_COMPACT_PROCESS`` as a bool (default on); ValueError naming a bad value."""
    return _settings.COMPACT_PROCESS.flag("merge in a child process, the default", "on a thread")


class MergeWorkerError(RuntimeError):
    """The merge worker answered with an error (a merge that failed there would have failed
    on a thread too: a store error, not a worker crash)."""


class _Stopped(Exception):
    """The process was closed while a merge waited for it."""


class MergeProcess:
    """Computes :class:`MergeJob` s of one store in a child; callable as ``Compactor.compute``.
    ``fallback`` computes a job on the calling thread. Only one thread calls it at a time (the
    compactor's); :meth:`close` may come from another."""

    def __init__(
        self, address: tuple[str, dict[str, Any]], fallback: Callable[[MergeJob], MergeResult]
    ) -> None:
        self.url, self.options = address
        self.fallback = fallback
        self.proc: subprocess.Popen[str] | None = None
        self.started = 0  # children started
        self.on_thread = False  # given up on the child: merges run on the caller's thread
        self._failures = 0  # consecutive failures to start or answer
        self._closed = False
        self._busy = False  # a merge waits for the child's answer
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        proc = self.proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def __call__(self, job: MergeJob) -> MergeResult:
        while not self.on_thread:
            try:
                self._busy = True
                result = self._ask(job)
            except (OSError, ValueError, TypeError, EOFError) as e:
                self._kill()
                if self._closed:
                    raise _Stopped from e
                self._failures += 1
                if self._failures < 2:
                    log.warning("smdbg merge worker for %s failed (%s); restarting it", self.url, e)
                    continue
                log.warning(
                    "smdbg merge worker for %s failed twice (%s): merging on a thread of this process from now on",
                    self.url, e,
                )  # fmt: skip
                self.on_thread = True
                break
            finally:
                self._busy = False
            self._failures = 0
            return result
        return self.fallback(job)

    def _start(self) -> subprocess.Popen[str]:
        import smdbg

        root = os.path.dirname(os.path.dirname(os.path.abspath(smdbg.__file__)))
        env = dict(os.environ)  # the child imports this smdbg, whatever sys.path the parent has
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        with self._lock:
            if self._closed:
                raise EOFError("closed")
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "smdbg.store._merge_worker"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, start_new_session=True,
            )  # fmt: skip
            self.started += 1
            return self.proc

    def _ask(self, job: MergeJob) -> MergeResult:
        if self.proc is not None and self.proc.poll() is not None:
            log.warning(
                "smdbg merge worker for %s exited with %s; starting another", self.url, self.proc.returncode
            )
            self._kill()
        proc = self.proc or self._start()
        stdin: IO[str] | None = proc.stdin
        stdout: IO[str] | None = proc.stdout
        assert stdin is not None and stdout is not None
        stdin.write(json.dumps({"url": self.url, "options": self.options, "job": job.to_json()}) + "\n")
        stdin.flush()
        line = stdout.readline()
        if not line:
            raise EOFError(f"the merge worker (pid {proc.pid}) exited with {proc.wait()}")
        reply = json.loads(line)
        if "error" in reply:
            raise MergeWorkerError(
                f"merging {job.group[0]}.. of {self.url} failed in the worker: {reply['error']}"
            )
        return MergeResult.from_json(reply["result"])

    def _kill(self) -> None:
        with self._lock:
            proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        _close_pipes(proc)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the child: its stdin closes, it ends after the merge in progress (killed after
        ``timeout`` s). A merge still waiting for it then raises :class:`_Stopped`. Idempotent."""
        with self._lock:
            self._closed = True
            proc = self.proc
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if not self._busy:  # else the waiting merge reads the end of its output, and closes it
            _close_pipes(proc)


def _close_pipes(proc: subprocess.Popen[str] | None) -> None:
    for pipe in (proc.stdin, proc.stdout) if proc is not None else ():
        try:
            if pipe is not None:
                pipe.close()
        except OSError:
            pass
