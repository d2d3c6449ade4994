"""Whole-file reads and writes on a local path or an ``s3://`` URI.

A file is either there completely or not at all: local files are written under a temporary name
and renamed into place; object-store files are one PUT. fsspec and s3fs load only for ``s3://``;
the S3 endpoint comes from ``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_S3``) when set.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from smdbg._optional import require

__all__ = ["is_remote", "join", "write_bytes", "read_bytes", "list_files"]


def is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def _local(uri: str) -> Path:
    return Path(uri[len("file://") :] if uri.startswith("file://") else uri)


def join(base: str, *parts: str) -> str:
    base = base.rstrip("/")
    return "/".join([base, *[p.strip("/") for p in parts if p]])


def _fs(uri: str) -> Any:
    fsspec = require("fsspec", extra="s3", feature=f"reading or writing {uri!r}")
    protocol = uri.split("://", 1)[0]
    if protocol in ("s3", "s3a"):
        require("s3fs", extra="s3", feature=f"reading or writing {uri!r}")
    options: dict[str, Any] = {}
    if protocol == "s3":
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            options["client_kwargs"] = {"endpoint_url": endpoint}
        # A fresh filesystem each time, so a changed endpoint or credentials take effect.
        options["skip_instance_cache"] = True
    return fsspec.filesystem(protocol, **options)


def write_bytes(uri: str, data: bytes) -> None:
    """Publish ``data`` at ``uri`` atomically (temp file + rename, or a single PUT)."""
    if is_remote(uri):
        _fs(uri).pipe_file(uri, data)
        return
    path = _local(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_bytes(uri: str) -> bytes:
    if is_remote(uri):
        return bytes(_fs(uri).cat_file(uri))
    return _local(uri).read_bytes()


def list_files(uri: str, suffix: str = "") -> list[str]:
    """Every file under ``uri`` (recursively) whose name ends with ``suffix``, sorted.

    Hidden files (temporary names of files being written) are left out.
    """
    if is_remote(uri):
        fs = _fs(uri)
        protocol = uri.split("://", 1)[0]
        found = [f"{protocol}://{p}" for p in fs.find(uri)]
    else:
        root = _local(uri)
        if root.is_file():
            return [str(root)]
        found = [str(p) for p in root.rglob("*") if p.is_file()]
    return sorted(f for f in found if f.endswith(suffix) and not f.rsplit("/", 1)[-1].startswith("."))
