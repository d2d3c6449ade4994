"""Studio debugger benchmark, in a real Chromium: a long series drawn, and a live update shown.

    .venv/bin/python benchmarks/studio_debugger_bench.py            # 100,000-point series
    .venv/bin/python benchmarks/studio_debugger_bench.py --quick    # 10,000 points, 3 repeats

Rows (targets from issue 22):

* **series render**: a trial whose one tensor has a reduction saved at 100,000 steps (written
  straight through the store's writer, as ``_long_run.py`` does); the time from the browser's
  request for the trial page to the chart drawn (the page's ``smdbg-series-drawn`` performance
  mark, measured from the navigation start). The server sends the min/max down-sampled series
  (2,000 points, labelled "2,000 of 100,000 points"). Target 1 s. Baseline: the same page asking
  for ``points=20000`` (the most the server sends), a ten times denser chart.
* **live update**: ``tests/studio/_live_writer.py`` trains a tiny PyTorch model through a real
  hook (flush every 0.2 s), saving every step, one step every 0.5 s; the page is open on the
  loss. For each step the page shows, the time from the writer handing the step to the hook
  (printed by the writer) to the chart drawing it (``Date.now()`` in the page; same clock).
  Target 2 s.

Each row prints the first run, the median of ``--repeat`` runs, and the median's ratio to the
target (below 1 meets it) and to the baseline where there is one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _long_run import write_long_trial  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"


def _drawn_ms(page: Any, url: str) -> float:
    """Milliseconds from the navigation's start to the page's series-drawn mark."""
    page.goto(url)
    page.wait_for_function("() => performance.getEntriesByName('smdbg-series-drawn').length > 0", timeout=120_000)
    return float(page.evaluate("() => performance.getEntriesByName('smdbg-series-drawn')[0].startTime"))


def series_row(page: Any, base: str, trials: Path, points: int, repeat: int) -> tuple[list[float], list[float], str]:
    trial = trials / "long"
    write_long_trial(str(trial), segments=points // 1000, tensors=1, steps_per_segment=1000)
    q = {"trial": f"{trials.name}/long", "tensor": "Net_layer0.weight", "reduction": "mean"}
    url = f"{base}/debugger/trial?{urlencode(q)}"
    runs = [_drawn_ms(page, url) for _ in range(repeat + 1)]
    label = page.locator("#series-label").inner_text()
    dense = [_drawn_ms(page, url + "&points=20000") for _ in range(repeat + 1)]
    return runs, dense, label


def live_row(page: Any, base: str, trials: Path, steps: int) -> list[float]:
    out, stop = trials / "live", trials / "live.stop"
    writer = ROOT / "tests" / "studio" / "_live_writer.py"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(writer), str(out), str(stop), "0.5", "300"], stdout=subprocess.PIPE,
                            text=True, env=env)  # fmt: skip
    saved: dict[int, float] = {}
    try:
        assert proc.stdout is not None
        for _ in range(3):  # a trial with a few steps to open
            _, n, t = proc.stdout.readline().split()
            saved[int(n)] = float(t)
        page.goto(f"{base}/debugger/trial?{urlencode({'trial': f'{trials.name}/live'})}")
        page.wait_for_selector("#series-label[data-total]")
        first_live = max(saved) + 1
        while len(saved) < first_live + steps:
            _, n, t = proc.stdout.readline().split()
            saved[int(n)] = float(t)
        page.wait_for_function(
            f"() => Object.keys(window.smdbgDebugger.shown).some(k => +k >= {first_live + steps - 1})", timeout=60_000
        )
        shown = {int(k): v / 1000.0 for k, v in page.evaluate("() => window.smdbgDebugger.shown").items()}
    finally:
        stop.touch()
        proc.wait(timeout=60)
    return [(shown[s] - saved[s]) * 1000 for s in sorted(shown) if s >= first_live and s in saved]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--live-steps", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="10,000 points, 3 repeats, 5 live steps")
    args = ap.parse_args()
    if args.quick:
        args.points, args.repeat, args.live_steps = 10_000, 3, 5
    from playwright.sync_api import sync_playwright

    from smdbg.studio import serve

    trials = Path(tempfile.mkdtemp(prefix="studio-debugger-bench-")) / "trials"
    trials.mkdir()
    handle = serve(port=0, trial_roots=[str(trials)], tracker_db_url=f"sqlite:///{trials.parent / 'tracker.db'}")
    base = f"http://127.0.0.1:{handle.port}"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            runs, dense, label = series_row(page, base, trials, args.points, args.repeat)
            live = live_row(page, base, trials, args.live_steps)
            browser.close()
    finally:
        handle.stop()
    table = [
        (f"series render, {args.points:,} points ({label})", runs[0], statistics.median(runs[1:]), 1000.0,
         statistics.median(dense[1:])),
        (f"live update save -> shown ({len(live)} steps; max {max(live):.0f} ms)", live[0], statistics.median(live), 2000.0,
         None),
    ]  # fmt: skip
    header = ("case", "first ms", "median ms", "target ms", "median/target", "baseline ms", "median/baseline")
    lines = [header] + [
        (name, f"{first:.0f}", f"{med:.0f}", f"{target:.0f}", f"{med / target:.2f}",
         "" if b is None else f"{b:.0f}", "" if b is None else f"{med / b:.2f}")
        for name, first, med, target, b in table
    ]  # fmt: skip
    widths = [max(len(r[i]) for r in lines) for i in range(len(header))]
    print("\nbaseline of the series row: the same page at points=20000 (the most the server sends)")
    for r in lines:
        print(" | ".join(x.ljust(w) for x, w in zip(r, widths)))


if __name__ == "__main__":
    main()
