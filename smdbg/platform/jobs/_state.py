"""Job state on disk: one directory per job under ``<home>/jobs`` holding ``job.json``.

``home`` is the state directory: every function takes it as ``home=`` (a reader such as the
studio passes its own), and None means the settings' default (``$SMDBG_HOME``, else ``~/.smdbg``).

``job.json`` is the job's SageMaker-shaped description plus a private ``_smdbg`` block (kind,
backend, worker pids or container ids, supervisor pid). It is replaced atomically, so a reader in
another process (``smdbg jobs ...``) never sees half a file.

A stop request is a file of its own beside it (``stop-requested``), never a field of ``job.json``:
the supervisor rewrites ``job.json`` as it runs, and a read-modify-write from another process
could lose a field, while a file that exists stays.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

from smdbg._settings import home as smdbg_home
from smdbg.fs import check_path_component, write_atomic
from smdbg.platform.jobs._errors import JobNotFound

__all__ = [
    "smdbg_home",
    "jobs_root",
    "job_dir",
    "make_job_dir",
    "private_file",
    "validate_job_name",
    "new_job_name",
    "read_job",
    "write_job",
    "update_job",
    "list_job_names",
    "request_stop",
    "stop_requested",
    "TERMINAL",
    "iso_now",
]

TERMINAL = ("Completed", "Failed", "Stopped")
_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")


def jobs_root(home: str | os.PathLike[str] | None = None) -> Path:
    """``<home>/jobs``; ``home`` None: the settings' state directory (``$SMDBG_HOME``, else ``~/.smdbg``)."""
    return (smdbg_home() if home is None else Path(home)) / "jobs"


def validate_job_name(name: str) -> str:
    check_path_component(name, "job name", error=ValueError)  # it names the job's folder
    if len(name) > 63 or not _NAME.match(name):
        raise ValueError(
            f"job name {name!r} is not valid: expected 1-63 letters, digits and hyphens, starting and "
            "ending with a letter or digit (e.g. 'pytorch-training-1')"
        )
    return name


def new_job_name(base: str) -> str:
    """``<base>-<UTC timestamp>-<random>``, like the SageMaker SDK's default job names."""
    stem = re.sub(r"[^a-zA-Z0-9-]+", "-", base).strip("-")[:30] or "job"
    return f"{stem}-{time.strftime('%Y-%m-%d-%H-%M-%S', time.gmtime())}-{uuid.uuid4().hex[:4]}"


def job_dir(name: str, home: str | os.PathLike[str] | None = None) -> Path:
    return jobs_root(home) / validate_job_name(name)


def make_job_dir(name: str) -> Path:
    """The job's folder, created owner-only (0700), like the jobs folder above it."""
    directory = job_dir(name)
    for d in (jobs_root(), directory):
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o700)
    return directory


def private_file(path: Path, mode: str = "a") -> Any:
    """``open(path, mode)`` (binary when ``mode`` has ``b``) for a file only its owner can read
    (0600): the job's logs."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC), 0o600)
    return open(fd, mode, encoding=None if "b" in mode else "utf-8")  # noqa: SIM115 - the caller closes it


def iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"


def read_job(name: str, home: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    path = job_dir(name, home) / "job.json"
    try:
        with open(path, encoding="utf-8") as f:
            data: dict[str, Any] = json.load(f)
    except FileNotFoundError:
        raise JobNotFound(
            f"no job named {name!r} under {jobs_root(home)}; list jobs with `smdbg jobs list` "
            "(SMDBG_HOME selects the state directory)"
        ) from None
    return data


def write_job(name: str, data: dict[str, Any], home: str | os.PathLike[str] | None = None) -> None:
    text = json.dumps(data, indent=2, sort_keys=True, default=str)
    write_atomic(job_dir(name, home) / "job.json", text.encode("utf-8"), mode=0o600)


def update_job(name: str, *, home: str | os.PathLike[str] | None = None, **fields: Any) -> dict[str, Any]:
    """Read, merge top-level ``fields`` (``_smdbg`` is merged key by key) and write back."""
    data = read_job(name, home)
    private = fields.pop("_smdbg", None)
    data.update(fields)
    if private:
        data.setdefault("_smdbg", {}).update(private)
    data["LastModifiedTime"] = iso_now()
    write_job(name, data, home)
    return data


def request_stop(name: str, home: str | os.PathLike[str] | None = None) -> None:
    """Record that the job must stop (idempotent); its supervisor honours it whenever it looks,
    before or after its workers started."""
    write_atomic(job_dir(name, home) / "stop-requested", iso_now().encode(), mode=0o600)


def stop_requested(directory: Path) -> bool:
    """Whether a stop was requested for the job whose folder is ``directory``."""
    return (directory / "stop-requested").exists()


def list_job_names(home: str | os.PathLike[str] | None = None) -> list[str]:
    root = jobs_root(home)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "job.json").is_file())
