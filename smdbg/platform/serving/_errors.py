"""Errors raised by the serving layer."""

from __future__ import annotations

from smdbg.exceptions import SmdbgError

__all__ = [
    "ServingError",
    "ModelLoadError",
    "EndpointError",
    "EndpointNotFound",
    "InvocationError",
    "BadRequest",
    "CodeExecutionWarning",
]


class ServingError(SmdbgError):
    """Base class of every serving error (a :class:`~smdbg.SmdbgError`)."""


class ModelLoadError(ServingError, ValueError):
    """The model artifact is missing, unreadable, or of a kind the server cannot load."""


class EndpointError(ServingError, RuntimeError):
    """An endpoint could not be started, reached or stopped."""


class EndpointNotFound(EndpointError, KeyError):
    """No endpoint of that name is registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class InvocationError(ServingError, RuntimeError):
    """The endpoint answered a request with an error status; ``status`` and ``body`` say which."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"endpoint answered HTTP {status}: {body}")
        self.status = status
        self.body = body


class BadRequest(ServingError, ValueError):
    """A request the model cannot score (server side); answered with ``status`` (400 or 415)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class CodeExecutionWarning(UserWarning):
    """The model artifact is in a format whose loading runs code stored in it (a pickle)."""
