"""Launching a job (a detached supervisor process) and the live handle on it.

The front ends (:class:`Estimator`, :class:`Processor`) build a ``spec.json``; :func:`launch`
writes it, starts ``python -m smdbg.platform.jobs._supervisor`` and writes the first ``job.json``
(which names the supervisor's pid from the start). Everything else reads ``job.json``, so it works
the same from another process.

Stopping is a request, not a signal: :func:`stop_job` records it (:func:`._state.request_stop`)
and the supervisor, which looks for it before it starts the workers and while they run, ends the
job ``Stopped``. So a stop that comes while the supervisor is still starting cannot kill it half
way (which would end the job ``Failed``), and a worker that was about to start never starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from smdbg._proc import pid_alive
from smdbg.fs import write_atomic
from smdbg.platform.jobs._env import split_secrets
from smdbg.platform.jobs._errors import JobError, JobFailedError
from smdbg.platform.jobs._state import (
    TERMINAL,
    iso_now,
    job_dir,
    list_job_names,
    make_job_dir,
    private_file,
    read_job,
    request_stop,
    stop_requested,
    update_job,
    write_job,
)

__all__ = ["Job", "launch", "describe_job", "list_jobs", "stop_job", "job_logs", "job_status"]


def job_status(desc: dict[str, Any]) -> str:
    return str(desc.get("TrainingJobStatus") or desc.get("ProcessingJobStatus") or "Unknown")


def _public(desc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in desc.items() if not k.startswith("_")}


def describe_job(name: str, home: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The job's SageMaker-shaped description (a frozen record); ``Stopping`` from the moment a
    stop is requested until the job has ended. ``home``: the state directory holding ``jobs/``
    (None: ``$SMDBG_HOME``, else ``~/.smdbg``), as for every function here."""
    desc = read_job(name, home)
    _reap_orphan(name, desc, home)
    desc = _public(read_job(name, home))
    if job_status(desc) not in TERMINAL and stop_requested(job_dir(name, home)):
        key = "TrainingJobStatus" if "TrainingJobStatus" in desc else "ProcessingJobStatus"
        desc.update({key: "Stopping", "SecondaryStatus": "Stopping"})
    return desc


