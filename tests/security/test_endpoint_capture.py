"""Data capture under pressure: memory bounded in bytes, spill to disk, backlog in pieces that fit."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from smdbg.platform.serving import DataCaptureConfig
from smdbg.platform.serving._capture_writer import CaptureWriter


def _records(root: Path) -> list[dict[str, object]]:
    out = []
    for f in sorted(root.rglob("*.jsonl")):
        out.extend(json.loads(line) for line in f.read_text().splitlines() if line)
    return out


def _ids(root: Path) -> list[int]:
    return sorted(int(str(r["captureData"]["endpointInput"]["data"]).split(",")[0]) for r in _records(root))  # type: ignore[index]


def test_memory_is_bounded_in_bytes_and_the_overflow_spills_then_publishes(tmp_path: Path) -> None:
    blocker = tmp_path / "dest"
    blocker.write_text("not a directory")  # the destination cannot be written at first
    cfg = DataCaptureConfig(
        sampling_percentage=100, destination_s3_uri=str(blocker), flush_interval_s=3600,
        max_buffered_bytes=4096, max_file_bytes=2048,
    )  # fmt: skip
    spill = tmp_path / "spill"
    writer = CaptureWriter(cfg, "ep", spill_to=str(spill))
    payload = b"x" * 190
    for i in range(100):  # 100 exchanges of 200 payload bytes: 20,000 bytes against a 4,096 budget
        writer.submit(b"%d," % i + payload, "text/csv", b"1", "text/csv", None)
        assert writer.stats()["buffered_bytes"] <= 4096
    stats = writer.stats()
    assert stats["spilled"] > 70 and stats["dropped"] == 0 and stats["pending"] == 100
    assert list(spill.glob("spill-*.tsv"))
    blocker.unlink()  # the destination works again
    writer.close()
    stats = writer.stats()
    assert stats["written"] == 100 and stats["dropped"] == 0 and stats["pending"] == 0, stats
    assert _ids(blocker / "ep" / "AllTraffic") == list(range(100))
    assert all(f.stat().st_size <= 2048 + 600 for f in (blocker / "ep").rglob("*.jsonl"))  # pieces
    assert not spill.exists()  # emptied and removed


def test_records_left_unwritten_at_close_are_kept_for_the_next_writer(tmp_path: Path) -> None:
    blocker = tmp_path / "dest"
    blocker.write_text("x")
    cfg = DataCaptureConfig(sampling_percentage=100, destination_s3_uri=str(blocker), flush_interval_s=3600)
    spill = tmp_path / "spill"
    first = CaptureWriter(cfg, "ep", spill_to=str(spill))
    for i in range(20):
        first.submit(b"%d,1" % i, "text/csv", b"0", "text/csv", None)
    first.close()
    assert first.stats()["errors"] >= 1 and first.stats()["spilled"] == 20
    blocker.unlink()
    second = CaptureWriter(cfg, "ep", spill_to=str(spill))  # the next server of the same endpoint
    second.submit(b"20,1", "text/csv", b"0", "text/csv", None)
    second.close()
    assert _ids(blocker / "ep" / "AllTraffic") == list(range(21))
    assert not spill.exists()


def test_without_a_spill_directory_the_overflow_is_dropped_and_counted(tmp_path: Path) -> None:
    blocker = tmp_path / "dest"
    blocker.write_text("x")
    cfg = DataCaptureConfig(
        destination_s3_uri=str(blocker),
        flush_interval_s=3600,
        max_buffered_bytes=2048,
        sampling_percentage=100,
    )
    writer = CaptureWriter(cfg, "ep")
    for i in range(30):
        writer.submit(b"%d," % i + b"y" * 200, "text/csv", b"1", "text/csv", None)
        assert writer.stats()["buffered_bytes"] <= 2048
    writer.close()
    stats = writer.stats()
    assert stats["dropped"] >= 20 and stats["submitted"] == 30 and stats["written"] == 0


PIECES = """
import json, resource, signal, sys
from smdbg.platform.serving import DataCaptureConfig
from smdbg.platform.serving._capture_writer import CaptureWriter

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
dest, piece = sys.argv[1], int(sys.argv[2])
cfg = DataCaptureConfig(sampling_percentage=100, destination_s3_uri=dest, flush_interval_s=3600,
                        max_file_bytes=piece)
writer = CaptureWriter(cfg, "ep")
for i in range(2000):   # about 600 KB of capture lines
    writer.submit(b"%d," % i + b"z" * 150, "text/csv", b"1", "text/csv", None)
writer.close()
print(json.dumps(writer.stats()))
"""


def test_a_backlog_is_written_in_pieces_that_fit(tmp_path: Path) -> None:
    """No file above 64 KB can be written (RLIMIT_FSIZE, as on a disk with 64 KB left): a
    600 KB backlog goes out in pieces of 32 KB; as one file it would never fit."""
    script = tmp_path / "pieces.py"
    script.write_text(textwrap.dedent(PIECES))
    runs = {}
    for piece in (32 * 1024, 1024 * 1024):
        dest = tmp_path / f"dest-{piece}"
        out = subprocess.run(
            [sys.executable, str(script), str(dest), str(piece)], capture_output=True, text=True, timeout=300
        )
        assert out.returncode == 0, out.stderr
        runs[piece] = json.loads(out.stdout.strip().splitlines()[-1])
    fits, whole = runs[32 * 1024], runs[1024 * 1024]
    assert fits["written"] == 2000 and fits["errors"] == 0 and fits["pending"] == 0
    assert _ids(tmp_path / f"dest-{32 * 1024}" / "ep" / "AllTraffic") == list(range(2000))
    assert whole["written"] == 0 and whole["errors"] >= 1 and "File too large" in whole["last_error"]
