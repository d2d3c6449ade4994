"""Filesystem backends of the trial store: a handful of primitives, queries are built on them.

:class:`StoreFS` states the contract once; :class:`LocalFS` (plain paths, ``file://``) and
:class:`FsspecFS` (any fsspec URL, ``s3://`` included) implement it, rooted at one trial. They
get the URL handling, the fsspec filesystem (with the S3 endpoint) and the atomic local write
from :mod:`smdbg.fs`, the library's one file-access layer.
"""

from __future__ import annotations

import abc
import io
import json
import os
import posixpath
from typing import Any

from smdbg import fs as _fs

__all__ = ["StoreFS", "LocalFS", "FsspecFS", "open_fs"]

RANGE_BLOCK_BYTES = 1 << 20  # the least an object-store ranged read fetches


class StoreFS(abc.ABC):
    """The primitives a trial store needs. Paths are relative to the trial root, '/'-separated.

    All methods are safe to call from several threads. Missing paths raise FileNotFoundError.
    """

    root: str

    @abc.abstractmethod
    def list_dir(self, path: str) -> list[str]:
        """Names (not paths) directly under ``path``; [] if it does not exist. Never cached."""

    @abc.abstractmethod
    def read_bytes(self, path: str) -> bytes:
        """The whole file."""

    @abc.abstractmethod
    def write_atomic(self, path: str, data: bytes | memoryview | Any, fsync: bool = True) -> None:
        """Publish ``data`` at ``path`` so that readers see all of it or nothing (creates parents)."""

    @abc.abstractmethod
    def exists(self, path: str) -> bool:
        """Whether a file or directory exists at ``path``."""

    def remove(self, path: str) -> None:
        """Delete one file (no error if missing)."""
        raise NotImplementedError

    def size(self, path: str) -> int:
        """The size of one file in bytes; default: read it."""
        return len(self.read_bytes(path))

    def open_input(self, path: str) -> Any:
        """A seekable binary file for ranged reads (a context manager); default: the whole file."""
        return io.BytesIO(self.read_bytes(path))

    def url(self, path: str = "") -> str:
        return posixpath.join(self.root, path) if path else self.root

    def address(self) -> tuple[str, dict[str, Any]] | None:
        """The URL and storage options (JSON values) that open this store from another
        process with :func:`open_fs`; None where no other process can reach it (memory://)."""
        return None


class LocalFS(StoreFS):
    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(_fs.local_path(root))

    def _p(self, path: str) -> str:
        return os.path.join(self.root, *path.split("/")) if path else self.root

    def address(self) -> tuple[str, dict[str, Any]] | None:
        return self.root, {}

    def list_dir(self, path: str) -> list[str]:
        try:
            return os.listdir(self._p(path))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def read_bytes(self, path: str) -> bytes:
        with open(self._p(path), "rb") as f:
            return f.read()

    def write_atomic(self, path: str, data: bytes | memoryview | Any, fsync: bool = True) -> None:
        _fs.write_atomic(self._p(path), data, fsync=fsync)

    def exists(self, path: str) -> bool:
        return os.path.exists(self._p(path))

    def open_input(self, path: str) -> Any:
        import pyarrow as pa

        return pa.memory_map(self._p(path))  # Arrow-owned, zero copy

    def size(self, path: str) -> int:
        return os.path.getsize(self._p(path))

    def remove(self, path: str) -> None:
        try:
            os.unlink(self._p(path))
        except FileNotFoundError:
            pass


class FsspecFS(StoreFS):
    def __init__(self, url: str, **storage_options: Any) -> None:
        self._options = dict(storage_options)
        self.fs, path = _fs.url_to_fs(url, **storage_options)
        self.root = url.rstrip("/")
        self._base = path.rstrip("/")

    def address(self) -> tuple[str, dict[str, Any]] | None:
        if _fs.protocol(self.root) == "memory":  # this process's memory only
            return None
        try:
            return self.root, json.loads(json.dumps(self._options))
        except (TypeError, ValueError):  # options that are not JSON values (objects)
            return None

    def _p(self, path: str) -> str:
        return f"{self._base}/{path}" if path else self._base

    def list_dir(self, path: str) -> list[str]:
        full = self._p(path)
        self.fs.invalidate_cache(full)
        try:
            entries = self.fs.ls(full, detail=False)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return [posixpath.basename(str(e).rstrip("/")) for e in entries]

    def read_bytes(self, path: str) -> bytes:
        return bytes(self.fs.cat_file(self._p(path)))

    def write_atomic(self, path: str, data: bytes | memoryview | Any, fsync: bool = True) -> None:
        # One PUT: object stores publish an object whole or not at all.
        self.fs.pipe_file(self._p(path), bytes(data))

    def exists(self, path: str) -> bool:
        full = self._p(path)
        self.fs.invalidate_cache(full)
        return bool(self.fs.exists(full))

    def open_input(self, path: str) -> Any:
        # Ranged reads fetch what is asked for plus at most RANGE_BLOCK_BYTES ahead (s3fs reads
        # 50 MiB ahead by default: a query of one tensor would fetch most of a large segment).
        return self.fs.open(self._p(path), "rb", block_size=RANGE_BLOCK_BYTES, cache_type="readahead")

    def size(self, path: str) -> int:
        return int(self.fs.size(self._p(path)))

    def remove(self, path: str) -> None:
        try:
            self.fs.rm_file(self._p(path))
        except FileNotFoundError:
            pass


def open_fs(path: str | os.PathLike[str], **storage_options: Any) -> StoreFS:
    """A backend for a local path or any fsspec URL."""
    p = os.fspath(path)
    return FsspecFS(p, **storage_options) if _fs.is_remote(p) else LocalFS(p)
