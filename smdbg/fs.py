"""The one file-access layer: URL -> filesystem, atomic writes, whole-file reads, listings, copies.

Every component reaches files through here: the trial store (its :class:`~smdbg.store.fs.StoreFS`
backends take their filesystem and atomic write from this module), serving's data capture, the
model monitor, tracker artifacts and job inputs/outputs.

* A location is a local path, a ``file://`` URL, or any fsspec URL (``s3://bucket/key`` ...).
  :func:`is_remote` tells them apart; local paths never load fsspec.
* A file is published whole or not at all: a local file is written under a hidden temporary
  name (``.<name>.<random>.tmp``, which listings skip) and renamed into place; an object-store
  file is one PUT.
* Remote backends load lazily; a missing one is a one-line
  :class:`~smdbg._optional.MissingDependencyError` naming the extra to install.
* A user-given name that becomes a file or folder name (a job, endpoint, rule, artifact or
  schedule name) passes :func:`check_path_component` first (or :func:`check_relative_path`
  where a name may be a relative path), so no name reaches outside its folder.
* ``s3://`` URLs use the endpoint of :data:`smdbg._settings.S3_ENDPOINT` (``AWS_ENDPOINT_URL_S3``,
  else ``AWS_ENDPOINT_URL``) unless ``client_kwargs`` are given, a fresh filesystem object per
  call, so a changed endpoint or credentials take effect, and no listing cache: s3fs answers
  ``info``/``size`` (and so a large ``cat_file``) from a cached listing of the parent, which would
  hide a file another process (or another filesystem object) wrote after that listing.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from smdbg import _settings
from smdbg._optional import require
from smdbg.exceptions import InvalidNameError

__all__ = [
    "is_remote",
    "protocol",
    "local_path",
    "join",
    "url_to_fs",
    "write_atomic",
    "read_bytes",
    "list_files",
    "put_file",
    "get_file",
    "check_path_component",
    "check_relative_path",
]

S3_PROTOCOLS = ("s3", "s3a")


def is_remote(url: str | os.PathLike[str]) -> bool:
    """True for an fsspec URL other than ``file://`` (``s3://...``); False for a local path."""
    u = os.fspath(url)
    return "://" in u and not u.startswith("file://")


def protocol(url: str | os.PathLike[str]) -> str:
    """``"s3"`` for ``s3://b/k``; ``"file"`` for a local path or ``file://`` URL."""
    u = os.fspath(url)
    return u.split("://", 1)[0] if is_remote(u) else "file"


def local_path(url: str | os.PathLike[str]) -> str:
    """The path of a local location (``file://`` stripped)."""
    u = os.fspath(url)
    return u[len("file://") :] if u.startswith("file://") else u


def join(base: str, *parts: str) -> str:
    """``base/part/...`` with single slashes (for URLs and local paths alike)."""
    return "/".join([base.rstrip("/"), *[p.strip("/") for p in parts if p]])


def url_to_fs(url: str, **storage_options: Any) -> tuple[Any, str]:
    """The fsspec filesystem of a remote ``url`` and the path within it (no scheme)."""
    proto = protocol(url)
    feature = f"reading or writing {url!r}"
    fsspec = require("fsspec", extra="s3", feature=feature)
    if proto in S3_PROTOCOLS:
        require("s3fs", extra="s3", feature=feature)
        if "client_kwargs" not in storage_options:
            endpoint = _settings.S3_ENDPOINT.get()
            if endpoint:
                storage_options["client_kwargs"] = {"endpoint_url": endpoint}
        storage_options.setdefault("skip_instance_cache", True)
        storage_options.setdefault("use_listings_cache", False)
    try:
        fs, path = fsspec.core.url_to_fs(url, **storage_options)
    except ImportError as e:
        raise ImportError(f"{feature} needs the fsspec backend for {proto}:// ({e})") from e
    return fs, str(path)


_MAX_COMPONENT_BYTES = 255  # NAME_MAX of Linux and macOS filesystems


def _component_problem(name: str) -> str | None:
    if not name:
        return "it is empty"
    if name in (".", ".."):
        return "it names the folder itself or its parent"
    bad = sorted({ch for ch in name if ch in "/\\" or ord(ch) < 32 or ord(ch) == 127})
    if bad:
        return f"it contains {', '.join(repr(ch) for ch in bad)}"
    if name.startswith("."):
        return "it starts with '.' (hidden files are skipped by listings)"
    if len(name.encode("utf-8", "surrogatepass")) > _MAX_COMPONENT_BYTES:
        return f"it is longer than {_MAX_COMPONENT_BYTES} bytes"
    return None


