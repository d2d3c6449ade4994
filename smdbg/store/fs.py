"""Filesystem backends of the trial store: a handful of primitives, queries are built on them.

:class:`StoreFS` states the contract once; :class:`LocalFS` (plain paths, ``file://``) and
:class:`FsspecFS` (any fsspec URL, ``s3://`` included) implement it. For ``s3://`` the endpoint
comes from ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` when set (e.g. a local S3 server).
"""

from __future__ import annotations

import abc
import io
import os
import posixpath
import uuid
from typing import Any

from smdbg._optional import require

__all__ = ["StoreFS", "LocalFS", "FsspecFS", "open_fs"]


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

    def open_input(self, path: str) -> Any:
        """A seekable binary file for ranged reads (a context manager); default: the whole file."""
        return io.BytesIO(self.read_bytes(path))

    def url(self, path: str = "") -> str:
        return posixpath.join(self.root, path) if path else self.root


class LocalFS(StoreFS):
    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root[len("file://") :] if root.startswith("file://") else root)

    def _p(self, path: str) -> str:
        return os.path.join(self.root, *path.split("/")) if path else self.root

    def list_dir(self, path: str) -> list[str]:
        try:
            return os.listdir(self._p(path))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def read_bytes(self, path: str) -> bytes:
        with open(self._p(path), "rb") as f:
            return f.read()

    def write_atomic(self, path: str, data: bytes | memoryview | Any, fsync: bool = True) -> None:
        full = self._p(path)
        parent = os.path.dirname(full)
        os.makedirs(parent, exist_ok=True)
        tmp = os.path.join(parent, f".{os.path.basename(full)}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                if fsync:
                    f.flush()
                    os.fsync(f.fileno())
            os.replace(tmp, full)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def exists(self, path: str) -> bool:
        return os.path.exists(self._p(path))

    def open_input(self, path: str) -> Any:
        import pyarrow as pa

        return pa.memory_map(self._p(path))  # Arrow-owned, zero copy

    def remove(self, path: str) -> None:
        try:
            os.unlink(self._p(path))
        except FileNotFoundError:
            pass


class FsspecFS(StoreFS):
    def __init__(self, url: str, **storage_options: Any) -> None:
        feature = f"reading or writing {url!r}"
        fsspec = require("fsspec", extra="s3", feature=feature)
        protocol = url.split("://", 1)[0]
        if protocol in ("s3", "s3a"):
            require("s3fs", extra="s3", feature=feature)
        if protocol in ("s3", "s3a") and "client_kwargs" not in storage_options:
            endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
            if endpoint:
                storage_options["client_kwargs"] = {"endpoint_url": endpoint}
        try:
            self.fs, path = fsspec.core.url_to_fs(url, **storage_options)
        except ImportError as e:
            raise ImportError(
                f"reading or writing {url!r} needs the fsspec backend for {protocol}:// ({e})"
            ) from e
        self.root = url.rstrip("/")
        self._base = path.rstrip("/")

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
        return self.fs.open(self._p(path), "rb")

    def remove(self, path: str) -> None:
        try:
            self.fs.rm_file(self._p(path))
        except FileNotFoundError:
            pass


def open_fs(path: str | os.PathLike[str], **storage_options: Any) -> StoreFS:
    """A backend for a local path or any fsspec URL."""
    p = os.fspath(path)
    if "://" in p and not p.startswith("file://"):
        return FsspecFS(p, **storage_options)
    return LocalFS(p)
