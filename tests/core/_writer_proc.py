"""A training-like writer process used by the real-time, SIGKILL and disk-full tests.

usage: python _writer_proc.py TRIAL MODE STEPS DELAY [RAW_BYTES [COMPACT_SECS]]
MODE: "normal" (write STEPS steps, DELAY s apart, then close), "forever" (never close),
"fill" (write until the writer reports an error, then check what was published), "fill-free"
(the same, but free space, the ``ballast`` file beside the trial, before closing).
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from smdbg.exceptions import StoreWriteError
from smdbg.store import BackgroundWriter, Record
from smdbg.trials import create_trial


def records(step: int, nbytes: int) -> list[Record]:
    w = np.full(max(nbytes // 4, 1), step, dtype=np.float32)
    return [
        Record("w", ("weights",), "raw", None, "float32", w.shape, w),
        Record("w", ("weights",), "mean", float(step), "float32", None, None),
        Record("loss", ("losses",), "raw", float(step), "float32", (), np.float32(step).tobytes()),
    ]


def main() -> None:
    path, mode, steps, delay = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    nbytes = int(sys.argv[5]) if len(sys.argv) > 5 else 64
    compact = float(sys.argv[6]) if len(sys.argv) > 6 else 10.0
    writer = BackgroundWriter(
        path,
        "worker_0",
        flush_secs=0.1,
        segment_bytes=256 << 10,
        max_pending_bytes=1 << 20,
        compact_secs=compact,
    )
    writer.write_trial_metadata({"framework": "test", "num_workers": 1})
    print("started", flush=True)
    step = 0
    try:
        while mode != "normal" or step < steps:
            writer.set_progress(step, "TRAIN", step)
            writer.add(step, "TRAIN", step, records(step, nbytes))
            step += 1
            time.sleep(delay)
    except StoreWriteError as e:
        trial = create_trial(path, timeout=5)
        steps_read = trial.steps(show_incomplete_steps=True)
        values_ok = all(float(trial.tensor("w").value(s)[0]) == s for s in steps_read)
        if mode == "fill-free":
            os.unlink(os.path.join(os.path.dirname(path.rstrip("/")), "ballast"))
        try:
            writer.close()
            closed = "no error"
        except StoreWriteError as e2:
            closed = str(e2)
        after = create_trial(path, timeout=5)
        print(json.dumps({"error": str(e), "cause": repr(e.__cause__), "failed_at": step, "steps": steps_read,
                          "values_ok": values_ok, "corrupt": trial.corrupt_segments, "close": closed,
                          "ended": after.training_has_ended(), "end_reasons": after.end_reasons(),
                          "steps_after": after.steps()}), flush=True)  # fmt: skip
        return
    writer.set_progress(step, "TRAIN", step)
    writer.close()
    print("closed", flush=True)


if __name__ == "__main__":
    main()
