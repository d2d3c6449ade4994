"""Copying artifact files into the artifact store: a local directory or an ``s3://`` prefix."""

from __future__ import annotations

import os
from pathlib import Path

from smdbg import fs
from smdbg.tracker._errors import InvalidValueError, StorageUnavailableError

__all__ = ["upload_artifact"]


def upload_artifact(file_path: str | os.PathLike[str], location: str, component_name: str, name: str) -> str:
    """Copy ``file_path`` to ``<location>/<component_name>/<name>/<file name>``; return where it went.

    The copy is published whole or not at all (:func:`smdbg.fs.put_file`). ``component_name`` must
    be one path component and ``name`` a relative path (``sub/notes``) that stays inside the
    component's folder (:func:`smdbg.fs.check_relative_path`); anything else is refused before a
    byte is copied."""
    fs.check_path_component(component_name, "trial component name (an artifact folder)", error=InvalidValueError)
    fs.check_relative_path(name, "artifact name", error=InvalidValueError)
    src = Path(file_path)
    if not src.is_file():
        raise InvalidValueError(
            f"artifact path {str(file_path)!r} does not exist or is not a file; expected an existing file"
        )
    rel = f"{component_name}/{name}/{src.name}"
    if location.startswith("s3://"):
        uri = f"{location}/{rel}"
        try:
            fs.put_file(src, uri)
        except (OSError, PermissionError) as e:
            raise StorageUnavailableError(f"cannot upload artifact {str(src)!r} to {uri!r}: {e}") from e
        return uri
    if "://" in location:
        raise InvalidValueError(
            f"artifact location {location!r} is not supported; expected a local directory or an s3:// URL"
        )
    dest = Path(location) / rel
    fs.put_file(src, str(dest))
    return str(dest.resolve())
