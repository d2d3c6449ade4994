"""Where the tracker database and artifacts live, and the per-process backend cache.

Database: the ``db_url`` argument, else ``$SMDBG_TRACKER_URL``, else ``sqlite:///~/.smdbg/tracker.db``.
A plain filesystem path is taken as a SQLite file. Artifacts: the ``artifact_location`` argument,
else ``$SMDBG_ARTIFACT_LOCATION``, else ``~/.smdbg/artifacts`` (a local directory or ``s3://`` URL).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from smdbg import _settings
from smdbg._optional import require
from smdbg.tracker._backend import TrackerBackend

__all__ = [
    "ENV_URL",
    "ENV_ARTIFACTS",
    "default_url",
    "resolve_url",
    "resolve_artifact_location",
    "get_backend",
    "close_all",
]

ENV_URL = _settings.TRACKER_URL.name
ENV_ARTIFACTS = _settings.ARTIFACT_LOCATION.name

_lock = threading.Lock()
_backends: dict[tuple[int, str], TrackerBackend] = {}


def default_url() -> str:
    return f"sqlite:///{Path.home() / '.smdbg' / 'tracker.db'}"


def resolve_url(db_url: str | None = None) -> str:
    url = db_url or _settings.TRACKER_URL.get() or default_url()
    if "://" not in url:  # a plain path to a SQLite file
        url = f"sqlite:///{Path(url).expanduser().resolve()}"
    return url


def resolve_artifact_location(location: str | None = None) -> str:
    loc = location or _settings.ARTIFACT_LOCATION.get() or str(Path.home() / ".smdbg" / "artifacts")
    return loc.rstrip("/") if "://" in loc else str(Path(loc).expanduser())


def get_backend(db_url: str | None = None) -> TrackerBackend:
    """The backend for a URL, opened (and migrated) once per process and URL."""
    url = resolve_url(db_url)
    key = (os.getpid(), url)  # never share connections across a fork
    with _lock:
        backend = _backends.get(key)
        if backend is None:
            require("sqlalchemy", extra="tracker", feature="the experiment tracker")
            from smdbg.tracker._sql import SqlBackend

            backend = _backends[key] = SqlBackend(url)
        return backend


def close_all() -> None:
    """Close every backend this process opened (for tests and long-lived services)."""
    with _lock:
        for key, backend in list(_backends.items()):
            if key[0] == os.getpid():
                backend.close()
            del _backends[key]
