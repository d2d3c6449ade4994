"""A range of global steps a reader loads (smdebug's ``range_steps``): segments outside it are
never read, rows outside it are dropped as a segment is read."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["StepRange"]


@dataclass(frozen=True)
class StepRange:
    """Global steps ``begin <= step < end``; ``None`` leaves that side open."""

    begin: int | None = None
    end: int | None = None

    def __post_init__(self) -> None:
        for side, v in (("begin", self.begin), ("end", self.end)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise ValueError(f"range_steps {side}={v!r}: expected a step number >= 0, or None")
        if self.begin is not None and self.end is not None and self.end <= self.begin:
            raise ValueError(
                f"range_steps=({self.begin}, {self.end}): expected (begin, end) with begin < end "
                "(end is exclusive)"
            )

    @classmethod
    def parse(cls, value: object) -> StepRange | None:
        """``None``, or a ``(begin, end)`` pair (either may be None) as smdebug takes it."""
        if value is None or isinstance(value, StepRange):
            return value
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            raise ValueError(f"range_steps={value!r}: expected a pair (begin, end), e.g. (100, 200) or (100, None)")
        return cls(value[0], value[1])

    def disjoint(self, first: int, last: int) -> bool:
        """No step of ``[first, last]`` is in the range."""
        return (self.begin is not None and last < self.begin) or (self.end is not None and first >= self.end)

    def contains(self, first: int, last: int) -> bool:
        """Every step of ``[first, last]`` is in the range."""
        return (self.begin is None or first >= self.begin) and (self.end is None or last < self.end)

    def mask(self, steps: np.ndarray) -> np.ndarray:
        """Which of ``steps`` are in the range."""
        keep = np.ones(len(steps), dtype=bool)
        if self.begin is not None:
            keep &= steps >= self.begin
        if self.end is not None:
            keep &= steps < self.end
        return keep
