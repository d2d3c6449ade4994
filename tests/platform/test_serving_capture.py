"""Capture writer (in process, real files and a real S3 server), record format, and the CLI."""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest_serving import make_sklearn_model, read_capture_records, smdbg_home

from smdbg.platform.serving import DataCaptureConfig, Model, list_endpoints
from smdbg.platform.serving._capture import make_record
from smdbg.platform.serving._capture_writer import CaptureWriter

__all__ = ["smdbg_home"]


def test_record_encodings() -> None:
    cfg = DataCaptureConfig(destination_s3_uri="/x", capture_options=["REQUEST", "RESPONSE"])
    when = dt.datetime(2024, 5, 1, 13, 4, 5, 678000, tzinfo=dt.timezone.utc)
    rec = make_record(cfg, b"1,2", "text/csv; charset=utf-8", b'{"a": 1}', "application/json", when, "id-1")
    assert rec["eventMetadata"]["inferenceTime"] == "2024-05-01T13:04:05.678Z"
    assert rec["eventMetadata"]["inferenceId"] == "id-1"
    assert rec["captureData"]["endpointInput"]["encoding"] == "CSV"
    assert rec["captureData"]["endpointInput"]["observedContentType"] == "text/csv; charset=utf-8"
    assert rec["captureData"]["endpointOutput"] == {
        "observedContentType": "application/json",
        "mode": "OUTPUT",
        "data": '{"a": 1}',
        "encoding": "JSON",
    }
    raw = bytes(range(256))
    rec = make_record(cfg, raw, "application/x-npy", b"\xff", "text/csv", when)
    assert rec["captureData"]["endpointInput"]["encoding"] == "BASE64"
    assert base64.b64decode(rec["captureData"]["endpointInput"]["data"]) == raw
    assert rec["captureData"]["endpointOutput"]["encoding"] == "BASE64"  # not UTF-8: kept exact
    only_in = DataCaptureConfig(destination_s3_uri="/x", capture_options=["REQUEST"])
    assert set(make_record(only_in, b"1", "text/csv", b"1", "text/csv")["captureData"]) == {"endpointInput"}


def test_sampling_percentage() -> None:
    cfg = DataCaptureConfig(sampling_percentage=30, destination_s3_uri="/x")
    hits = sum(cfg.sampled() for _ in range(20000))
    assert 5400 < hits < 6600
    assert not any(
        DataCaptureConfig(sampling_percentage=0, destination_s3_uri="/x").sampled() for _ in range(500)
    )
    assert not DataCaptureConfig(enable_capture=False).sampled()


def test_writer_flushes_on_timer_and_close(tmp_path: Path) -> None:
    cfg = DataCaptureConfig(sampling_percentage=100, destination_s3_uri=str(tmp_path), flush_interval_s=0.1)
    writer = CaptureWriter(cfg, "ep", "AllTraffic")
    for i in range(50):
        writer.submit(f"{i},1".encode(), "text/csv", b"0", "text/csv", None)
    deadline = dt.datetime.now() + dt.timedelta(seconds=60)
    while writer.stats()["written"] < 50 and dt.datetime.now() < deadline:
        time.sleep(0.01)
    assert writer.stats()["written"] == 50  # the timer flushed without close
    for i in range(50, 60):
        writer.submit(f"{i},1".encode(), "text/csv", b"0", "text/csv", None)
    writer.close()
    writer.close()  # idempotent
    records = read_capture_records(tmp_path / "ep" / "AllTraffic")
    assert sorted(int(r["captureData"]["endpointInput"]["data"].split(",")[0]) for r in records) == list(
        range(60)
    )
    assert not [p for p in tmp_path.rglob(".*")]  # no temporary files left


