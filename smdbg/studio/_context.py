"""What every page handler of the studio shares: the configuration, the tracker backend (opened
on first use), and the one check that keeps a file read inside a configured store."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from smdbg.studio._errors import StudioHTTPError

if TYPE_CHECKING:
    from smdbg.tracker import TrackerBackend

__all__ = ["StudioConfig", "Studio", "is_loopback", "inside"]

T = TypeVar("T")

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def is_loopback(host: str) -> bool:
    """True for names and addresses that only this machine can reach."""
    host = host.strip("[]")
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def inside(root: str | Path, relative: str) -> Path:
    """``root / relative`` resolved, if it stays inside ``root`` (links followed); else a 404.
    Every file the studio serves from a store or from its static folder goes through here."""
    base = Path(root).resolve()
    target = (base / relative).resolve()
    if target != base and base not in target.parents:
        raise StudioHTTPError(404, f"{relative!r} is not inside the studio's stores")
    return target


@dataclass(frozen=True)
class StudioConfig:
    """Where the studio reads from. ``tracker_db_url`` None means the tracker's default
    (``$SMDBG_TRACKER_URL``, else ``~/.smdbg/tracker.db``); ``trial_roots`` are directories (or
    URLs) holding debugger trials; ``platform_root`` is the platform's state directory (its
    ``jobs/`` and ``endpoints/``; None: the settings' default, ``$SMDBG_HOME`` else ``~/.smdbg``,
    resolved once by :class:`Studio`); ``token``, when set, is required on every request."""

    tracker_db_url: str | None = None
    trial_roots: tuple[str, ...] = ()
    platform_root: str | None = None
    token: str | None = None


class Studio:
    """The shared state of one studio app (one per ``create_app``)."""

    def __init__(self, config: StudioConfig) -> None:
        from smdbg._settings import home

        self.config = config
        #: The platform's state directory every platform page reads (passed down, never re-read
        #: from the environment by the pages).
        self.platform_root = Path(config.platform_root).expanduser() if config.platform_root else home()
        self._lock = threading.Lock()
        self._tracker: TrackerBackend | None = None
        self._cache: dict[Hashable, tuple[Hashable, Any]] = {}

    def tracker(self) -> TrackerBackend:
        """The tracker backend, opened (and migrated) on first use."""
        with self._lock:
            if self._tracker is None:
                from smdbg.tracker import get_backend

                self._tracker = get_backend(self.config.tracker_db_url)
            return self._tracker

    def cached(self, key: Hashable, fingerprint: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, reused while ``fingerprint`` (something cheap that changes when the
        answer would, e.g. a count and a last-modified time) stays the same for ``key``."""
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] == fingerprint:
            return hit[1]  # type: ignore[no-any-return]
        value = compute()
        with self._lock:
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[key] = (fingerprint, value)
        return value
