"""A :class:`~smdbg.store.fs.StoreFS` that counts what a reader reads of segment files, over any
other backend: how many times segments are opened or read whole, and the bytes read from them
(whole files, or the ranges a ranged reader asks for). For tests and benchmarks."""

from __future__ import annotations

from typing import Any

from smdbg.store.fs import StoreFS

__all__ = ["CountingFS"]


class _CountedFile:
    """A read-only file that adds the bytes read through it to a counter."""

    def __init__(self, inner: Any, fs: CountingFS) -> None:
        self._f = inner
        self._fs = fs
        self.closed = False

    def read(self, n: int = -1) -> bytes:
        data = bytes(self._f.read(n))
        self._fs.bytes += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return int(self._f.seek(offset, whence))

    def tell(self) -> int:
        return int(self._f.tell())

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True
        self._f.close()

    def __enter__(self) -> _CountedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CountingFS(StoreFS):
    """Delegates to ``inner``; ``files`` and ``bytes`` count reads of ``.parquet`` files."""

    def __init__(self, inner: StoreFS) -> None:
        self.inner = inner
        self.root = inner.root
        self.files = 0
        self.bytes = 0

    def reset(self) -> None:
        self.files = self.bytes = 0

    def list_dir(self, path: str) -> list[str]:
        return self.inner.list_dir(path)

    def read_bytes(self, path: str) -> bytes:
        data = self.inner.read_bytes(path)
        if path.endswith(".parquet"):
            self.files += 1
            self.bytes += len(data)
        return data

    def write_atomic(self, path: str, data: bytes | memoryview | Any, fsync: bool = True) -> None:
        self.inner.write_atomic(path, data, fsync=fsync)

    def exists(self, path: str) -> bool:
        return self.inner.exists(path)

    def remove(self, path: str) -> None:
        self.inner.remove(path)

    def size(self, path: str) -> int:
        return self.inner.size(path)

    def open_input(self, path: str) -> Any:
        f = self.inner.open_input(path)
        if not path.endswith(".parquet"):
            return f
        self.files += 1
        return _CountedFile(f, self)

    def url(self, path: str = "") -> str:
        return self.inner.url(path)