def test_writer_bounded_buffer_counts_drops(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cfg = DataCaptureConfig(
        destination_s3_uri=str(blocker / "d"), flush_interval_s=0.05, max_buffered_records=5
    )
    writer = CaptureWriter(cfg, "ep")
    for _ in range(5):
        writer.submit(b"1", "text/csv", b"1", "text/csv", None)
    writer.close()
    for _ in range(3):  # later batches push the oldest kept records out
        w2 = CaptureWriter(cfg, "ep")
        for _ in range(4):
            w2.submit(b"1", "text/csv", b"1", "text/csv", None)
        w2.close()
    stats = w2.stats()
    assert stats["errors"] >= 1 and stats["written"] == 0 and stats["pending"] == 4
    assert blocker.read_text() == "x"


def test_capture_to_s3(s3_bucket: str) -> None:
    import boto3

    cfg = DataCaptureConfig(sampling_percentage=100, destination_s3_uri=f"s3://{s3_bucket}/capture")
    writer = CaptureWriter(cfg, "ep-s3")
    for i in range(20):
        writer.submit(f"{i},2,3".encode(), "text/csv", b"1", "text/csv", f"id-{i}")
    writer.close()
    assert writer.stats()["written"] == 20 and writer.stats()["errors"] == 0
    s3 = boto3.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert keys and all(k.startswith("capture/ep-s3/AllTraffic/") and k.endswith(".jsonl") for k in keys)
    lines = []
    for k in keys:
        lines += s3.get_object(Bucket=s3_bucket, Key=k)["Body"].read().decode().splitlines()
    ids = sorted(json.loads(line)["eventMetadata"]["inferenceId"] for line in lines)
    assert ids == sorted(f"id-{i}" for i in range(20))


_CLI = (
    "import argparse, sys\n"
    "from smdbg.platform.serving import cli\n"
    "p = argparse.ArgumentParser(prog='smdbg'); s = p.add_subparsers(dest='command'); cli.register(s)\n"
    "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))\n"
)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _CLI, *args], capture_output=True, text=True, timeout=60)


def test_cli_lists_and_deletes_across_processes(smdbg_home: Path, tmp_path: Path) -> None:
    model_dir, _, _ = make_sklearn_model(tmp_path / "model")
    dest = tmp_path / "cap"
    predictor = Model(str(model_dir)).deploy(
        endpoint_name="cli-ep",
        data_capture_config=DataCaptureConfig(sampling_percentage=100, destination_s3_uri=str(dest)),
    )
    predictor.predict([[1, 2, 3, 4]])
    out = _cli("endpoints", "list")
    assert out.returncode == 0 and "cli-ep" in out.stdout and "InService" in out.stdout
    listed = json.loads(_cli("endpoints", "list", "--json").stdout)
    assert listed[0]["name"] == "cli-ep" and listed[0]["capture"] == str(dest)
    missing = _cli("endpoints", "delete", "no-such-endpoint")
    assert missing.returncode == 2 and "no endpoint named 'no-such-endpoint'" in missing.stderr
    deleted = _cli("endpoints", "delete", "cli-ep")
    assert deleted.returncode == 0, deleted.stderr
    assert list_endpoints() == []
    assert not predictor.ping()
    assert len(read_capture_records(dest)) == 1  # SIGTERM from another process still flushed capture
    assert _cli("endpoints", "list").stdout.strip() == "no endpoints"


def test_capture_config_round_trip() -> None:
    cfg = DataCaptureConfig(
        sampling_percentage=50, destination_s3_uri="s3://b/p", capture_options=["request"]
    )
    assert cfg.capture_options == ["REQUEST"]
    assert DataCaptureConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="destination_s3_uri is empty"):
        DataCaptureConfig()


def test_fast_formatter_matches_the_record_definition():
    """The writer's JSON lines are exactly json.dumps(make_record(...)) (ids and times aside)."""
    import datetime as dt
    import json

    from smdbg.platform.serving._capture import DataCaptureConfig
    from smdbg.platform.serving._capture_format import CaptureFormatter

    when = dt.datetime(2026, 11, 27, 5, 4, 3, 21_000, tzinfo=dt.timezone.utc)
    cases = [
        (b"1,2", "text/csv; charset=utf-8", b'{"a": 1}', "application/json", "id-\u00e9\"1"),
        (b"\x93NUMPY\x01", "application/x-npy", b"\xff\xfe", "text/csv", None),
        ('caf\u00e9 "quoted"\n'.encode(), "text/csv", b"[0.5]", "application/json", None),
    ]
    for options in (["REQUEST", "RESPONSE"], ["REQUEST"], ["RESPONSE"]):
        cfg = DataCaptureConfig(destination_s3_uri="/tmp/unused", capture_options=options)
        lines = CaptureFormatter(cfg).lines([(*c[:4], when, c[4]) for c in cases], len(cases))
        for (stamp, line), case in zip(lines, cases):
            got = json.loads(line)
            want = make_record(cfg, case[0], case[1], case[2], case[3], when, case[4])
            assert stamp == want["eventMetadata"]["inferenceTime"] == "2026-11-27T05:04:03.021Z"
            event_id = got["eventMetadata"].pop("eventId")
            want["eventMetadata"].pop("eventId")
            assert got == want
            assert len(event_id) == 36 and event_id[14] == "4" and event_id[19] in "89ab"
            want["eventMetadata"] = {"eventId": event_id, **want["eventMetadata"]}
            assert line == json.dumps(want, separators=(",", ":"))
