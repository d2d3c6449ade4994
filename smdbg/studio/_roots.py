"""Folders the studio may read: found under the configured roots, addressed by a relative id.

A URL names a trial, an AutoML job or a monitoring report by ``<root name>/<relative path>``;
:class:`FolderIndex` resolves only ids it found by walking the roots itself (no symlinks
followed, no hidden folders), so no URL can make the studio read outside them.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Found", "FolderIndex"]


@dataclass(frozen=True)
class Found:
    """A folder found under a root: its id (``root-name/relative/path``) and its path."""

    id: str
    path: Path


class FolderIndex:
    """The folders under ``roots`` for which ``is_match(folder)`` holds (not looking inside a
    match), at most ``max_depth`` levels down. The listing is reused for ``ttl`` seconds."""

    def __init__(self, roots: Sequence[str | os.PathLike[str]], is_match: Callable[[Path], bool],
                 max_depth: int = 4, ttl: float = 2.0) -> None:  # fmt: skip
        self.roots = [Path(r).resolve() for r in roots]
        names = [r.name or "root" for r in self.roots]
        # two roots with the same folder name are told apart by their position
        self.names = [n if names.count(n) == 1 else f"{n}-{i}" for i, n in enumerate(names)]
        self._match, self._depth, self._ttl = is_match, max_depth, ttl
        self._lock = threading.Lock()
        self._listed: tuple[float, dict[str, Found]] = (float("-inf"), {})

    def _walk(self) -> dict[str, Found]:
        found: dict[str, Found] = {}
        for name, root in zip(self.names, self.roots):
            todo = [(root, 0)]
            while todo:
                folder, depth = todo.pop()
                try:
                    if self._match(folder):
                        rel = folder.relative_to(root).as_posix()
                        fid = name if rel == "." else f"{name}/{rel}"
                        found[fid] = Found(fid, folder)
                        continue
                    if depth < self._depth:
                        todo += [(c, depth + 1) for c in folder.iterdir()
                                 if c.is_dir() and not c.is_symlink() and not c.name.startswith(".")]  # fmt: skip
                except OSError:
                    continue
        return dict(sorted(found.items()))

    def all(self, fresh: bool = False) -> dict[str, Found]:
        """Every folder found, by id."""
        with self._lock:
            at, listed = self._listed
            if fresh or time.monotonic() - at > self._ttl:
                listed = self._walk()
                self._listed = (time.monotonic(), listed)
            return listed

    def get(self, fid: str) -> Found | None:
        """The folder ``fid``, looking again once if it is not known (it may have just appeared)."""
        hit = self.all().get(fid)
        return hit if hit is not None else self.all(fresh=True).get(fid)

    def id_for(self, path: str | os.PathLike[str]) -> str | None:
        """The id of the folder at ``path``, if it is one the index finds."""
        target = Path(path).resolve()
        for found in self.all().values():
            if found.path == target:
                return found.id
        return None
