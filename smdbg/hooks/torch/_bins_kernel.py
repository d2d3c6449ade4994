"""The bin-counting pass of :mod:`smdbg.hooks.torch._bins` compiled into one loop (numba).

What :func:`smdbg.hooks.torch._bins.exact_counts` does per value of a float32 tensor, after it has
fitted each tensor's scale: ``floor((float64(x) - lo) * s)``, then one count in that bin. In numpy
and torch that is a conversion, two float64 passes, a truncation into a byte buffer and a
``bincount``: five passes over memory, ~1 ns a value. Compiled, it is one pass that reads each
float32 once and keeps the counts in four interleaved rows of counters (consecutive values that
fall in the same bin, the common case in a bell-shaped tensor, then do not wait on each other's
increment), with the same IEEE float64 arithmetic (no fast-math), so the bins are the same,
value for value: the tests compare both paths on every edge case of the exact counts.

``SMDBG_HISTOGRAM_KERNEL`` chooses: ``auto`` (the default: compiled where numba is installed,
``pip install 'smdbg[torch]'`` brings it), ``numba`` (compiled; an error naming the missing
package where it is not) or ``numpy`` (the passes of numpy and torch). numba's start costs a
process 1-2 s (its import, and loading the loop from its cache: the machine code is kept beside
this module, or in ``NUMBA_CACHE_DIR``, after the first compilation on a machine); with
``auto`` that happens on a background thread started by the first histogram, whose tensors, and
those of the steps until the loop is ready, are counted by the numpy passes (the same counts);
with ``numba`` the first histogram waits for it. The loop releases the GIL (``nogil``), so the
opt-in histogram worker thread counts in parallel with training.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from typing import Any

import numpy as np

from smdbg import _settings

__all__ = ["Kernel", "count_kernel", "kernel_name", "loaded"]

_log = logging.getLogger(__name__)
_LOCK = threading.Lock()  # held by the build
_START_LOCK = threading.Lock()
_BUILT: dict[str, Any] = {}
_CHOICES = ("auto", "numba", "numpy")
_LOADING: list[threading.Thread] = []  # the background build (auto), started once


def _choice() -> str:
    choice = (_settings.HISTOGRAM_KERNEL.get() or "auto").strip().lower()
    if choice not in _CHOICES:
        raise ValueError(f"SMDBG_HISTOGRAM_KERNEL={choice!r}: expected one of {', '.join(_CHOICES)}")
    return choice


def kernel_name() -> str:
    """``numba`` or ``numpy``: the counting path ``SMDBG_HISTOGRAM_KERNEL`` selects here (a bad
    value, or ``numba`` without numba installed, is a ValueError/ImportError naming it). Cheap:
    numba is looked up, not imported (the hook calls this when it is made)."""
    choice = _choice()
    if choice == "numpy":
        return "numpy"
    if importlib.util.find_spec("numba") is not None:
        return "numba"
    if choice == "numba":
        raise ImportError(
            "SMDBG_HISTOGRAM_KERNEL=numba but numba is not installed: pip install numba (it comes "
            "with 'smdbg[torch]'), or set SMDBG_HISTOGRAM_KERNEL=auto to count with numpy"
        )
    return "numpy"


class Kernel:
    """The compiled loops, called with numpy arrays (float32 values, float64 limits and scales)."""

    @staticmethod
    def count(x: np.ndarray, lo: float, s: float, bins: int) -> np.ndarray:
        """The ``bins + 1`` counts (int64) of ``floor((float64(x) - lo) * s)`` over the float32
        vector ``x`` (values in [lo, hi] have positions 0 .. bins; one outside that range is a
        ValueError: the caller's scale or range was wrong)."""
        loops = _build()
        narrow = bins < 255  # one-byte positions where they fit (faster to count than int32)
        top = 255 if narrow else bins + 1  # the clamp: a slot no bin reaches
        rows = np.zeros((4, top + 1), np.int64)
        loops["count"](x, lo, s, top, rows, np.empty(_BLOCK, np.uint8 if narrow else np.int32))
        counts: np.ndarray = rows.sum(axis=0)
        _no_overflow(counts[bins + 1 :], lo, s)
        return counts[: bins + 1]

    @staticmethod
    def count_packed(x: np.ndarray, sizes: np.ndarray, lows: np.ndarray, scales: np.ndarray, bins: int) -> np.ndarray:
        """:meth:`count` of several vectors laid end to end in ``x`` (``sizes`` values each, int64),
        each with its own ``lo`` and scale, in one call: one row of ``bins + 1`` counts each."""
        loops = _build()
        width = bins + 2  # per vector: its bins, the upper edge's slot, the clamp's slot
        rows = np.zeros((4, width * len(sizes)), np.int64)
        loops["packed"](x, sizes, lows, scales, bins + 1, rows, np.empty(_BLOCK, np.int32))
        counts: np.ndarray = rows.sum(axis=0).reshape(len(sizes), width)
        _no_overflow(counts[:, bins + 1], float(lows[0]), float(scales[0]))
        return counts[:, : bins + 1]

    @staticmethod
    def fit(lows: np.ndarray, plain: np.ndarray, edges: np.ndarray, nudges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``_bins._fit``'s search in one call: per vector (``lo``, its plain scale, a row of
        ``bins + 1`` edges), the scale ``plain * (1 + nudge)`` of the first of ``nudges`` (the
        first is 0) with the fewest interior edges off, and that scale's check of each interior
        edge ``j`` (int8): +1 where the first float32 of bin ``j`` (the edge rounded up to
        float32) gets bin ``j - 1`` from ``floor((x - lo) * s)``, -1 where the float32 below it
        gets bin ``j``, 0 where both are right."""
        scales = np.empty(len(lows), np.float64)
        out = np.empty((edges.shape[0], edges.shape[1] - 2), np.int8)
        _build()["fit"](lows, plain, edges, nudges, scales, out, np.empty(edges.shape[1] - 2, np.int8))
        return scales, out


def _no_overflow(beyond: np.ndarray, lo: float, s: float) -> None:
    if beyond.any():
        raise ValueError(f"histogram counting: {int(beyond.sum())} values beyond the upper edge ({lo=}, {s=})")


def count_kernel() -> type[Kernel] | None:
    """The compiled loops (:class:`Kernel`), or None: ``SMDBG_HISTOGRAM_KERNEL`` selects numpy,
    or ``auto`` finds no numba or is still loading it (on a background thread, started by this
    call)."""
    if kernel_name() == "numpy":
        return None
    if _choice() == "numba":
        if _build() is None:  # waits for the loops
            raise ImportError("SMDBG_HISTOGRAM_KERNEL=numba but numba is installed and does not import")
        return Kernel
    with _START_LOCK:  # not _LOCK, which the build holds while it runs
        if "loops" not in _BUILT and not _LOADING:
            _LOADING.append(threading.Thread(target=_build_in_background, name="smdbg-histogram-kernel", daemon=True))
            _LOADING[0].start()
    return Kernel if _BUILT.get("loops") is not None else None


def loaded() -> bool:
    """Whether the compiled loop is ready in this process (tests, benchmarks)."""
    return _BUILT.get("loops") is not None


def _build() -> Any:
    """Compile (or load from numba's cache) the loops, once per process; None without numba."""
    with _LOCK:
        if "loops" in _BUILT:
            return _BUILT["loops"]
        try:
            numba: Any = importlib.import_module("numba")
        except ImportError:
            _BUILT["loops"] = None
            return None
        try:
            _BUILT["loops"] = _compile(numba, cache=True)
        except RuntimeError as e:  # no writable cache folder (read-only install, no home)
            _log.info("histograms: numba cannot cache the counting loops here (%s); compiling them for this process", e)
            _BUILT["loops"] = _compile(numba, cache=False)
        return _BUILT["loops"]


def _compile(numba: Any, cache: bool) -> dict[str, Any]:
    jit = {"cache": cache, "nogil": True, "boundscheck": False, "error_model": "numpy"}
    one = "void(float32[::1], float64, float64, int64, int64[:, ::1], {}[::1])"
    many = "void(float32[::1], int64[::1], float64[::1], float64[::1], int64, int64[:, ::1], int32[::1])"
    return {
        "count": numba.njit([one.format("uint8"), one.format("int32")], **jit)(_loop),
        "packed": numba.njit(many, **jit)(_loop_packed),
        "fit": numba.njit("void(float64[::1], float64[::1], float64[:, ::1], float64[::1], float64[::1], "
                          "int8[:, ::1], int8[::1])", **jit)(_fit_loop),  # fmt: skip
    }


def _build_in_background() -> None:
    try:
        _build()
    except Exception:  # the numpy passes go on counting (the same counts); say why once
        _BUILT["loops"] = None
        _log.warning("histograms: numba could not compile the counting loop; counting with numpy", exc_info=True)


# The loop (compiled; in Python it would take a second per million values). The positions of a
# block of values go to ``buf`` in one loop that the compiler vectorises (a conversion, a
# subtraction, a multiplication, a clamp and a truncation, several values per instruction), then
# a second loop counts them into four rows of counters, value i in row i % 4 (consecutive values
# in one bin then do not wait on each other's increment). The clamp is made on the float64
# position (a float beyond int32 has no defined conversion) at ``top``, a slot no bin reaches,
# so a position out of range is seen, not folded into a bin.
_BLOCK = 4096


def _loop(x: np.ndarray, lo: float, s: float, top: int, rows: np.ndarray, buf: np.ndarray) -> None:  # pragma: no cover
    n = x.shape[0]
    block = buf.shape[0]
    limit = np.float64(top)
    for c in range(0, n, block):
        m = min(block, n - c)
        xs = x[c : c + m]
        for i in range(m):
            buf[i] = np.int32(min(max((np.float64(xs[i]) - lo) * s, 0.0), limit))
        for i in range(0, m - m % 4, 4):
            rows[0, buf[i]] += 1
            rows[1, buf[i + 1]] += 1
            rows[2, buf[i + 2]] += 1
            rows[3, buf[i + 3]] += 1
        for i in range(m - m % 4, m):
            rows[0, buf[i]] += 1


def _loop_packed(x: np.ndarray, sizes: np.ndarray, lows: np.ndarray, scales: np.ndarray, top: int,
                 rows: np.ndarray, buf: np.ndarray) -> None:  # fmt: skip  # pragma: no cover
    start = 0
    for t in range(sizes.shape[0]):
        lo, s, base = lows[t], scales[t], t * (top + 1)
        limit = np.float64(top)
        for c in range(start, start + sizes[t], buf.shape[0]):
            m = min(buf.shape[0], start + sizes[t] - c)
            xs = x[c : c + m]
            for i in range(m):
                buf[i] = np.int32(min(max((np.float64(xs[i]) - lo) * s, 0.0), limit)) + base
            for i in range(m):
                rows[i & 3, buf[i]] += 1
        start += sizes[t]


def _fit_loop(lows: np.ndarray, plain: np.ndarray, edges: np.ndarray, nudges: np.ndarray, scales: np.ndarray,
              out: np.ndarray, trial: np.ndarray) -> None:  # fmt: skip  # pragma: no cover
    up, down = np.float32(np.inf), np.float32(-np.inf)
    for t in range(edges.shape[0]):
        lo, best = lows[t], edges.shape[1]
        for b in range(nudges.shape[0]):
            s = plain[t] * (1.0 + nudges[b])
            wrong = 0
            for j in range(1, edges.shape[1] - 1):
                e = edges[t, j]
                c = np.float32(e)  # rounded to nearest, then up: the first float32 of bin j
                if np.float64(c) < e:
                    c = np.nextafter(c, up)
                late = np.floor((np.float64(c) - lo) * s) < j
                early = np.floor((np.float64(np.nextafter(c, down)) - lo) * s) >= j
                trial[j - 1] = np.int8(late) - np.int8(early)
                wrong += late or early
            if wrong < best:  # the first of the fewest: numpy's argmin
                best, scales[t] = wrong, s
                out[t, :] = trial
            if best == 0:
                break
