"""Stop the processes one run of scripts/test.sh started and left running.

usage: python3 scripts/stop_started.py MARKER

scripts/test.sh exports ``SMDBG_RUN_MARKER=<random>``; every process it starts, directly or
through the tests (a Docker engine it had to start, S3 and PostgreSQL servers, endpoints, jobs),
inherits that variable. This finds them by it, by pid, and nothing else: not this scanner, not
its parents, not a process of anyone else. Each is named, sent SIGTERM, given a grace period
(longer for dockerd, which stops its containers), then SIGKILL.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

GRACE_S = {"dockerd": 30.0}
DEFAULT_GRACE_S = 5.0


def ancestors() -> set[int]:
    out, pid = set(), os.getpid()
    while pid > 1:
        out.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # the field after the command name is the parent
    return out


def marked(marker: str) -> dict[int, str]:
    needle = f"SMDBG_RUN_MARKER={marker}".encode()
    skip = ancestors()
    found: dict[int, str] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) in skip:
            continue
        try:
            if needle not in (proc / "environ").read_bytes().split(b"\0"):
                continue
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # gone already, or not ours to read
            continue
        if cmd:  # zombies have no command line; their parent reaps them
            found[int(proc.name)] = cmd
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def main() -> int:
    marker = sys.argv[1]
    left = marked(marker)
    if not left:
        print("   no process of this run is left running")
        return 0
    for pid, cmd in sorted(left.items()):
        print(f"   stopping pid {pid}: {cmd[:150]}")
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    grace = max(GRACE_S.get(Path(cmd.split()[0]).name, DEFAULT_GRACE_S) for cmd in left.values())
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(alive(p) for p in left):
        time.sleep(0.2)
    for pid in left:
        if alive(pid):
            print(f"   pid {pid} ignored SIGTERM for {grace:g} s: SIGKILL")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
