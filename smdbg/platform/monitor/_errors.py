"""Errors raised by the model monitor."""

from __future__ import annotations

__all__ = ["MonitorError", "DatasetError", "ConstraintsError", "ScheduleError"]


class MonitorError(Exception):
    """Base class of every monitor error."""


class DatasetError(MonitorError, ValueError):
    """A dataset that is missing, empty or unreadable."""


class ConstraintsError(MonitorError, ValueError):
    """A statistics or constraints document that cannot be used."""


class ScheduleError(MonitorError, ValueError):
    """A schedule expression that cannot be parsed."""
