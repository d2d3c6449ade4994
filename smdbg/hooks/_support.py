"""Small pieces every framework hook shares: the current-hook registry (for ``get_hook``) and
the decorator that reports errors raised inside framework callbacks."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from smdbg.exceptions import StopTrainingRequested, TrialExistsError

__all__ = ["guarded", "current_hook", "set_current", "clear_current", "drop_current", "ReportsErrors"]


class ReportsErrors(Protocol):
    """What :func:`guarded` needs of the object whose method it wraps."""

    def _report_error(self, where: str, error: BaseException) -> None: ...


P = ParamSpec("P")
R = TypeVar("R")
H = TypeVar("H", bound=ReportsErrors)

_CURRENT: dict[str, object] = {}
_CURRENT_LOCK = threading.Lock()


def guarded(
    where: str,
) -> Callable[[Callable[Concatenate[H, P], R]], Callable[Concatenate[H, P], R]]:
    """Decorate a framework callback of a hook: an internal error is reported loudly (logged
    with its cause, counted in the trial metadata) and re-raised to the training script.
    ``StopTrainingRequested`` passes through unreported."""

    def deco(fn: Callable[Concatenate[H, P], R]) -> Callable[Concatenate[H, P], R]:
        @functools.wraps(fn)
        def wrapper(self: H, /, *args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(self, *args, **kwargs)
            except (StopTrainingRequested, TrialExistsError):  # not internal errors: the caller's to handle
                raise
            except Exception as e:
                self._report_error(where, e)
                raise

        return wrapper

    return deco


def current_hook(framework: str) -> object | None:
    """The most recently created, not yet closed hook of a framework (for ``get_hook``)."""
    with _CURRENT_LOCK:
        return _CURRENT.get(framework)


def set_current(framework: str, hook: object) -> None:
    with _CURRENT_LOCK:
        _CURRENT[framework] = hook


def clear_current(framework: str, hook: object) -> None:
    with _CURRENT_LOCK:
        if _CURRENT.get(framework) is hook:
            del _CURRENT[framework]


def drop_current(framework: str) -> None:
    """Forget the current hook of a framework, whichever it is (smdebug's ``del_hook``)."""
    with _CURRENT_LOCK:
        _CURRENT.pop(framework, None)
