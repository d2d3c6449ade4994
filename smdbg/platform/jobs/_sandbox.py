"""Who a job's workers run as, and the root filesystem the local backend gives them.

When smdbg runs as root, workers run as ``SMDBG_JOBS_USER`` (default ``65534:65534``, nobody):
the job's writable mounts are handed to that user, everything else stays root's. As any other
user, workers run as that user (nobody can be switched to).

The local backend's worker sees a new root filesystem built in its private mount namespace
(:func:`sandbox_script`): a fresh tmpfs holding read-only binds of the system (``/usr``, ``/etc``,
``/lib*``...), of the interpreter, virtualenv and smdbg checkout the worker runs, and of the
``PYTHONPATH`` entries it was given; its own ``/tmp``, ``/dev/shm``, ``/proc``; and the job
contract's mounts (``/opt/ml``). The rest of the host's files (home directories, other jobs, the
caller's data) is not there. Then it changes root and drops to the job user.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from smdbg import _settings
from smdbg.platform.jobs._backend import Mount
from smdbg.platform.jobs._errors import JobError

__all__ = ["job_user", "hand_over", "runtime_paths", "sandbox_script", "SYSTEM_PATHS", "SANDBOX_HOME"]

#: host paths every sandboxed worker sees read-only (when they exist)
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/sys")
_DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
#: HOME of a worker that runs as another user or in a sandbox (its own tmpfs)
SANDBOX_HOME = "/tmp"


def job_user() -> tuple[int, int] | None:
    """``(uid, gid)`` workers switch to, or None to run them as this process's user."""
    if os.geteuid() != 0:
        return None
    raw = _settings.JOBS_USER.get() or "65534:65534"
    uid_s, _, gid_s = raw.partition(":")
    try:
        uid, gid = int(uid_s), int(gid_s or uid_s)
    except ValueError:
        raise JobError(
            f"SMDBG_JOBS_USER={raw!r}: expected numeric uid:gid, e.g. 65534:65534 (0:0 keeps root)"
        ) from None
    if uid < 0 or gid < 0:
        raise JobError(f"SMDBG_JOBS_USER={raw!r}: expected non-negative uid:gid")
    return uid, gid


def hand_over(mounts: Iterable[Mount], user: tuple[int, int] | None) -> None:
    """Give the job user the host side of every writable mount (files and folders within)."""
    if user is None or user == (os.geteuid(), os.getegid()):
        return
    uid, gid = user
    for m in mounts:
        if m.read_only:
            continue
        os.chown(m.host, uid, gid, follow_symlinks=False)
        for dirpath, dirnames, filenames in os.walk(m.host):
            for name in dirnames + filenames:
                os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)


def _outermost(paths: Iterable[str]) -> list[str]:
    keep = sorted({p for p in paths if p not in ("/", "/usr", "/usr/local")})
    return [p for p in keep if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in keep)]


def runtime_paths(extra: Iterable[str] = ()) -> list[str]:
    """Host folders a worker needs to run this interpreter with smdbg: its prefixes (real paths),
    the smdbg checkout, and ``extra`` (e.g. ``PYTHONPATH`` entries), outermost only."""
    import smdbg

    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), sys.prefix}
    paths.add(str(Path(smdbg.__file__).resolve().parent.parent))
    paths.update(os.path.realpath(p) for p in extra if p and os.path.isdir(p))
    return _outermost(paths)


def _tool(name: str) -> str:
    """A system tool by absolute path (the worker's PATH may lack /usr/sbin)."""
    return shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin") or name


def _q(path: str) -> str:
    return shlex.quote(path)


def sandbox_script(
    root: str, mounts: list[Mount], workdir: str, env: Mapping[str, str], user: tuple[int, int] | None
) -> str:
    """The ``sh`` script, run in a private mount namespace, that builds the worker's root at
    ``root`` (an empty folder) and execs ``"$@"`` in it as ``user``."""
    r = root.rstrip("/")
    pythonpath = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    steps = [
        "set -e",
        f'mount() {{ {_q(_tool("mount"))} "$@"; }}',
        # a read-only bind of a host folder (a symlink such as /bin -> usr/bin is copied as a link)
        'ro() { if [ -L "$1" ]; then mkdir -p "$(dirname "$R$1")"; ln -s "$(readlink "$1")" "$R$1"; '
        'elif [ -d "$1" ]; then mkdir -p "$R$1"; mount --rbind "$1" "$R$1"; mount -o remount,bind,ro "$R$1"; fi; }',
        f"R={_q(r)}",
        'mount -t tmpfs -o mode=0755 smdbg-job "$R"',
    ]
    for p in [*SYSTEM_PATHS, *runtime_paths(pythonpath)]:
        steps.append(f"ro {_q(p)}")
    steps += [
        'mkdir -p "$R/dev" "$R/proc" "$R/tmp" "$R/dev/shm"',
        *(
            f'if [ -e /dev/{d} ]; then touch "$R/dev/{d}"; mount --bind /dev/{d} "$R/dev/{d}"; fi'
            for d in _DEVICES
        ),
        'ln -s /proc/self/fd "$R/dev/fd"',
        'mount -t tmpfs -o mode=1777 smdbg-shm "$R/dev/shm"',
        'mount -t tmpfs -o mode=1777 smdbg-tmp "$R/tmp"',
        'mount -t proc proc "$R/proc"',
    ]
    for m in mounts:
        target = f'"$R"{_q(m.container)}'
        make = (
            f"mkdir -p {target}"
            if os.path.isdir(m.host)
            else f'mkdir -p "$(dirname {target})"; touch {target}'
        )
        steps.append(f"{make}; mount --bind {_q(m.host)} {target}")
        if m.read_only:
            steps.append(f"mount -o remount,bind,ro {target}")
    drop = ""
    if user is not None:
        uid, gid = user
        drop = f"{_q(_tool('setpriv'))} --reuid={uid} --regid={gid} --clear-groups --no-new-privs -- "
    inner = 'cd "$0" && exec "$@"'
    steps.append(f'exec {_q(_tool("chroot"))} "$R" {drop}/bin/sh -c {_q(inner)} {_q(workdir)} "$@"')
    return "; ".join(steps)
