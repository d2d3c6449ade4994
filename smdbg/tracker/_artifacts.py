"""Copying artifact files into the artifact store: a local directory or an ``s3://`` prefix."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from smdbg._optional import require
from smdbg.tracker._errors import InvalidValueError, StorageUnavailableError

__all__ = ["upload_artifact"]


def _s3() -> Any:
    s3fs = require("s3fs", extra="s3", feature="logging artifacts to s3://")
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return s3fs.S3FileSystem(
        client_kwargs={"endpoint_url": endpoint} if endpoint else {}, skip_instance_cache=True
    )


def upload_artifact(file_path: str | os.PathLike[str], location: str, component_name: str, name: str) -> str:
    """Copy ``file_path`` to ``<location>/<component_name>/<name>/<file name>``; return where it went."""
    src = Path(file_path)
    if not src.is_file():
        raise InvalidValueError(
            f"artifact path {str(file_path)!r} does not exist or is not a file; expected an existing file"
        )
    rel = f"{component_name}/{name}/{src.name}"
    if location.startswith("s3://"):
        uri = f"{location}/{rel}"
        try:
            _s3().put_file(str(src), uri)
        except (OSError, PermissionError) as e:
            raise StorageUnavailableError(f"cannot upload artifact {str(src)!r} to {uri!r}: {e}") from e
        return uri
    if "://" in location:
        raise InvalidValueError(
            f"artifact location {location!r} is not supported; expected a local directory or an s3:// URL"
        )
    dest = Path(location) / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)  # readers never see a half-copied file
    return str(dest.resolve())
