"""The records every store contract test writes: a weight (raw, mean, l2) and a loss per step."""

from __future__ import annotations

import numpy as np

from smdbg.store import BackgroundWriter, Record

__all__ = ["write_steps"]


def write_steps(
    writer: BackgroundWriter, steps: range, mode: str = "TRAIN", seed: int = 0
) -> dict[int, np.ndarray]:
    """Write a weight (raw + mean + l2) and a loss per step; returns the raw weights by step."""
    rng = np.random.default_rng(seed)
    saved = {}
    for step in steps:
        writer.set_progress(step, mode, step)
        w = rng.standard_normal((8, 4)).astype(np.float32)
        saved[step] = w
        writer.add(step, mode, step, [
            Record("Net_fc.weight", ("weights",), "raw", None, "float32", w.shape, w.copy()),
            Record("Net_fc.weight", ("weights",), "mean", float(w.astype(np.float64).mean()), "float32", w.shape, None),
            Record("Net_fc.weight", ("weights",), "l2", float(np.linalg.norm(w.astype(np.float64))), "float32", w.shape, None),
            Record("Loss_output_0", ("losses",), "raw", float(step) * 0.5, "float32", (), np.float32(step * 0.5).tobytes()),
        ])  # fmt: skip
    writer.set_progress(steps.stop, mode, steps.stop)
    return saved
