"""Where SageMaker's URIs and images land on this machine.

* ``s3://bucket/key`` is fetched with :mod:`smdbg.fs` (its S3 endpoint is
  ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``, e.g. a moto server on 127.0.0.1): a key is one
  file, a prefix every file under it. A ``.tar.gz`` model is unpacked.
* ``file:///path`` and plain paths are local files, used where they are.
"""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

from smdbg import fs
from smdbg.platform.api._protocol import ValidationError

__all__ = ["fetch", "fetch_model", "local_or_none"]


def local_or_none(uri: str) -> Path | None:
    """The local path of a ``file://`` URL or plain path; None for ``s3://``."""
    if uri.startswith("s3://"):
        return None
    return Path(fs.local_path(uri)).expanduser()


def fetch(uri: str, dest: Path, field: str) -> Path:
    """A local copy of ``uri``: the path itself when local, else a download under ``dest``
    (a file, or a folder for a prefix). ``ValidationException`` naming ``field`` when nothing is there."""
    local = local_or_none(uri)
    if local is not None:
        if not local.exists():
            raise ValidationError(f"{field} {uri!r} does not exist on the server's machine")
        return local
    try:
        files = fs.list_files(uri)
    except (OSError, ValueError) as e:
        raise ValidationError(f"{field} {uri!r} cannot be listed ({type(e).__name__}: {e})") from None
    if not files:
        raise ValidationError(f"{field} {uri!r}: no object at or under that S3 URI")
    if dest.exists():
        shutil.rmtree(dest)
    prefix = uri.rstrip("/")
    if files == [uri]:  # one object
        target = dest / uri.rsplit("/", 1)[-1]
        target.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(uri, target)
        return target
    for url in files:
        rel = url[len(prefix) :].lstrip("/")
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(url, target)
    return dest


def fetch_model(uri: str, dest: Path, field: str = "ModelDataUrl") -> Path:
    """A model folder from ``uri``: a folder as it is, a ``model.tar.gz`` unpacked into ``dest``."""
    path = fetch(uri, dest / "download", field)
    if path.is_file() and path.name.endswith((".tar.gz", ".tgz", ".tar")):
        out = dest / "model"
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        try:
            with tarfile.open(path) as tar:
                tar.extractall(out, filter="data")
        except (tarfile.TarError, OSError) as e:
            raise ValidationError(f"{field} {uri!r} is not a readable tar archive ({e})") from None
        return out
    return path if path.is_dir() else path.parent
