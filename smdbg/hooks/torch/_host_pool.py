"""Reusable host buffers for raw copies of CPU tensors (see :class:`HostPool`)."""

from __future__ import annotations

import sys

import numpy as np
import torch

__all__ = ["HostPool"]

_NUMPY_DTYPES = {
    torch.float32: np.float32, torch.float64: np.float64, torch.float16: np.float16,
    torch.int64: np.int64, torch.int32: np.int32, torch.int16: np.int16, torch.int8: np.int8,
    torch.uint8: np.uint8, torch.bool: np.bool_, torch.complex64: np.complex64,
    torch.complex128: np.complex128,
}  # fmt: skip


class HostPool:
    """Reusable host copies of CPU tensors for raw saves (no fresh pages on every saved step).

    Buffers are numpy arrays owned by the pool. One handed out lives on in the records the
    writer holds (every numpy view of it keeps a reference to it as its base); it is reused only
    once nothing but the pool refers to it, which CPython's reference count tells exactly.
    Buffers are pooled up to ``max_bytes``; beyond that, and for dtypes numpy lacks, copies are
    plain clones.
    """

    def __init__(self, max_bytes: int = 512 << 20) -> None:
        self.max_bytes = max_bytes
        self.pooled_bytes = 0
        self._bufs: dict[tuple[tuple[int, ...], torch.dtype], list[np.ndarray]] = {}
        self._next: dict[tuple[tuple[int, ...], torch.dtype], int] = {}

    def take(self, shape: tuple[int, ...], dtype: torch.dtype) -> np.ndarray | None:
        """A free buffer (pooled, or new) of this shape and dtype; None if numpy lacks it."""
        key = (shape, dtype)
        bufs = self._bufs.get(key)
        if bufs is None:
            if dtype not in _NUMPY_DTYPES:
                return None
            bufs = self._bufs[key] = []
        n = len(bufs)
        start = self._next.get(key, 0)
        for k in range(n):  # from the oldest handed out: the writer frees buffers in order
            i = (start + k) % n
            # references: the list's and getrefcount's argument; any more is a live record
            if sys.getrefcount(bufs[i]) <= 2:
                self._next[key] = i + 1
                return bufs[i]
        buf: np.ndarray = np.empty(shape, dtype=_NUMPY_DTYPES[dtype])
        if self.pooled_bytes + buf.nbytes <= self.max_bytes:
            bufs.append(buf)
            self.pooled_bytes += buf.nbytes
        return buf

    def copy(self, t: torch.Tensor) -> np.ndarray | torch.Tensor:
        """A host copy of ``t``: a pooled numpy array, or a clone for dtypes numpy lacks."""
        buf = self.take(tuple(t.shape), t.dtype)
        if buf is None:
            return t.clone()
        torch.from_numpy(buf).copy_(t)
        return buf

    def copy_flat(self, ts: list[torch.Tensor]) -> list[np.ndarray]:
        """Host copies of tensors of one numpy-known dtype, made with one ``torch.cat`` into one
        pooled buffer: the copies are views of it (each keeps the whole buffer in use)."""
        sizes = [t.numel() for t in ts]
        buf = self.take((sum(sizes),), ts[0].dtype)
        assert buf is not None
        torch.cat([t.reshape(-1) for t in ts], out=torch.from_numpy(buf))
        out, o = [], 0
        for t, n in zip(ts, sizes):
            out.append(buf[o : o + n].reshape(t.shape))
            o += n
        return out

    @staticmethod
    def knows(dtype: torch.dtype) -> bool:
        return dtype in _NUMPY_DTYPES
