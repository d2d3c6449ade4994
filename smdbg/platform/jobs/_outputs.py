"""Moving data in and out of jobs: local paths and ``s3://`` URLs, through :mod:`smdbg.fs`.

An ``s3://`` input is a key prefix, as in SageMaker (``S3Prefix``): ``s3://b/data`` holds every
object whose key starts with ``data`` (``data/x.csv``, also ``data.csv``). Inputs are copied, never
linked; outputs are collected without following a link out of the output folder.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from smdbg import fs

__all__ = ["fetch", "copy_outputs", "output_files", "list_source_files", "place_files"]


def _split(url: str) -> tuple[str, str]:
    bucket, _, key = url[len("s3://") :].partition("/")
    return bucket, key


def _keys(source: str) -> list[str]:
    """The keys of every object whose key starts with ``source``'s key (a raw prefix)."""
    bucket, prefix = _split(source)
    s3, _ = fs.url_to_fs(source)
    parent, _, first = prefix.rpartition("/")
    path = f"{bucket}/{parent}".rstrip("/")
    found = s3.find(path, prefix=first) if first else s3.find(path)
    return [str(p).split("/", 1)[1] for p in found]


def list_source_files(source: str, what: str) -> list[tuple[str, str]]:
    """``(relative name, location)`` of every file under a local path or S3 prefix."""
    if source.startswith("s3://"):
        bucket, prefix = _split(source)
        out = []
        for key in _keys(source):
            rel = key[len(prefix) :].lstrip("/") or os.path.basename(key)
            if key.startswith(prefix) and not key.endswith("/"):
                out.append((rel, f"s3://{bucket}/{key}"))
        if not out:
            raise FileNotFoundError(f"{what}: {source!r} holds no objects; expected an S3 prefix with files")
        return sorted(out)
    path = Path(source).expanduser()
    if path.is_file():
        return [(path.name, str(path))]
    if path.is_dir():
        return sorted((str(p.relative_to(path)), str(p)) for p in path.rglob("*") if p.is_file())
    raise FileNotFoundError(
        f"{what}: {source!r} does not exist; expected a local file, directory or s3:// URL"
    )


def fetch(location: str, target: Path) -> None:
    """Copy one file (local path or s3:// URL) to ``target``: always a copy, never a link, so a job
    that changes its input leaves the caller's file as it was."""
    fs.get_file(location, target)


def place_files(files: list[tuple[str, str]], directory: Path) -> None:
    for rel, location in files:
        fetch(location, directory / rel)


def output_files(directory: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """``(relative name, path)`` of every regular file a job left in ``directory``, and the names
    of links refused. Symbolic links are never followed out of ``directory``: a relative link to a
    file inside it is copied as that file; any other link (absolute, climbing out, to a folder)
    is refused. Devices, FIFOs and sockets are skipped."""
    root = directory.resolve()
    files: list[tuple[str, Path]] = []
    refused: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):  # does not descend into linked folders
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                target = os.readlink(path)
                real = (path.parent / target).resolve()
                if os.path.isabs(target) or not real.is_relative_to(root) or not real.is_file():
                    refused.append(f"{rel} -> {target}")
                    continue
                files.append((rel, real))
            elif stat.S_ISREG(mode):
                files.append((rel, path))
    return sorted(files), refused


def _open_regular(path: Path) -> IO[bytes]:
    """Open ``path`` for reading only if it is (still) a regular file, not through a link."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{path} is no longer a regular file")
    return open(fd, "rb")


def _upload(directory: Path, destination: str) -> list[str]:
    """Copy the job's files under ``directory`` to ``destination``; returns the refused links."""
    files, refused = output_files(directory)
    remote = destination.startswith("s3://")
    for rel, path in files:
        with _open_regular(path) as src:
            if remote:
                bucket, prefix = _split(destination)
                s3, _ = fs.url_to_fs(destination)
                key = f"{prefix.rstrip('/')}/{rel}".lstrip("/")
                with s3.open(f"{bucket}/{key}", "wb") as out:
                    shutil.copyfileobj(src, out)
                continue
            target = Path(destination).expanduser() / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as out:
                shutil.copyfileobj(src, out)
            os.chmod(target, os.fstat(src.fileno()).st_mode & 0o777)
    if not remote:
        Path(destination).expanduser().mkdir(parents=True, exist_ok=True)
    return refused


def copy_outputs(outputs: list[Mapping[str, Any]]) -> list[str]:
    """Copy each output's directories (one per worker) to its destination; returns problems
    (an output that no worker wrote, a link that points out of the output) — every other file
    is still copied."""
    problems = []
    for out in outputs:
        wrote = [Path(d) for d in out["host_dirs"] if Path(d).is_dir() and any(Path(d).iterdir())]
        if not wrote:
            problems.append(
                f"output {out['name']!r}: the script wrote nothing to {out['source']}; expected files "
                f"there to copy to {out['destination']}"
            )
            continue
        for d in wrote:
            try:
                refused = _upload(d, out["destination"])
            except Exception as e:
                problems.append(f"output {out['name']!r}: copying to {out['destination']} failed: {e}")
                continue
            if refused:
                problems.append(
                    f"output {out['name']!r}: not copied: symbolic link(s) {', '.join(refused)} point "
                    f"outside {out['source']}; expected files, or relative links to files inside it"
                )
    return problems
