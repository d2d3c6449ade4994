"""Progress of long work: a status line on a terminal (a real pseudo-terminal here), nothing in a
pipe or file unless asked for, then plain lines."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

from smdbg._progress import Progress
from smdbg.store import BackgroundWriter, Record

ROOT = Path(__file__).resolve().parent.parent.parent


def _read_all(fd: int) -> str:
    chunks = []
    while select.select([fd], [], [], 0)[0]:
        try:
            data = os.read(fd, 65536)
        except OSError:  # the other side closed
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode()


def test_quiet_when_not_a_terminal_unless_asked() -> None:
    quiet = io.StringIO()
    with Progress("work", 10, stream=quiet) as p:
        for i in range(10):
            p.update(i + 1, f"item {i}")
        p.note("a note")
    assert quiet.getvalue() == ""
    forced = io.StringIO()
    with Progress("work", 10, stream=forced, enabled=True, unit="items") as p:
        p.update(3, "item 2")
    lines = forced.getvalue().splitlines()
    assert lines[0].startswith("work: 3/10 items (30%) item 2 [") and "\r" not in forced.getvalue()


def test_one_status_line_rewritten_in_place_on_a_terminal() -> None:
    master, slave = pty.openpty()
    with os.fdopen(slave, "w") as tty:
        with Progress("rule x", 4, stream=tty, unit="tensors") as p:
            assert p.enabled and p.tty
            p.update(1, "a", force=True)
            p.update(2, "b", force=True)
            p.note("FINDING step 3")
        out = _read_all(master)
    os.close(master)
    assert "\rrule x: 1/4 tensors (25%) a [" in out and "\rrule x: 2/4 tensors (50%) b [" in out
    assert "FINDING step 3" in out
    assert "\n" not in out.split("FINDING step 3")[0]  # the status line was cleared, not scrolled


def test_rule_run_shows_progress_on_a_terminal_only(tmp_path: Path) -> None:
    path = tmp_path / "t"
    with BackgroundWriter(path, "worker_0", flush_secs=0.1) as w:
        w.write_trial_metadata({"framework": "test", "num_workers": 1})
        for s in range(3):
            w.add(s, "TRAIN", s, [Record(f"gradient/w{i}", ("gradients",), "abs_mean", 0.1, "float32", (3,), b"")
                                  for i in range(3)])  # fmt: skip
    cmd = [sys.executable, "-m", "smdbg.cli", "rule", "run", str(path), "--rule", "vanishing_gradient"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    piped = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert piped.returncode == 0 and piped.stderr == "", piped.stderr
    master, slave = pty.openpty()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=slave, text=True, env=env, timeout=120)
    os.close(slave)
    shown = _read_all(master)
    os.close(master)
    assert proc.returncode == 0 and "NoIssuesFound" in proc.stdout
    assert "rule vanishing_gradient: 1/3 tensors (33%) gradient/w0" in shown, shown
