"""The browser rows of ``studio_bench.py``: in a real Chromium (Playwright), a long series drawn by
the debugger page and a live update shown after a save.

* **series render**: a trial whose one tensor has a reduction saved at ``points`` steps (written
  straight through the store's writer, as ``_long_run.py`` does); the time from the browser's
  request for the trial page to the chart drawn (the page's ``smdbg-series-drawn`` performance
  mark, from the navigation's start). The server sends the min/max down-sampled series (2,000
  points, labelled "2,000 of 100,000 points"). Baseline: the same page asking for
  ``points=20000`` (the most the server sends), a ten times denser chart.
* **live update**: ``tests/studio/_live_writer.py`` trains a tiny PyTorch model through a real
  hook (flush every 0.2 s), saving every step, one step every 0.5 s; the page is open on the
  loss. One repetition: the next step the page shows, from the writer handing it to the hook
  (printed by the writer) to the chart drawing it (``Date.now()`` in the page; same clock).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _long_run import write_long_trial  # noqa: E402

__all__ = ["Browser", "series_render", "series_render_dense", "live_update"]

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
TENSOR = "Net_layer0.weight"


class Browser:
    """Chromium and one page, the trials folder the studio serves, and the live writer (started on
    first use). ``close()`` stops what it started."""

    def __init__(self, base_url: str, trials: Path, points: int) -> None:
        from playwright.sync_api import sync_playwright

        self.base_url, self.trials, self.points = base_url, trials, points
        self._pw = sync_playwright().start()
        self._browser = self._pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        self.page = self._browser.new_page(viewport={"width": 1280, "height": 900})
        self._long: str | None = None
        self._writer: subprocess.Popen[str] | None = None
        self.saved: dict[int, float] = {}  # step -> unix time the writer handed it to the hook
        self.seen = -1  # the last step a live repetition measured

    def long_trial_url(self, **extra: Any) -> str:
        if self._long is None:
            write_long_trial(str(self.trials / "long"), segments=self.points // 1000, tensors=1, steps_per_segment=1000)
            self._long = f"{self.trials.name}/long"
        query = {"trial": self._long, "tensor": TENSOR, "reduction": "mean", **extra}
        return f"{self.base_url}/debugger/trial?{urlencode(query)}"

    def drawn_ms(self, url: str) -> float:
        """Milliseconds from the navigation's start to the page's series-drawn mark."""
        self.page.goto(url)
        self.page.wait_for_function("() => performance.getEntriesByName('smdbg-series-drawn').length > 0",
                                    timeout=120_000)  # fmt: skip
        return float(self.page.evaluate("() => performance.getEntriesByName('smdbg-series-drawn')[0].startTime"))

    def start_live(self) -> None:
        out, stop = self.trials / "live", self.trials / "live.stop"
        writer = ROOT / "tests" / "studio" / "_live_writer.py"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self._writer = subprocess.Popen([sys.executable, str(writer), str(out), str(stop), "0.5", "600"],
                                        stdout=subprocess.PIPE, text=True, env=env)  # fmt: skip
        threading.Thread(target=self._read_steps, daemon=True).start()
        while len(self.saved) < 3:  # a trial with a few steps to open
            time.sleep(0.05)
        self.page.goto(f"{self.base_url}/debugger/trial?{urlencode({'trial': f'{self.trials.name}/live'})}")
        self.page.wait_for_selector("#series-label[data-total]")
        self.seen = max(self.saved)

    def _read_steps(self) -> None:
        assert self._writer is not None and self._writer.stdout is not None
        for line in self._writer.stdout:
            _, n, t = line.split()
            self.saved[int(n)] = float(t)

    def close(self) -> None:
        if self._writer is not None:
            (self.trials / "live.stop").touch()
            self._writer.wait(timeout=60)
        self._browser.close()
        self._pw.stop()


def series_render(b: Browser) -> float:
    return b.drawn_ms(b.long_trial_url()) / 1000


def series_render_dense(b: Browser) -> float:
    return b.drawn_ms(b.long_trial_url(points=20000)) / 1000


def live_update(b: Browser) -> float:
    """Seconds from a save to the page showing it, for the next step shown after the last one measured."""
    if b._writer is None:
        b.start_live()
    after = b.seen
    b.page.wait_for_function(f"() => Object.keys(window.smdbgDebugger.shown).some(k => +k > {after})", timeout=60_000)
    shown = {int(k): v / 1000.0 for k, v in b.page.evaluate("() => window.smdbgDebugger.shown").items()}
    step = min(s for s in shown if s > after)
    deadline = time.monotonic() + 10
    while step not in b.saved and time.monotonic() < deadline:  # its stdout line may still be on its way
        time.sleep(0.01)
    b.seen = max(shown)
    return shown[step] - b.saved[step]
