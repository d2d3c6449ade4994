"""The jobs error hierarchy: one base, a few subclasses that also subclass a builtin."""

from __future__ import annotations

from smdbg.exceptions import SmdbgError

__all__ = ["JobError", "JobNotFound", "JobFailedError", "DockerUnavailableError", "IsolationUnavailableError",
           "RayClusterError"]


class JobError(SmdbgError):
    """Base class of every error raised by :mod:`smdbg.platform.jobs` (a :class:`~smdbg.SmdbgError`)."""


class JobNotFound(JobError, KeyError):
    """No job of that name under the jobs state directory."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class JobFailedError(JobError, RuntimeError):
    """A job waited on ended Failed or Stopped; the message carries its failure reason."""

    def __init__(self, message: str, description: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.description = description or {}


class DockerUnavailableError(JobError, RuntimeError):
    """The Docker backend was asked for but no Docker engine answered."""


class IsolationUnavailableError(JobError, RuntimeError):
    """The local backend cannot present the container paths (``/opt/ml/...``) to the job."""


class RayClusterError(JobError, RuntimeError):
    """The Ray backend cannot run this work: Ray missing, the cluster unreachable, too small for the
    placement group, or an input that its nodes cannot all read."""
