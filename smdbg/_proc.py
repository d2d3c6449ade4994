"""Is a process alive? One answer for the whole library (job supervisors, workers, endpoints).

The semantics, in order:

* no pid (``None`` or ``0``) or a negative one: **dead** (``os.kill(0, ...)`` would signal our
  own process group, so such a value is never probed);
* ``os.kill(pid, 0)`` says there is no such process: **dead**;
* it says permission denied: the process exists and belongs to another user: **alive**;
* a zombie (exited, not yet reaped by its parent): **dead** — it runs no code any more;
* a start time was given (from :func:`start_time` when the process was started) and the process
  now at that pid started at another time: **dead** — the pid was reused by a new process;
* where ``/proc`` cannot tell (not Linux, or hidden), what ``os.kill`` said stands: **alive**.
"""

from __future__ import annotations

import os

__all__ = ["pid_alive", "start_time"]


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first); None if unreadable."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux); None when it is gone, a
    zombie, or the system does not say. Record it with a pid so that :func:`pid_alive` can tell
    a reused pid from the process it meant."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] == "Z":
        return None
    return int(fields[19])


def pid_alive(pid: int | None, start: int | None = None) -> bool:
    """Whether ``pid`` names a running process (and, with ``start``, the same one); see the module
    docstring for the exact rules. Never raises."""
    if not pid or pid < 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists; another user owns it
    fields = _stat_fields(pid)
    if fields is None:
        return True
    if fields[0] == "Z":
        return False
    return start is None or int(fields[19]) == start
