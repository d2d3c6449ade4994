"""A reader process following a live trial, the way a notebook or rule job polls one.

usage: python _reader_proc.py TRIAL STEPS TENSOR

For every global step 0..STEPS-1 (every one is saved by the writer) it asks for TENSOR's value
until it gets it: the only acceptable refusals are StepNotYetAvailable, and TensorUnavailable
while no step up to this one is complete (the writer has not published the tensor yet; on a busy
machine that can take a while). Any other error, or a
``has_passed_step`` answer of UNAVAILABLE for one of these steps, is recorded as spurious.
Prints one JSON line: {"values": n, "not_yet": n, "spurious": [...]}.
"""

from __future__ import annotations

import json
import sys
import time

from smdbg.exceptions import StepNotYetAvailable, TensorUnavailable
from smdbg.trials import StepState, create_trial


def main() -> None:
    path, steps, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    trial = create_trial(path, timeout=60)
    not_yet, spurious = 0, []
    for step in range(steps):
        while True:
            if step % 2:  # asked about before its value, half of the time
                state = trial.has_passed_step(step)
                if state == StepState.UNAVAILABLE:
                    spurious.append(f"has_passed_step({step}) = UNAVAILABLE")
            published = trial.last_complete_step() >= step  # before asking: its data is out
            try:
                value = trial.tensor(name).value(step)
            except StepNotYetAvailable:
                not_yet += 1
                time.sleep(0.002)
                continue
            except Exception as e:  # noqa: BLE001 - every other answer is what this test looks for
                if isinstance(e, TensorUnavailable) and not published:  # not published by any step yet
                    not_yet += 1
                    time.sleep(0.002)
                    continue
                spurious.append(f"value({step}): {type(e).__name__}: {e}")
                time.sleep(0.002)
                if len(spurious) > 50:
                    break
                continue
            if float(value.reshape(-1)[0]) != step:
                spurious.append(f"value({step}) = {value}")
            # its rows may be published a moment before the progress that completes the step
            if (state := trial.has_passed_step(step)) == StepState.UNAVAILABLE:
                spurious.append(f"has_passed_step({step}) after its value: {state}")
            break
    print(json.dumps({"values": steps, "not_yet": not_yet, "spurious": spurious[:50]}), flush=True)


if __name__ == "__main__":
    main()
