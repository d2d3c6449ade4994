"""Start callers at the same instant, to test what must be safe under races (create-or-load, ...)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

__all__ = ["run_together"]

T = TypeVar("T")


def run_together(n: int, fn: Callable[[int], T]) -> list[T]:
    """Call ``fn(0) ... fn(n - 1)`` on ``n`` threads released together by a barrier; return their
    results in index order. When any call raised, the first error (by index) is raised after
    every thread has finished."""
    barrier = threading.Barrier(n)
    results: dict[int, T] = {}
    errors: dict[int, BaseException] = {}

    def body(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn(i)
        except BaseException as e:  # re-raised below, in the caller's thread
            errors[i] = e

    threads = [threading.Thread(target=body, args=(i,), name=f"run-together-{i}") for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[min(errors)]
    return [results[i] for i in range(n)]
