"""Job inputs and outputs through smdbg.fs on a loopback S3 server: SageMaker's key-prefix inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from smdbg import fs
from smdbg.platform.jobs._outputs import copy_outputs, list_source_files, place_files


def test_s3_input_is_a_key_prefix_and_outputs_upload(s3_bucket: str, tmp_path: Path) -> None:
    for key in ("data/a.csv", "data/sub/b.csv", "data.csv", "other/c.csv"):
        fs.write_atomic(f"s3://{s3_bucket}/{key}", key.encode())
    files = list_source_files(f"s3://{s3_bucket}/data", "input 'train'")
    assert [rel for rel, _ in files] == [".csv", "a.csv", "sub/b.csv"]  # raw prefix, as SageMaker
    files = list_source_files(f"s3://{s3_bucket}/data/", "input 'train'")
    assert [rel for rel, _ in files] == ["a.csv", "sub/b.csv"]
    place_files(files, tmp_path / "in")
    assert (tmp_path / "in" / "sub" / "b.csv").read_bytes() == b"data/sub/b.csv"
    one = list_source_files(f"s3://{s3_bucket}/other/c.csv", "input 'one'")
    assert one == [("c.csv", f"s3://{s3_bucket}/other/c.csv")]

    written = tmp_path / "worker0"
    (written / "nested").mkdir(parents=True)
    (written / "nested" / "out.txt").write_text("result")
    empty = tmp_path / "worker1"
    empty.mkdir()
    problems = copy_outputs(
        [
            {"name": "ok", "host_dirs": [str(written)], "source": "/o", "destination": f"s3://{s3_bucket}/out"},
            {"name": "none", "host_dirs": [str(empty)], "source": "/n", "destination": f"s3://{s3_bucket}/n"},
        ]
    )
    assert len(problems) == 1 and "'none'" in problems[0]
    assert fs.read_bytes(f"s3://{s3_bucket}/out/nested/out.txt") == b"result"


def test_empty_s3_prefix_names_the_input(s3_bucket: str) -> None:
    with pytest.raises(FileNotFoundError, match="input 'x'.*holds no objects"):
        list_source_files(f"s3://{s3_bucket}/missing", "input 'x'")
