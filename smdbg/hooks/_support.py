"""Small pieces every framework hook shares: the current-hook registry (for ``get_hook``) and
the decorator that reports errors raised inside framework callbacks."""

from __future__ import annotations

import functools
import threading
from typing import Any

from smdbg.exceptions import StopTrainingRequested, TrialExistsError

__all__ = ["guarded", "current_hook", "set_current", "clear_current"]

_CURRENT: dict[str, Any] = {}
_CURRENT_LOCK = threading.Lock()


def guarded(where: str) -> Any:
    """Decorate a framework callback of a hook: an internal error is reported loudly (logged
    with its cause, counted in the trial metadata) and re-raised to the training script."""

    def deco(fn: Any) -> Any:
        @functools.wraps(fn)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(self, *args, **kwargs)
            except (StopTrainingRequested, TrialExistsError):  # not internal errors: the caller's to handle
                raise
            except Exception as e:
                self._report_error(where, e)
                raise

        return wrapper

    return deco


def current_hook(framework: str) -> Any:
    """The most recently created, not yet closed hook of a framework (for ``get_hook``)."""
    with _CURRENT_LOCK:
        return _CURRENT.get(framework)


def set_current(framework: str, hook: Any) -> None:
    with _CURRENT_LOCK:
        _CURRENT[framework] = hook


def clear_current(framework: str, hook: Any) -> None:
    with _CURRENT_LOCK:
        if _CURRENT.get(framework) is hook:
            del _CURRENT[framework]
