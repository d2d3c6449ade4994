"""Spill files: capture records that do not fit the writer's memory budget wait on local disk.

A spill directory holds ``spill-<n>.tsv`` files, each a sequence of ``<inferenceTime>\\t<JSON
line>`` lines (a JSON line never holds a raw tab), appended to until it passes ``max_file_bytes``.
The writer takes them back oldest first once the destination accepts files again. Files left by
a server that was killed are picked up by the next server of the same endpoint; each instance
of an endpoint has its own directory, and those of instances a new deployment no longer runs
are adopted by its instance 0.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import IO

__all__ = ["SpillFiles"]


class SpillFiles:
    """Thread-safe: request threads add, the writer thread takes."""

    def __init__(self, directory: str, max_file_bytes: int, adopt: list[Path] | None = None) -> None:
        self.directory = Path(directory)
        self.max_file_bytes = max_file_bytes
        self._lock = threading.Lock()
        self._current: IO[bytes] | None = None
        self._current_path: Path | None = None
        self._current_size = 0
        self._seq = 0
        self.lines = 0  # lines spilled and not yet taken back (those of earlier servers counted when taken)
        self.last_error: str | None = None
        for path in self._files():
            self._seq = max(self._seq, self._number(path) + 1)
        for folder in adopt or ():
            self._adopt(Path(folder))

    def _adopt(self, folder: Path) -> None:
        """Move another (gone) instance's spill files in, after ours, and remove its folder."""
        try:
            for path in sorted(folder.glob("spill-*.tsv"), key=self._number):
                self.directory.mkdir(parents=True, exist_ok=True)
                os.chmod(self.directory, 0o700)
                path.rename(self.directory / f"spill-{self._seq}.tsv")
                self._seq += 1
            folder.rmdir()
        except OSError as e:  # left where it is: the next server of this endpoint tries again
            self.last_error = f"cannot adopt spilled capture records from {folder}: {type(e).__name__}: {e}"

    @staticmethod
    def _number(path: Path) -> int:
        try:
            return int(path.stem.split("-", 1)[1])
        except (IndexError, ValueError):
            return -1

    def _files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("spill-*.tsv"), key=self._number)

    def add(self, lines: Iterable[tuple[str, str]]) -> int:
        """Append ``(inferenceTime, line)`` pairs; returns how many were written (0 on a disk error,
        kept in :attr:`last_error`)."""
        data = b"".join(f"{stamp}\t{line}\n".encode() for stamp, line in lines)
        count = data.count(b"\n")
        if not count:
            return 0
        with self._lock:
            try:
                if self._current is None:
                    self.directory.mkdir(parents=True, exist_ok=True)
                    os.chmod(self.directory, 0o700)
                    self._current_path = self.directory / f"spill-{self._seq}.tsv"
                    self._seq += 1
                    self._current = open(self._current_path, "ab")
                    self._current_size = 0
                self._current.write(data)
                self._current.flush()
            except OSError as e:
                self.last_error = f"cannot spill capture records to {self.directory}: {type(e).__name__}: {e}"
                self._close_current()
                return 0
            self._current_size += len(data)
            self.lines += count
            if self._current_size >= self.max_file_bytes:
                self._close_current()
            return count

    def _close_current(self) -> None:
        if self._current is not None:
            try:
                self._current.close()
            except OSError:
                pass
            self._current = None

    def take(self) -> list[tuple[str, str]]:
        """The records of the oldest spill file (removed), or [] when there are none."""
        with self._lock:
            files = self._files()
            if not files:
                return []
            if files[0] == self._current_path:
                self._close_current()
            path = files[0]
            try:
                text = path.read_bytes().decode("utf-8", errors="replace")
                path.unlink()
            except OSError as e:
                self.last_error = f"cannot read spilled capture records {path}: {type(e).__name__}: {e}"
                return []
        out = []
        for row in text.splitlines():
            stamp, sep, line = row.partition("\t")
            if sep and line:  # a torn last line of a killed server is skipped
                out.append((stamp, line))
        with self._lock:
            self.lines = max(0, self.lines - len(out))
        return out

    def pending(self) -> bool:
        with self._lock:
            return bool(self._files())

    def close(self) -> None:
        with self._lock:
            self._close_current()
        try:
            self.directory.rmdir()  # only when empty: spilled records are kept for the next server
        except OSError:
            pass
