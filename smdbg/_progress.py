"""Progress of long work (rule jobs over big trials, AutoML searches, monitor baselines) on stderr.

On a terminal it is one status line rewritten in place, at most ten times a second. Elsewhere (a
log file, a pipe, CI) it is silent unless asked for (``enabled=True``, ``--progress``); then each
update is a plain line, at most one a second. Nothing here touches the work's results.
"""

from __future__ import annotations

import shutil
import sys
import time
from typing import IO, Any

__all__ = ["Progress", "progress_enabled"]


def progress_enabled(flag: bool | None, stream: IO[str] | None = None) -> bool:
    """``flag`` when given, else whether ``stream`` (stderr) is a terminal."""
    if flag is not None:
        return bool(flag)
    stream = stream or sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


class Progress:
    """``label: done/total (pct) detail, elapsed`` on ``stream``; a no-op when not enabled.

    ``update`` is cheap to call often (it redraws at most every ``interval`` seconds);
    ``note`` prints a whole line without garbling the status line; ``close`` ends it (idempotent;
    also a context manager).
    """

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        enabled: bool | None = None,
        stream: IO[str] | None = None,
        unit: str = "",
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = progress_enabled(enabled, self.stream)
        self.tty = self.enabled and progress_enabled(None, self.stream)
        self.label = label
        self.total = total
        self.unit = unit
        self.done = 0
        self.detail = ""
        self.interval = 0.1 if self.tty else 1.0
        self._started = time.monotonic()
        self._drawn_at = -1e9
        self._width = 0
        self._closed = False

    def update(self, done: int | None = None, detail: str | None = None, *, advance: int = 0,
               total: int | None = None, force: bool = False) -> None:  # fmt: skip
        if total is not None:
            self.total = total
        self.done = (self.done if done is None else done) + advance
        if detail is not None:
            self.detail = detail
        if not self.enabled or self._closed:
            return
        now = time.monotonic()
        if force or now - self._drawn_at >= self.interval:
            self._drawn_at = now
            self._draw(self.text())

    def text(self) -> str:
        count = f"{self.done}" + (f"/{self.total}" if self.total else "")
        if self.unit:
            count += f" {self.unit}"
        pct = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        detail = f" {self.detail}" if self.detail else ""
        return f"{self.label}: {count}{pct}{detail} [{time.monotonic() - self._started:.0f} s]"

    def note(self, line: str, stream: IO[str] | None = None) -> None:
        """Print ``line`` on ``stream`` (default: the progress stream, and only when enabled),
        clearing the status line first so the two do not mix on a terminal."""
        if stream is None and not self.enabled:
            return
        self._clear()
        print(line, file=stream or self.stream, flush=True)
        self._drawn_at = -1e9

    def close(self, final: str | None = None) -> None:
        if self._closed:
            return
        self._closed = True
        if not self.enabled:
            return
        self._clear()
        if final:
            print(final, file=self.stream, flush=True)

    def _draw(self, text: str) -> None:
        if not self.tty:
            print(text, file=self.stream, flush=True)
            return
        cols = shutil.get_terminal_size((100, 20)).columns - 1
        text = text[:cols]
        pad = max(0, self._width - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._width = len(text)

    def _clear(self) -> None:
        if self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