def check_path_component(
    name: object, what: str, *, error: type[Exception] = InvalidNameError
) -> str:
    """``name`` if it is usable as one file or folder name, else ``error`` (the caller's
    component error; :class:`~smdbg.exceptions.InvalidNameError`, a ``ValueError``, by default)
    naming ``what``.

    One path component: a non-empty string of at most 255 bytes, not ``.`` or ``..``, not
    starting with ``.``, without ``/``, ``\\`` or control characters. This is the one check every
    user-given name that becomes part of a path goes through (job, endpoint, rule, artifact,
    trial component and schedule names), so none can reach outside its folder."""
    problem = "it is not a string" if not isinstance(name, str) else _component_problem(name)
    if problem is not None:
        raise error(
            f"{what} {name!r} cannot be used as a file or folder name: {problem}; expected one path "
            "component (letters, digits, '-', '_', no '/', not starting with '.'), e.g. 'run-1'"
        )
    return str(name)


def check_relative_path(
    name: object, what: str, *, error: type[Exception] = InvalidNameError
) -> str:
    """``name`` if it is a relative path of components that each pass :func:`check_path_component`
    (``"sub/notes"``), else ``error``; a path that is absolute or climbs out (``..``) is refused."""
    if not isinstance(name, str) or not name:
        return check_path_component(name, what, error=error)
    for part in name.split("/"):
        if _component_problem(part) is not None:
            raise error(
                f"{what} {name!r} cannot be used as a relative file path: part {part!r} is not one "
                f"path component ({_component_problem(part)}); expected names separated by '/', e.g. "
                "'plots/loss'"
            )
    return name


def _publish_local(
    path: str, write: Callable[[IO[bytes]], object], fsync: bool, mode: int | None = None
) -> None:
    """Write a hidden temporary file next to ``path`` with ``write`` and rename it into place."""
    parent = os.path.dirname(path) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(path)}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else mode)
        with open(fd, "wb") as f:
            write(f)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_atomic(
    url: str | os.PathLike[str], data: Any, *, fsync: bool = False, mode: int | None = None
) -> None:
    """Publish ``data`` (bytes or any buffer) at ``url`` so that readers see all of it or nothing;
    creates parent directories. ``fsync`` also forces a local file to disk before the rename;
    ``mode`` (e.g. ``0o600``) creates a local file with those permission bits (less the umask)."""
    u = os.fspath(url)
    if is_remote(u):
        fs, path = url_to_fs(u)
        fs.pipe_file(path, bytes(data))
        return
    _publish_local(local_path(u), lambda f: f.write(data), fsync, mode)


def read_bytes(url: str | os.PathLike[str]) -> bytes:
    """The whole file; FileNotFoundError when it is not there."""
    u = os.fspath(url)
    if is_remote(u):
        fs, path = url_to_fs(u)
        return bytes(fs.cat_file(path))
    with open(local_path(u), "rb") as f:
        return f.read()


def list_files(url: str, suffix: str = "") -> list[str]:
    """Every file under ``url`` (recursively, or ``url`` itself if it is a file) whose name ends
    with ``suffix``, sorted, as URLs of the same kind. Hidden files (temporary names of files being
    written) are left out."""
    if is_remote(url):
        fs, path = url_to_fs(url)
        proto = protocol(url)
        found = [f"{proto}://{p}" for p in fs.find(path)]
    else:
        root = Path(local_path(url))
        if root.is_file():
            return [str(root)]
        found = [str(p) for p in root.rglob("*") if p.is_file()]
    return sorted(f for f in found if f.endswith(suffix) and not f.rsplit("/", 1)[-1].startswith("."))


def put_file(source: str | os.PathLike[str], url: str) -> None:
    """Copy the local file ``source`` to ``url``, published atomically like :func:`write_atomic`."""
    if is_remote(url):
        fs, path = url_to_fs(url)
        fs.put_file(os.fspath(source), path)
        return
    with open(source, "rb") as src:
        _publish_local(local_path(url), lambda f: shutil.copyfileobj(src, f), fsync=False)


def get_file(url: str, target: str | os.PathLike[str]) -> None:
    """Copy the file at ``url`` to the local path ``target`` (parents created). Always a copy,
    never a hard link: whatever is done to ``target`` leaves the source as it was."""
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    if is_remote(url):
        fs, path = url_to_fs(url)
        fs.get_file(path, os.fspath(target))
        return
    shutil.copy2(local_path(url), target)
