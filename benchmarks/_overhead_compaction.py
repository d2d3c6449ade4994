"""Background compaction on and off under the PyTorch hook (``hook_overhead.py --compaction``).

One model and one hook for the whole case, as in a long run; the hook saves the weights',
biases' and gradients' reductions every step and its writer publishes a segment every
``--compaction-flush`` s (0.25: four times the default rate, more segments to merge). Blocks of
about ``--compaction-secs`` seconds alternate (ABBA) between compaction off and on; for an "on"
block a background compactor is started on the writer's stream (a merge round every
``--compaction-interval`` s taking ``--compaction-fanout`` segments: 0.5 and 4 by default, far more
compaction work than the writer's own 10 s and 16; pass 10, 16 and a flush of 1 for the defaults),
for an "off" block it is stopped first (outside the timing). The "off vs off" row is the harness's
own noise.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import _overhead_pytorch
from _overhead_pytorch import _Shared

__all__ = ["cases", "CONFIG", "compaction_rounds"]

CONFIG: dict[str, Any] = {"collections": ["weights", "biases", "gradients"], "interval": 1, "reduce": True}
_STATE: dict[str, Any] = {}


def _toggle(on: bool) -> None:
    from smdbg.store._background import BackgroundCompactor

    running = _STATE.get("background")
    if on and running is None:
        _STATE["background"] = BackgroundCompactor(_STATE["compactor"], interval=_STATE["interval"], fanout=_STATE["fanout"])
    elif not on and running is not None:
        running.stop()
        _STATE["rounds"] += running.rounds
        _STATE["background"] = None


def compaction_rounds() -> int:
    """Compaction rounds run in the "on" blocks (compaction is stopped first)."""
    _toggle(False)
    return int(_STATE.get("rounds", 0))


def _setup(model: str, device: str, flush_secs: float) -> _Shared:
    from smdbg.store import open_fs
    from smdbg.store.local_writers import live_writers

    shared = _Shared(model, device)
    hook, out = shared.attach(CONFIG, flush_secs=flush_secs)
    shared.run(5)  # the hook opens its writer at its first saved step
    (writer,) = live_writers(open_fs(out))
    # The writer's own compactor (every 10 s) is stopped; each "on" block starts one on the
    # same stream (a private attribute: the hook has no switch for it).
    background = writer._compactor  # type: ignore[attr-defined]
    background.stop()
    _STATE.update(compactor=background.compactor, background=None, rounds=0, hook=hook)
    return shared


def cases(args: argparse.Namespace) -> list[tuple[str, str, Callable[[], float], Callable[[], float]]]:
    import torch

    device = getattr(args, "device", "cpu")
    torch.set_num_threads(getattr(args, "threads", 1))
    model = (args.models or "mlp").split(",")[0]
    _STATE.update(interval=args.compaction_interval, fanout=args.compaction_fanout)
    shared = _setup(model, device, args.compaction_flush)
    per_step = shared.run(50)
    steps = max(50, int(args.compaction_secs / per_step))

    def block(on: bool) -> Callable[[], float]:
        def run() -> float:
            _toggle(on)  # not timed: stopping waits for the merge in progress
            return shared.run(steps)

        return run

    off, on = block(False), block(True)
    return [
        (model, f"compaction off vs off (noise), {steps} steps", off, off),
        (model, f"compaction off vs on, {steps} steps", off, on),
    ]


def cleanup() -> None:
    if "compactor" in _STATE:
        _toggle(False)
        _STATE["hook"].close()
    _STATE.clear()
    _overhead_pytorch.cleanup()
