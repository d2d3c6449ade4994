"""The PyTorch overhead cases under smdebug 1.0.34, run by hook_overhead.py with the python of a
separate virtual environment (torch, smdebug==1.0.34, "numpy<2", protobuf==3.20.3, requests,
pandas, psutil). Prints one JSON line: {"<model>|<config>": hooked/plain ratio}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _overhead_pytorch import CONFIGS, build_model, hook_kwargs  # noqa: E402

_DIRS: list[str] = []


def trainer(name, device, config):  # noqa: ANN001, ANN201
    torch.manual_seed(0)
    model, data = build_model(name, device)
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    if config is not None:
        import smdebug.pytorch as smd

        out = tempfile.mkdtemp(prefix="smdebug-bench-")
        _DIRS.append(out)
        hook = smd.Hook(out, **hook_kwargs(smd, config))
        hook.register_module(model)
        hook.register_loss(loss_fn)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def run(steps):  # noqa: ANN001, ANN202
        sync()
        t0 = time.perf_counter()
        for _ in range(steps):
            x, y = data()
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
        sync()
        return (time.perf_counter() - t0) / steps

    run(20)
    return run


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--device", default="cpu")
    p.add_argument("--models", default=None)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    models = (
        a.models.split(",")
        if a.models
        else (["mlp", "cnn"] if a.device == "cpu" else ["resnet18", "transformer"])
    )
    out = {}
    for m in models:
        plain = trainer(m, a.device, None)
        for cname, cfg in CONFIGS.items():
            if cname.startswith("save_all") and a.device != "cpu":
                continue
            hooked = trainer(m, a.device, cfg)
            steps = a.steps if not cname.startswith("save_all") else max(20, a.steps // 5)
            ps, hs = [], []
            for _ in range(a.repeats):
                ps.append(plain(steps))
                hs.append(hooked(steps))
            out[f"{m}|{cname}"] = statistics.median(h / p for p, h in zip(ps, hs))  # as hook_overhead.py
    for d in _DIRS:  # save_all trials reach several GB each
        shutil.rmtree(d, ignore_errors=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
