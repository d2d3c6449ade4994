"""Moving data in and out of jobs: local paths and ``s3://`` URLs (boto3, honouring AWS_* env)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from smdbg._optional import require

__all__ = ["fetch", "copy_outputs", "list_source_files", "place_files"]


def _s3() -> Any:
    boto3 = require("boto3", extra="s3", feature="s3:// job inputs and outputs")

    return boto3.client(
        "s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    )


def _split(url: str) -> tuple[str, str]:
    bucket, _, key = url[len("s3://") :].partition("/")
    return bucket, key


def list_source_files(source: str, what: str) -> list[tuple[str, str]]:
    """``(relative name, location)`` of every file under a local path or S3 prefix."""
    if source.startswith("s3://"):
        bucket, prefix = _split(source)
        out = []
        for page in _s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                rel = key[len(prefix) :].lstrip("/") or os.path.basename(key)
                if not key.endswith("/"):
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
    """Copy one file (local path or s3:// URL) to ``target``; local files are hard-linked when possible."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if location.startswith("s3://"):
        bucket, key = _split(location)
        _s3().download_file(bucket, key, str(target))
        return
    try:
        os.link(location, target)
    except OSError:
        shutil.copy2(location, target)


def place_files(files: list[tuple[str, str]], directory: Path) -> None:
    for rel, location in files:
        fetch(location, directory / rel)


def _upload(directory: Path, destination: str) -> None:
    if destination.startswith("s3://"):
        bucket, prefix = _split(destination)
        client = _s3()
        for p in sorted(directory.rglob("*")):
            if p.is_file():
                client.upload_file(
                    str(p), bucket, f"{prefix.rstrip('/')}/{p.relative_to(directory)}".lstrip("/")
                )
        return
    dest = Path(destination).expanduser()
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(directory, dest, dirs_exist_ok=True)


def copy_outputs(outputs: list[Mapping[str, Any]]) -> list[str]:
    """Copy each output's directories (one per worker) to its destination; returns problems
    (an output that no worker wrote) — every other output is still copied."""
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
                _upload(d, out["destination"])
            except Exception as e:
                problems.append(f"output {out['name']!r}: copying to {out['destination']} failed: {e}")
    return problems
