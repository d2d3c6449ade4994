"""One writer per worker stream: a lease file with the owner's host, pid and heartbeat.

``events/<worker>/lease.json`` is written when a writer opens the stream, rewritten by the
writer thread every ``heartbeat_secs`` and removed by ``close()`` after the end marker. A second
writer (another process, or a re-run) finds a live lease and fails at once, naming the owner. A
lease is *dead* when its heartbeat is older than ``stale_after`` seconds, or, on the same host,
when its process is gone: a new writer takes it over (with a warning) and readers treat the
stream as ended abnormally (a SIGKILLed run). Heartbeats are compared with the reader's clock:
hosts whose clocks differ by more than ``stale_after`` see live writers as dead.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
import warnings
from dataclasses import asdict, dataclass

from smdbg._proc import pid_alive
from smdbg.exceptions import StoreError, TrialExistsError
from smdbg.store.format import END_FILE, EVENTS_DIR, LEASE_FILE, PROGRESS_FILE, SegmentName
from smdbg.store.fs import StoreFS

__all__ = [
    "Lease", "LeaseInfo", "LeaseHeldError", "CorruptLeaseError", "TrialExistsError", "refuse_existing",
    "read_lease", "check_no_live_writer", "abnormal_end",
]  # fmt: skip

log = logging.getLogger(__name__)

HEARTBEAT_SECS = 5.0
STALE_SECS = 60.0


class LeaseHeldError(StoreError, RuntimeError):
    """Another live writer holds the worker stream."""


class CorruptLeaseError(StoreError, ValueError):
    """A lease file that does not parse."""


@dataclass(frozen=True)
class LeaseInfo:
    host: str
    pid: int
    run_id: str
    started: float
    heartbeat: float
    stale_after: float = STALE_SECS

    def describe(self, now: float | None = None) -> str:
        age = (time.time() if now is None else now) - self.heartbeat
        return f"pid {self.pid} on host {self.host!r}, last heartbeat {age:.0f}s ago"

    def dead(self, now: float | None = None) -> str | None:
        """Why the owner is gone, or None while it is alive."""
        age = (time.time() if now is None else now) - self.heartbeat
        if self.host == socket.gethostname() and not pid_alive(self.pid):
            return f"its process (pid {self.pid} on this host) is gone"
        if age > self.stale_after:
            return f"no heartbeat for {age:.0f}s (pid {self.pid} on host {self.host!r})"
        return None


def refuse_existing(
    fs: StoreFS, worker_dir: str, names: list[str] | None = None, held: LeaseInfo | None = None
) -> None:
    """Raise :class:`TrialExistsError` if the worker stream already holds a run (segments,
    progress or an end marker): the one check behind "a re-run into a used out_dir is refused"."""
    wdir = f"{EVENTS_DIR}/{worker_dir}"
    names = fs.list_dir(wdir) if names is None else names
    segments = sum(1 for n in names if SegmentName.parse(n) is not None)
    if not (segments or END_FILE in names or PROGRESS_FILE in names):
        return
    found = f"{segments} segments" + (f", training ended ({wdir}/{END_FILE})" if END_FILE in names else "")
    if held is not None:
        found += f", its writer stopped without closing: {held.dead()}"
    raise TrialExistsError(fs.url(), worker_dir, found)


def lease_path(worker_dir: str) -> str:
    return f"{EVENTS_DIR}/{worker_dir}/{LEASE_FILE}"


def read_lease(fs: StoreFS, worker_dir: str) -> LeaseInfo | None:
    """The lease of a worker stream; None if there is none. CorruptLeaseError names a bad file."""
    path = lease_path(worker_dir)
    try:
        raw = fs.read_bytes(path)
    except FileNotFoundError:
        return None
    try:
        doc = json.loads(raw)
        return LeaseInfo(
            host=str(doc["host"]), pid=int(doc["pid"]), run_id=str(doc["run_id"]),
            started=float(doc["started"]), heartbeat=float(doc["heartbeat"]),
            stale_after=float(doc.get("stale_after", STALE_SECS)),
        )  # fmt: skip
    except (ValueError, KeyError, TypeError) as e:
        raise CorruptLeaseError(
            f"the lease file {fs.url(path)} is corrupt ({type(e).__name__}: {e}); expected JSON with "
            "host, pid, run_id, started and heartbeat: if no writer is running, delete it"
        ) from e


def check_no_live_writer(fs: StoreFS, worker_dir: str, action: str) -> None:
    """Raise LeaseHeldError naming the writer if one is alive on the stream (for ``action``)."""
    info = read_lease(fs, worker_dir)
    if info is not None and info.dead() is None:
        raise LeaseHeldError(
            f"cannot {action} worker {worker_dir!r} of trial {fs.url()}: a writer is still writing it "
            f"({info.describe()}); wait for it to finish"
        )


def abnormal_end(fs: StoreFS, worker_dir: str, warned: set[str]) -> dict[str, object] | None:
    """For a stream without an end marker: the end state when its writer died (a dead lease),
    else None. A corrupt lease file is reported once (``warned``) and otherwise ignored."""
    try:
        info = read_lease(fs, worker_dir)
    except CorruptLeaseError as e:
        if worker_dir not in warned:
            warned.add(worker_dir)
            log.warning("%s", e)
            warnings.warn(str(e), stacklevel=4)
        return None
    why = None if info is None else info.dead()
    if info is None or why is None:
        return None
    return {"abnormal": True, "reason": f"the writer stopped without closing: {why}", "time": info.heartbeat}


class Lease:
    """The lease a writer holds on its worker stream."""

    def __init__(self, fs: StoreFS, worker_dir: str, stale_after: float = STALE_SECS) -> None:
        self.fs = fs
        self.worker_dir = worker_dir
        self.path = lease_path(worker_dir)
        now = time.time()
        self.info = LeaseInfo(socket.gethostname(), os.getpid(), uuid.uuid4().hex, now, now, stale_after)

    def acquire(self, overwrite: bool = False, append: bool = False) -> None:
        """Take the stream: refuse a live owner (:class:`LeaseHeldError`) and a stream an earlier
        run wrote (:class:`TrialExistsError`: segments, progress or an end marker), unless
        ``overwrite`` (its files are removed) or ``append`` (its segment sequence goes on, e.g.
        after a crash; a dead owner's lease is taken over with a warning)."""
        url = self.fs.url()
        try:
            held = read_lease(self.fs, self.worker_dir)
        except CorruptLeaseError as e:
            warnings.warn(f"{e}; taking the lease over", stacklevel=3)
            held = None
        if held is not None:
            why = held.dead()
            if why is None:
                raise LeaseHeldError(
                    f"another writer is writing worker {self.worker_dir!r} of trial {url} "
                    f"({held.describe()}): use another out_dir, or stop that run first"
                )
        wdir = f"{EVENTS_DIR}/{self.worker_dir}"
        names = self.fs.list_dir(wdir)
        if not (overwrite or append):
            refuse_existing(self.fs, self.worker_dir, names, held)
        if overwrite:
            for name in names:
                self.fs.remove(f"{wdir}/{name}")
        elif held is not None:
            warnings.warn(
                f"taking over worker {self.worker_dir!r} of trial {url} from a writer that stopped "
                f"without closing: {held.dead()}; its published segments are kept",
                stacklevel=3,
            )
        self._write()

    def _write(self) -> None:
        self.fs.write_atomic(self.path, json.dumps(asdict(self.info)).encode(), fsync=False)

    def heartbeat(self) -> None:
        """Renew the lease; LeaseHeldError if another writer took it over meanwhile."""
        try:
            held = read_lease(self.fs, self.worker_dir)
        except CorruptLeaseError:
            held = None
        if held is not None and held.run_id != self.info.run_id:
            raise LeaseHeldError(
                f"another writer took over worker {self.worker_dir!r} of trial {self.fs.url()} "
                f"({held.describe()}); this writer stops so the two do not mix"
            )
        self.info = LeaseInfo(**{**asdict(self.info), "heartbeat": time.time()})
        self._write()

    def release(self) -> None:
        self.fs.remove(self.path)
