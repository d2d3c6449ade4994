"""Every environment variable smdbg reads, with its default and meaning, read here and only here.

Each setting is a :class:`Setting`; call sites ask it for its value (``S3_ENDPOINT.get()``) at
the moment they need it, so a variable changed while the process runs takes effect on the next
call, as it did when each module read ``os.environ`` itself. A variable set to the empty string
counts as unset. smdbg never writes ``os.environ``; it only hands an environment of its own
making to the child processes it starts (jobs, endpoints), which is not reading a setting.

=============================  ========================================================
``SMDBG_HOME``                 state directory of jobs and endpoints (``~/.smdbg``)
``SMDBG_TRACKER_URL``          tracker database URL (``sqlite:///~/.smdbg/tracker.db``)
``SMDBG_ARTIFACT_LOCATION``    where tracker artifacts go (``~/.smdbg/artifacts``)
``SMDBG_TRIAL_COMPONENT_NAME`` the trial component ``Tracker.load()`` opens (set by jobs)
``SMDBG_CONFIG_FILE_PATH``     JSON hook config (also smdebug's ``SMDEBUG_CONFIG_FILE_PATH``)
``SMDBG_JOBS_BACKEND``         ``local``, ``docker`` or ``ray`` for jobs without an image (``local``)
``SMDBG_RAY_ADDRESS``          the Ray cluster ``backend="ray"`` jobs and AutoML run on (``host:port``)
``SMDBG_RAY_DRIVER_IDLE_S``    seconds the Ray backend's long-lived driver waits for a job (300)
``SMDBG_JOBS_ENV_ALLOWLIST``   more variables a job's workers get (comma-separated names/globs)
``SMDBG_JOBS_USER``            ``uid:gid`` job workers run as when smdbg runs as root (``65534:65534``)
``SMDBG_DEBUG``                the CLI prints tracebacks instead of one-line errors
``AWS_ENDPOINT_URL_S3``        S3 endpoint (e.g. a local S3 server), else ``AWS_ENDPOINT_URL``
``DOCKER_HOST``                the Docker engine (read by the docker SDK; named in errors)
``RANK`` / ``WORLD_SIZE``      this worker's rank and the worker count (torch.distributed)
``TF_CONFIG``                  TensorFlow's cluster and task description (JSON)
``SMDBG_STUDIO_TOKEN``         the token ``smdbg studio`` requires (needed off 127.0.0.1)
``SMDBG_HISTOGRAM_WORKER``     ``1``: PyTorch hooks count CPU histograms on a worker thread (``0``)
``SMDBG_COMPACT_PROCESS``      ``1``: background merges run in a child process, ``0``: on a thread (``1``)
``SMDBG_HISTOGRAM_KERNEL``     CPU histogram counting: ``auto``, ``numba`` or ``numpy`` (``auto``)
=============================  ========================================================

AWS credentials and region are read by botocore/s3fs themselves, not by smdbg.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Setting",
    "SETTINGS",
    "HOME",
    "TRACKER_URL",
    "ARTIFACT_LOCATION",
    "TRIAL_COMPONENT",
    "CONFIG_FILE",
    "JOBS_BACKEND",
    "JOBS_ENV_ALLOWLIST",
    "JOBS_USER",
    "RAY_ADDRESS",
    "RAY_DRIVER_IDLE_S",
    "DEBUG",
    "S3_ENDPOINT",
    "DOCKER_HOST",
    "RANK",
    "WORLD_SIZE",
    "TF_CONFIG",
    "STUDIO_TOKEN",
    "HISTOGRAM_WORKER",
    "COMPACT_PROCESS",
    "HISTOGRAM_KERNEL",
    "home",
]


@dataclass(frozen=True)
class Setting:
    """One environment variable (and older names it also answers to, checked in order)."""

    name: str
    doc: str
    default: str | None = None
    aliases: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def get(self) -> str | None:
        """The first of :attr:`names` that is set and not empty, else :attr:`default`."""
        for name in self.names:
            value = os.environ.get(name)
            if value:
                return value
        return self.default

    def is_set(self) -> bool:
        return any(os.environ.get(name) for name in self.names)

    def flag(self, on: str, off: str) -> bool:
        """The setting as a switch (``1/true/yes/on`` or ``0/false/no/off``; unset: the default);
        ``on``/``off`` say what each means in the ValueError that names any other value."""
        value = (self.get() or "").strip().lower()
        if value in _ON or value in _OFF:
            return value in _ON
        raise ValueError(f"{self.name}={value!r}: expected 1 ({on}) or 0 ({off})")


_ON, _OFF = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


HOME = Setting("SMDBG_HOME", "state directory of jobs and endpoints; default ~/.smdbg")
TRACKER_URL = Setting(
    "SMDBG_TRACKER_URL", "tracker database URL or SQLite path; default sqlite:///~/.smdbg/tracker.db"
)
ARTIFACT_LOCATION = Setting(
    "SMDBG_ARTIFACT_LOCATION", "directory or s3:// URL for tracker artifacts; default ~/.smdbg/artifacts"
)
TRIAL_COMPONENT = Setting(
    "SMDBG_TRIAL_COMPONENT_NAME", "the trial component Tracker.load() opens; jobs set it for their scripts"
)
CONFIG_FILE = Setting(
    "SMDBG_CONFIG_FILE_PATH",
    "JSON hook config a hook is built from when the script gives none",
    aliases=("SMDEBUG_CONFIG_FILE_PATH",),
)
JOBS_BACKEND = Setting(
    "SMDBG_JOBS_BACKEND", "backend of jobs that name no image: local, docker or ray", default="local"
)
RAY_ADDRESS = Setting(
    "SMDBG_RAY_ADDRESS",
    "address (host:port of the head's GCS, or ray://host:10001) of the Ray cluster that backend='ray' "
    "jobs and AutoML searches run on; unset: a Ray instance started on this machine",
)
RAY_DRIVER_IDLE_S = Setting(
    "SMDBG_RAY_DRIVER_IDLE_S",
    "seconds the Ray backend's long-lived driver (one per cluster address) stays up without a job",
    default="300",
)
JOBS_ENV_ALLOWLIST = Setting(
    "SMDBG_JOBS_ENV_ALLOWLIST",
    "comma-separated variable names (or globs such as MY_APP_*) passed from this environment to "
    "job workers, besides the few they always get",
)
JOBS_USER = Setting(
    "SMDBG_JOBS_USER",
    "uid:gid that job workers run as when smdbg runs as root (0:0 keeps root)",
    default="65534:65534",
)
DEBUG = Setting("SMDBG_DEBUG", "any value: the smdbg CLI shows tracebacks instead of one-line errors")
S3_ENDPOINT = Setting(
    "AWS_ENDPOINT_URL_S3",
    "endpoint of the S3 API (e.g. a local S3 server) for every s3:// URL smdbg opens",
    aliases=("AWS_ENDPOINT_URL",),
)
DOCKER_HOST = Setting(
    "DOCKER_HOST", "the Docker engine the docker backend talks to", default="unix:///var/run/docker.sock"
)
RANK = Setting("RANK", "this worker's rank in a torch.distributed job", default="0")
WORLD_SIZE = Setting("WORLD_SIZE", "the number of workers in a torch.distributed job", default="1")
TF_CONFIG = Setting("TF_CONFIG", "TensorFlow's JSON cluster and task description")
STUDIO_TOKEN = Setting(
    "SMDBG_STUDIO_TOKEN", "the token `smdbg studio` requires on every request (needed off 127.0.0.1)"
)
HISTOGRAM_WORKER = Setting(
    "SMDBG_HISTOGRAM_WORKER",
    "1: PyTorch hooks count the histograms of CPU tensors on a worker thread, off the "
    "training thread; 0 (default): on the training thread, during the capture",
    default="0",
)
COMPACT_PROCESS = Setting(
    "SMDBG_COMPACT_PROCESS",
    "1: a trial writer's background compactor computes merges in one child process (stores "
    "another process can open: local, s3://); 0: on a thread of the training process",
    default="1",
)
HISTOGRAM_KERNEL = Setting(
    "SMDBG_HISTOGRAM_KERNEL",
    "how PyTorch hooks count the histograms of CPU tensors: numba (one compiled pass), numpy "
    "(numpy and torch passes) or auto (default: numba where it is installed)",
    default="auto",
)

#: Every setting, by variable name (for docs and ``smdbg`` diagnostics).
SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        HOME,
        TRACKER_URL,
        ARTIFACT_LOCATION,
        TRIAL_COMPONENT,
        CONFIG_FILE,
        JOBS_BACKEND,
        JOBS_ENV_ALLOWLIST,
        JOBS_USER,
        RAY_ADDRESS,
        RAY_DRIVER_IDLE_S,
        DEBUG,
        S3_ENDPOINT,
        DOCKER_HOST,
        RANK,
        WORLD_SIZE,
        TF_CONFIG,
        STUDIO_TOKEN,
        HISTOGRAM_WORKER,
        COMPACT_PROCESS,
        HISTOGRAM_KERNEL,
    )
}


def home() -> Path:
    """The state directory: ``$SMDBG_HOME`` when set, else ``~/.smdbg``."""
    value = HOME.get()
    return Path(value) if value else Path.home() / ".smdbg"
