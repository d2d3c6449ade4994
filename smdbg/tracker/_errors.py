"""The tracker's exceptions: one base class, a few subclasses that also subclass a builtin.

Messages say what was given, what was expected, and how to fix it.
"""

from __future__ import annotations

from smdbg.exceptions import SmdbgError

__all__ = [
    "TrackerError",
    "AlreadyExistsError",
    "NotFoundError",
    "InvalidValueError",
    "StorageUnavailableError",
    "SchemaVersionError",
]


class TrackerError(SmdbgError):
    """Base class of every error the tracker raises on purpose (a :class:`~smdbg.SmdbgError`)."""


class AlreadyExistsError(TrackerError, ValueError):
    """An experiment, trial or trial component with that name exists already."""


class NotFoundError(TrackerError, LookupError):
    """An experiment, trial or trial component with that name does not exist."""


class InvalidValueError(TrackerError, ValueError):
    """A value given to the tracker has the wrong type or range (a NaN metric, a missing file...)."""


class StorageUnavailableError(TrackerError, ConnectionError):
    """The tracker database cannot be reached or opened."""


class SchemaVersionError(TrackerError, RuntimeError):
    """The database schema was written by a newer smdbg than the one running."""
