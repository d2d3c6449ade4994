"""Background compaction on and off under the PyTorch hook (``hook_overhead.py --compaction``).

One model and one hook for the whole case, as in a long run; the hook saves the weights',
biases' and gradients' reductions every step and its writer publishes a segment every
``--compaction-flush`` s (0.25: four times the default rate, more segments to merge). Rounds of
three blocks of about ``--compaction-secs`` seconds each, A (off), B (on) and C (off again), in a
rotating order (see :func:`rounds`); for an "on" block a background compactor is started on the
writer's stream (a merge round every
``--compaction-interval`` s taking ``--compaction-fanout`` segments: 0.5 and 4 by default, far more
compaction work than the writer's own 10 s and 16; pass 10, 16 and a flush of 1 for the defaults),
for an "off" block it is stopped first (outside the timing). An "on" block also merges what the
off blocks before it left, so it does up to three blocks' worth of compaction: the cost it shows
is an upper bound. C/A, off against off, is the harness's own noise.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import _overhead_pytorch
from _overhead_pytorch import _Shared

__all__ = ["rounds", "CONFIG", "compaction_rounds"]

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


ORDERS = ("ABC", "BCA", "CAB")  # A: off, B: on, C: off again; each at each place in turn


def rounds(args: argparse.Namespace) -> tuple[str, int, dict[str, list[float]]]:
    """``args.repeats`` rounds of three blocks, A (compaction off), B (on) and C (off again),
    in a rotating order (ABC, BCA, CAB, ...: a drift of the machine's speed hits every arm
    alike). Returns the model, the steps per block and each arm's seconds per step by round:
    B/A per round is compaction's cost, C/A the harness's own noise."""
    import torch

    device = getattr(args, "device", "cpu")
    torch.set_num_threads(getattr(args, "threads", 1))
    model = (args.models or "mlp").split(",")[0]
    _STATE.update(interval=args.compaction_interval, fanout=args.compaction_fanout)
    shared = _setup(model, device, args.compaction_flush)
    per_step = shared.run(50)
    steps = max(50, int(args.compaction_secs / per_step))
    out: dict[str, list[float]] = {"A": [], "B": [], "C": []}
    for i in range(args.repeats):
        for arm in ORDERS[i % len(ORDERS)]:
            _toggle(arm == "B")  # not timed: stopping waits for the merge in progress
            out[arm].append(shared.run(steps))
        print(f"  round {i + 1}: on/off {out['B'][-1] / out['A'][-1]:.3f}, off/off {out['C'][-1] / out['A'][-1]:.3f}",
              file=sys.stderr, flush=True)  # fmt: skip
    return model, steps, out


def cleanup() -> None:
    if "compactor" in _STATE:
        _toggle(False)
        _STATE["hook"].close()
    _STATE.clear()
    _overhead_pytorch.cleanup()
