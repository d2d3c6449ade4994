"""Errors raised by AutoML: one base class, subclasses that are also builtin errors."""

from __future__ import annotations

from smdbg.exceptions import SmdbgError

__all__ = ["AutoMLError", "AutoMLInputError", "AutoMLJobError"]


class AutoMLError(SmdbgError):
    """Base class of every error raised by :mod:`smdbg.platform.automl` (a :class:`~smdbg.SmdbgError`)."""


class AutoMLInputError(AutoMLError, ValueError):
    """The data or the job settings cannot be used (bad target, unknown objective, too few rows)."""


class AutoMLJobError(AutoMLError, RuntimeError):
    """The job is in a state that does not allow the call (not fitted, no completed candidate)."""
