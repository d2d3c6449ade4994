"""Errors raised by the model monitor."""

from __future__ import annotations

from smdbg.exceptions import SmdbgError

__all__ = ["MonitorError", "DatasetError", "ConstraintsError", "ScheduleError"]


class MonitorError(SmdbgError):
    """Base class of every monitor error (a :class:`~smdbg.SmdbgError`)."""


class DatasetError(MonitorError, ValueError):
    """A dataset that is missing, empty or unreadable."""


class ConstraintsError(MonitorError, ValueError):
    """A statistics or constraints document that cannot be used."""


class ScheduleError(MonitorError, ValueError):
    """A schedule expression that cannot be parsed."""
