"""The writers of this process, by trial: a reader in the same process asks them to publish first.

A :class:`~smdbg.store.BackgroundWriter` publishes on its own clock (a segment when its buffer is
``flush_secs`` old, progress likewise), which is right for readers in other processes. A reader
in the training process itself (a notebook that trains and then looks, a rule evaluated between
epochs) should see every step the hook has passed at once: before it lists the trial it calls
:func:`publish_local`, which asks every live writer of that trial in this process to publish
what it was handed, and waits until it is on storage.

The registry holds writers weakly, by the trial's location (a local path resolved through
symbolic links, or the URL): a writer registers when it opens and unregisters when it closes.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Protocol

from smdbg.store.fs import LocalFS, StoreFS

__all__ = ["Publisher", "trial_key", "register", "unregister", "publish_local", "live_writers"]


class Publisher(Protocol):
    """A writer that can publish on request (what :class:`~smdbg.store.BackgroundWriter` offers)."""

    #: How many times it published (a segment or its progress); only grows.
    publications: int

    def publish_pending(self) -> bool:
        """Publish what was handed over and is not on storage yet; True if there was any.
        Never raises: a writer that failed or closed reports through its own caller."""
        ...


_lock = threading.Lock()
_writers: dict[str, weakref.WeakSet[Publisher]] = {}


def trial_key(fs: StoreFS) -> str:
    """Where a trial is, as the registry names it: the same for a writer and a reader of it."""
    return os.path.realpath(fs.root) if isinstance(fs, LocalFS) else fs.root.rstrip("/")


def register(fs: StoreFS, writer: Publisher) -> None:
    """``writer`` writes the trial at ``fs`` from this process."""
    with _lock:
        _writers.setdefault(trial_key(fs), weakref.WeakSet()).add(writer)


def unregister(fs: StoreFS, writer: Publisher) -> None:
    """``writer`` closed (no error if it was not registered)."""
    key = trial_key(fs)
    with _lock:
        group = _writers.get(key)
        if group is not None:
            group.discard(writer)
            if not group:
                del _writers[key]


def live_writers(fs: StoreFS) -> list[Publisher]:
    """The live writers of the trial at ``fs`` in this process."""
    with _lock:
        group = _writers.get(trial_key(fs))
        return [] if group is None else list(group)


def publish_local(fs: StoreFS) -> int:
    """Ask this process's writers of the trial at ``fs`` to publish what they were handed; returns
    once it is on storage. Cheap when none has anything new: no file is touched.

    Returns a number that changes whenever one of them published (for anyone: another reader's
    request, or its own clock), 0 without writers here: a reader that saw another number last
    time has something to read now."""
    total = 0
    for writer in live_writers(fs):
        writer.publish_pending()
        total += writer.publications + 1
    return total
