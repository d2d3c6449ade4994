"""A segment removed by a merge while a reader is reading it: on S3 an opened object can vanish
before its ranged reads (a local file stays readable once open). That is a vanished segment,
which readers follow into the merge that took its rows, not a corrupt one (it failed a
long-run contract test once under CI load as "does not parse as a Parquet segment")."""

from __future__ import annotations

import boto3
import pytest

from smdbg.exceptions import CorruptSegmentError
from smdbg.store import open_fs
from smdbg.store._parquet import decode_segment
from smdbg.store.fs import StoreFS
from smdbg.testing._long_run_contract import _write_small_segments


def _a_segment(bucket: str) -> tuple[StoreFS, str, str]:
    """A small trial on S3: its store, one of its segments, and that segment's object key."""
    url = f"s3://{bucket}/runs/trial"
    _write_small_segments(url, 2)
    fs = open_fs(url)
    path = "events/worker_0/" + next(n for n in fs.list_dir("events/worker_0") if n.endswith(".parquet"))
    return fs, path, fs.url(path).removeprefix(f"s3://{bucket}/")


def test_an_object_deleted_after_open_is_missing_not_corrupt(s3_bucket: str, s3_server: str) -> None:
    fs, path, key = _a_segment(s3_bucket)
    with fs.open_input(path) as source:
        boto3.client("s3", endpoint_url=s3_server).delete_object(Bucket=s3_bucket, Key=key)
        with pytest.raises(FileNotFoundError, match="was removed while it was being read") as got:
            decode_segment(fs.url(path), source, None)
    assert not isinstance(got.value, CorruptSegmentError)


def test_a_damaged_object_is_still_corrupt(s3_bucket: str, s3_server: str) -> None:
    fs, path, key = _a_segment(s3_bucket)
    boto3.client("s3", endpoint_url=s3_server).put_object(Bucket=s3_bucket, Key=key, Body=b"not parquet at all")
    with fs.open_input(path) as source, pytest.raises(CorruptSegmentError, match="does not parse"):
        decode_segment(fs.url(path), source, None)
