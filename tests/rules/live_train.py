"""A real (tiny) PyTorch training run for the live rule test: it saves gradient reductions and the
loss every step with the store's writer, plants a NaN at step ``nan_step``, and checks the
trial's stop request at each step boundary, ending with StopTrainingRequested and a closed trial.

usage: live_train.py OUT_DIR NAN_STEP MAX_STEPS SLEEP
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch

from smdbg.exceptions import StopTrainingRequested
from smdbg.store import BackgroundWriter, Record
from smdbg.store.control import read_stop_request


def main() -> None:
    out, nan_step, max_steps, pause = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(64, 8), torch.randn(64, 1)
    w = BackgroundWriter(out, "worker_0", flush_secs=0.2, fsync=False)
    w.write_trial_metadata({"framework": "pytorch", "num_workers": 1})
    saved_at: dict[int, float] = {}
    try:
        for step in range(max_steps):
            if read_stop_request(w.fs) is not None:
                w.close({"stopped": "rule"})
                raise StopTrainingRequested(f"training stopped at step {step} by a rule action")
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            if step == nan_step:
                model[0].weight.grad[0, 0] = float("nan")
            recs = [
                Record(
                    "MSELoss_output_0",
                    ("losses",),
                    "raw",
                    float(loss),
                    "float32",
                    (),
                    np.array(loss.item(), np.float32),
                )
            ]
            for name, p in model.named_parameters():
                g = p.grad.detach().abs()
                recs.append(
                    Record(
                        f"gradient/Net_{name}",
                        ("gradients",),
                        "abs_mean",
                        float(g.mean()),
                        "float32",
                        None,
                        None,
                    )
                )
                recs.append(
                    Record(
                        f"gradient/Net_{name}",
                        ("gradients",),
                        "abs_max",
                        float(g.max()),
                        "float32",
                        None,
                        None,
                    )
                )
            w.add(step, "TRAIN", step, recs)
            saved_at[step] = time.time()
            w.set_progress(step + 1, "TRAIN", step + 1)
            opt.step()
            time.sleep(pause)
        w.close()
    finally:
        print(json.dumps({"saved_at": saved_at}), flush=True)


if __name__ == "__main__":
    main()
