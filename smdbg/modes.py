"""Training modes, with smdebug's names and values (``smd.modes.TRAIN`` ...)."""

from __future__ import annotations

import enum
from typing import TypeAlias

__all__ = ["ModeKeys", "ModeLike", "TRAIN", "EVAL", "PREDICT", "GLOBAL", "ALLOWED_MODES", "parse_mode"]


class ModeKeys(enum.Enum):
    TRAIN = 1
    EVAL = 2
    PREDICT = 3
    GLOBAL = 4

    # Members are singletons compared by identity: hash them by identity too, in C. (Enum's
    # own __hash__ is a Python function, called for every dict lookup by mode, and hooks look
    # up their per-mode step counters at every step.)
    __hash__ = object.__hash__


TRAIN = ModeKeys.TRAIN
EVAL = ModeKeys.EVAL
PREDICT = ModeKeys.PREDICT
GLOBAL = ModeKeys.GLOBAL
ALLOWED_MODES = (TRAIN, EVAL, PREDICT, GLOBAL)

#: What every ``mode=`` parameter accepts: a :class:`ModeKeys`, its name in any case
#: (``"train"``) or its integer value; :func:`parse_mode` turns it into a ``ModeKeys``.
ModeLike: TypeAlias = ModeKeys | str | int


def parse_mode(value: object) -> ModeKeys:
    """Accept a ModeKeys, its name in any case (``"train"``) or its integer value."""
    if isinstance(value, ModeKeys):
        return value
    if isinstance(value, str):
        try:
            return ModeKeys[value.strip().upper()]
        except KeyError:
            pass
    elif isinstance(value, int) and not isinstance(value, bool):
        try:
            return ModeKeys(value)
        except ValueError:
            pass
    allowed = ", ".join(m.name for m in ModeKeys)
    raise ValueError(f"unknown mode {value!r}: expected one of {allowed} (or smd.modes.<NAME>)")