def list_jobs(home: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    rows = []
    for name in list_job_names(home):
        try:
            d = read_job(name, home)
        except (OSError, ValueError):
            continue
        rows.append(
            {
                "name": name,
                "kind": d.get("_smdbg", {}).get("kind"),
                "status": job_status(d),
                "backend": d.get("_smdbg", {}).get("backend"),
                "created": d.get("CreationTime"),
                "failure_reason": (d.get("FailureReason") or "").splitlines()[0]
                if d.get("FailureReason")
                else None,
            }
        )
    return sorted(rows, key=lambda r: str(r["created"]))


def _reap_orphan(name: str, desc: dict[str, Any], home: str | os.PathLike[str] | None = None) -> None:
    """A job whose supervisor died without a final status is marked Failed (said so)."""
    if job_status(desc) in TERMINAL:
        return
    if not pid_alive(desc.get("_smdbg", {}).get("supervisor_pid")):
        time.sleep(0.2)  # it may just have written its final status
        desc = read_job(name, home)
        if job_status(desc) in TERMINAL:
            return
        key = (
            "TrainingJobStatus" if desc.get("_smdbg", {}).get("kind") == "training" else "ProcessingJobStatus"
        )
        update_job(
            name,
            home=home,
            **{key: "Failed", "SecondaryStatus": "Failed"},
            FailureReason=f"InternalError: the job supervisor ended without a status; see {job_dir(name, home)}/supervisor.log",
        )


def stop_job(
    name: str, wait: bool = True, timeout: float = 60.0, home: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """Ask a job to stop; returns its description (``Stopping`` until it has ended, then ``Stopped``).

    The request is recorded first; the supervisor honours it whenever it comes: before the
    workers start (they never start) or while they run (they are stopped, SIGTERM then SIGKILL
    after ``stop_grace_s``). If the supervisor is gone, the workers it recorded are stopped here
    and the job is marked Stopped. A job that has ended is left as it is. With ``wait``, blocks
    until the job has ended (up to ``timeout`` s)."""
    desc = read_job(name, home)
    if job_status(desc) in TERMINAL:
        return _public(desc)
    request_stop(name, home)
    if not pid_alive(desc.get("_smdbg", {}).get("supervisor_pid")):
        desc = read_job(name, home)  # read after it died: its final status, if it wrote one
        if job_status(desc) not in TERMINAL:  # no supervisor: stop what it left, record it ourselves
            from smdbg.platform.jobs._supervisor import make_backend

            private = desc.get("_smdbg", {})
            backend = make_backend(private.get("backend", "local"), private.get("image"))
            for ident in private.get("workers", {}).values():
                backend.kill(ident)
            key = "TrainingJobStatus" if private.get("kind") == "training" else "ProcessingJobStatus"
            update_job(name, home=home, **{key: "Stopped", "SecondaryStatus": "Stopped"})
    if wait:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and job_status(describe_job(name, home)) not in TERMINAL:
            time.sleep(0.1)
    return describe_job(name, home)


def job_logs(name: str, home: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Each worker's log so far, by host."""
    read_job(name, home)  # raises JobNotFound
    logs = job_dir(name, home) / "logs"
    return (
        {p.stem: p.read_text(errors="replace") for p in sorted(logs.glob("*.log"))} if logs.is_dir() else {}
    )


def launch(spec: dict[str, Any], description: dict[str, Any]) -> None:
    """Write the spec (secrets redacted) and the first description, then start the supervisor
    (detached) and hand it the secrets through its stdin."""
    name = spec["name"]
    directory = job_dir(name)
    if (directory / "job.json").exists():
        raise JobError(f"a job named {name!r} already exists under {directory.parent}; pick another job_name")
    make_job_dir(name)
    secrets = split_secrets(spec["workers"], spec.get("rules", []))
    spec["secrets_on_stdin"] = True
    write_atomic(directory / "spec.json", json.dumps(spec, indent=2, default=str).encode(), mode=0o600)
    status_key = "TrainingJobStatus" if spec["kind"] == "training" else "ProcessingJobStatus"
    now = iso_now()
    description.update(
        {
            status_key: "InProgress",
            "SecondaryStatus": "Starting",
            "CreationTime": now,
            "LastModifiedTime": now,
        }
    )
    # The supervisor waits for its secrets on stdin before it touches job.json, so job.json is
    # written once, already naming the supervisor: no reader ever sees a job without its pid.
    with private_file(directory / "supervisor.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "smdbg.platform.jobs._supervise", str(directory)],
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    description["_smdbg"] = {"kind": spec["kind"], "backend": spec["backend"], "image": spec.get("image"),
                             "supervisor_pid": proc.pid}  # fmt: skip
    assert proc.stdin is not None
    try:
        write_job(name, description)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    try:  # through a pipe, never a file: the secrets exist only in memory
        proc.stdin.write(json.dumps(secrets).encode())
        proc.stdin.close()
    except BrokenPipeError:  # the supervisor died at once; it is reaped as an orphan with its log
        pass
    _CHILDREN.append(proc)  # reaped in wait(); a detached job outlives this process


_CHILDREN: list[subprocess.Popen[bytes]] = []


class Job:
    """A live handle on one job (training or processing) by name; ``home``: the state directory
    holding ``jobs/`` (None: ``$SMDBG_HOME``, else ``~/.smdbg``)."""

    def __init__(self, job_name: str, home: str | os.PathLike[str] | None = None) -> None:
        self.job_name = job_name
        self.home = home

    def __repr__(self) -> str:
        return f"{type(self).__name__}(job_name={self.job_name!r})"

    @property
    def name(self) -> str:
        return self.job_name

    @property
    def job_dir(self) -> Path:
        return job_dir(self.job_name, self.home)

    def describe(self) -> dict[str, Any]:
        return describe_job(self.job_name, self.home)

    def status(self) -> str:
        return job_status(self.describe())

    def stop(self, wait: bool = True) -> dict[str, Any]:
        return stop_job(self.job_name, wait=wait, home=self.home)

    def logs(self) -> dict[str, str]:
        return job_logs(self.job_name, self.home)

    def wait(
        self, logs: bool = True, timeout: float | None = None, out: TextIO | None = None
    ) -> dict[str, Any]:
        """Block until the job ends (printing its log when ``logs``); raise JobFailedError if Failed."""
        stream = out or sys.stdout
        deadline = None if timeout is None else time.monotonic() + timeout
        offsets: dict[Path, int] = {}
        while True:
            desc = self.describe()
            if logs:
                self._print_new(offsets, stream)
            if job_status(desc) in TERMINAL:
                if logs:
                    self._print_new(offsets, stream)
                break
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {self.job_name!r} still {job_status(desc)} after {timeout}s")
            time.sleep(0.1)
        for proc in list(_CHILDREN):
            if proc.poll() is not None:
                _CHILDREN.remove(proc)
        if job_status(desc) == "Failed":
            raise JobFailedError(f"job {self.job_name!r} failed: {desc.get('FailureReason')}", desc)
        return desc

    def _print_new(self, offsets: dict[Path, int], stream: TextIO) -> None:
        logs = sorted((self.job_dir / "logs").glob("*.log"))
        many = len(logs) > 1
        for path in logs:
            with open(path, "rb") as f:
                f.seek(offsets.get(path, 0))
                data = f.read()
            end = data.rfind(b"\n") + 1
            if not end:
                continue
            offsets[path] = offsets.get(path, 0) + end
            for line in data[:end].decode("utf-8", "replace").splitlines():
                stream.write(f"{path.stem} | {line}\n" if many else line + "\n")
        stream.flush()
