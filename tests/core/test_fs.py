"""The one file-access layer (smdbg.fs), one suite over a local directory and a loopback S3 server."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from smdbg import _settings, fs


@pytest.fixture(params=["local", "s3"])
def base(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "local":
        yield str(tmp_path / "root")
    else:
        yield f"s3://{request.getfixturevalue('s3_bucket')}/root"


def test_write_read_list_round_trip(base: str) -> None:
    fs.write_atomic(fs.join(base, "a", "one.json"), b'{"x": 1}')
    fs.write_atomic(fs.join(base, "a/b/", "/two.json"), memoryview(b"[2]"))
    fs.write_atomic(fs.join(base, "three.txt"), b"3")
    assert fs.read_bytes(fs.join(base, "a", "one.json")) == b'{"x": 1}'
    assert fs.list_files(base, ".json") == [fs.join(base, "a/b/two.json"), fs.join(base, "a/one.json")]
    assert len(fs.list_files(base)) == 3
    fs.write_atomic(fs.join(base, "three.txt"), b"three")  # replaced whole
    assert fs.read_bytes(fs.join(base, "three.txt")) == b"three"


def test_missing_file_is_file_not_found(base: str) -> None:
    with pytest.raises(FileNotFoundError):
        fs.read_bytes(fs.join(base, "nope.bin"))
    assert fs.list_files(fs.join(base, "empty")) == []


def test_put_and_get_file(base: str, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(300_000))
    fs.put_file(src, fs.join(base, "copied", "src.bin"))
    out = tmp_path / "back" / "deep" / "src.bin"
    fs.get_file(fs.join(base, "copied", "src.bin"), out)
    assert out.read_bytes() == src.read_bytes()


def test_local_write_is_atomic_for_concurrent_readers(tmp_path: Path) -> None:
    """A reader sees the old or the new file, never a part; no temporary file is left."""
    target = str(tmp_path / "doc.bin")
    old, new = b"a" * 1_000_000, b"b" * 2_000_000
    fs.write_atomic(target, old, fsync=True)
    torn: list[int] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            data = fs.read_bytes(target)
            if data not in (old, new):
                torn.append(len(data))

    t = threading.Thread(target=read)
    t.start()
    for i in range(20):
        fs.write_atomic(target, new if i % 2 == 0 else old)
    stop.set()
    t.join()
    assert torn == []
    assert {p.name for p in tmp_path.iterdir()} == {"doc.bin"}


def test_failed_local_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "keep.txt"
    fs.write_atomic(str(target), b"old")

    with pytest.raises(TypeError):
        fs.write_atomic(str(target), object())  # fails after the temporary file was opened
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]  # no temporary file left


def test_urls_and_local_paths() -> None:
    assert fs.is_remote("s3://b/k") and not fs.is_remote("/tmp/x") and not fs.is_remote("file:///tmp/x")
    assert fs.protocol("s3://b/k") == "s3" and fs.protocol("file:///tmp/x") == "file"
    assert fs.local_path("file:///tmp/x") == "/tmp/x" and fs.local_path("rel/x") == "rel/x"
    assert fs.join("s3://b/", "/a/", "", "c") == "s3://b/a/c"


def test_s3_endpoint_is_read_in_one_place(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "")  # empty counts as unset: the generic name applies
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    assert _settings.S3_ENDPOINT.get() == s3_server
    s3, path = fs.url_to_fs("s3://bucket/key")
    assert path == "bucket/key" and s3.client_kwargs["endpoint_url"] == s3_server
    s3, _ = fs.url_to_fs("s3://bucket/key", client_kwargs={"endpoint_url": "http://127.0.0.1:1"})
    assert s3.client_kwargs["endpoint_url"] == "http://127.0.0.1:1"  # explicit options win


def test_unknown_protocol_names_the_backend() -> None:
    with pytest.raises((ImportError, ValueError), match="nosuchproto"):
        fs.read_bytes("nosuchproto://bucket/key")


def test_s3_listing_is_never_cached(s3_bucket: str) -> None:
    """A file written after a listing (by another filesystem object or process) is readable."""
    reader, base = fs.url_to_fs(f"s3://{s3_bucket}/live")
    fs.write_atomic(f"s3://{s3_bucket}/live/a.json", b"a")
    assert [p.rsplit("/", 1)[-1] for p in reader.ls(base, detail=False)] == ["a.json"]
    fs.write_atomic(f"s3://{s3_bucket}/live/END.json", b"end")  # another filesystem object
    assert reader.cat_file(f"{base}/END.json") == b"end"
