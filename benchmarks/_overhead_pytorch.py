"""PyTorch cases of the hook-overhead benchmark (also run under smdebug 1.0.34 by
``_overhead_smdebug.py`` in its own virtual environment, with the same models and configs).

``cases(args)`` returns ``(model, config, plain_fn, hooked_fn)``; each function trains
``args.steps`` steps of one model shared by both sides (see ``_Shared``; the writer-bound
configurations use one long-lived hook on a second model, see ``_long_lived``) and returns
seconds per step (blocks of steps are timed, with a device synchronisation only at the block's end on CUDA).
The first case of each model, ``plain vs plain``, times plain blocks against plain blocks: the
harness's own noise.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn
from _overhead_configs import CONFIGS, HISTOGRAM_CONFIGS
from _overhead_configs import hook_kwargs as _shared_hook_kwargs

__all__ = ["cases", "CONFIGS", "build_model", "hook_kwargs"]

AA = "plain vs plain (noise)"
CLOCK: list[Callable[[], float]] = [time.perf_counter]  # time.process_time: blocks in CPU time


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.down = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.b2(self.c2(torch.relu(self.b1(self.c1(x)))))
        return torch.relu(y + self.down(x))


class ResNet18(nn.Module):
    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)
        )
        layers, cin = [], 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [_Block(cin, cout, stride), _Block(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.layers(self.stem(x)), 1), 1))


class Encoder(nn.Module):
    def __init__(self, vocab: int = 1000, d: int = 512) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        layer = nn.TransformerEncoderLayer(d, 8, 2048, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, 6, enable_nested_tensor=False)
        self.head = nn.Linear(d, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.enc(self.emb(x)).mean(1))


def build_model(name: str, device: str) -> tuple[nn.Module, Callable[[], tuple[torch.Tensor, torch.Tensor]]]:
    """(model, batch function) for a model name; data is synthetic and made on the device."""
    g = torch.Generator(device=device).manual_seed(0)
    if name == "mlp":
        model = nn.Sequential(
            nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)
        )
        x, y = (
            torch.randn(64, 1, 28, 28, device=device, generator=g),
            torch.randint(0, 10, (64,), device=device, generator=g),
        )
    elif name == "cnn":
        model = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * 7 * 7, 10),
        )
        x, y = (
            torch.randn(64, 1, 28, 28, device=device, generator=g),
            torch.randint(0, 10, (64,), device=device, generator=g),
        )
    elif name == "resnet18":
        model = ResNet18()
        x, y = (
            torch.randn(128, 3, 224, 224, device=device, generator=g),
            torch.randint(0, 1000, (128,), device=device, generator=g),
        )
    elif name == "transformer":
        model = Encoder()
        x = torch.randint(0, 1000, (32, 128), device=device, generator=g)
        y = torch.randint(0, 1000, (32,), device=device, generator=g)
    else:
        raise ValueError(f"unknown model {name!r}: expected mlp, cnn, resnet18 or transformer")
    model.to(device)
    return model, lambda: (x, y)
    # fmt: skip


class _Shared:
    """One model, loss, optimizer and batch per model name, trained by both sides of a case.

    Plain blocks train it as it is; each hooked block attaches a fresh hook to the very same
    objects and closes it afterwards (outside the timing). Separate model instances for the two
    sides differed by up to 2% in plain-vs-plain runs on this 2-core VM (memory placement), which
    swamped the 1% targets; one set of tensors takes that out.
    """

    def __init__(self, name: str, device: str) -> None:
        torch.manual_seed(0)
        self.model, self.data = build_model(name, device)
        self.loss_fn = nn.CrossEntropyLoss()
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)
        self.sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
        # {"cpu": [], "thread": [], "wall": []}: run() times each step into them (process CPU
        # time, the training thread's CPU time, wall time)
        self.per_step: dict[str, list[float]] | None = None
        self.run(20)  # warm-up

    def run(self, steps: int) -> float:
        """Seconds per step over ``steps`` steps (one device sync at each end)."""
        model, loss_fn, opt, data = self.model, self.loss_fn, self.opt, self.data
        self.sync()
        w0, c0 = time.perf_counter(), time.process_time()
        if self.per_step is not None:  # each step's times too (histogram_cost.py)
            cpu, thread, wall = self.per_step["cpu"], self.per_step["thread"], self.per_step["wall"]
            cpu.clear(), thread.clear(), wall.clear()
            for _ in range(steps):
                t, tt, tw = time.process_time(), time.thread_time(), time.perf_counter()
                x, y = data()
                opt.zero_grad(set_to_none=True)
                loss_fn(model(x), y).backward()
                opt.step()
                cpu.append(time.process_time() - t)
                thread.append(time.thread_time() - tt)
                wall.append(time.perf_counter() - tw)
        for _ in range(steps if self.per_step is None else 0):
            x, y = data()
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            opt.step()
        self.sync()
        # both clocks of the last block, per step (histogram_cost.py reports both)
        self.last = {"wall": (time.perf_counter() - w0) / steps, "cpu": (time.process_time() - c0) / steps}
        return self.last["cpu" if CLOCK[0] is time.process_time else "wall"]

    def attach(self, config: dict[str, Any], **kw: Any) -> tuple[Any, str]:
        """A hook for ``config`` on this model, loss and optimizer, and its trial directory."""
        import smdbg.pytorch as smd

        out = tempfile.mkdtemp(prefix="smdbg-bench-")
        _CLEANUP.append(out)
        hook = smd.Hook(out, **kw, **hook_kwargs(smd, config))
        hook.register_module(self.model)
        hook.register_loss(self.loss_fn)
        hook.wrap_optimizer(self.opt)
        return hook, out

    def run_hooked(self, config: dict[str, Any], steps: int) -> float:
        """A fresh hook on this model: set up and 20 steps of warm-up, then ``steps`` timed
        steps; closed afterwards (not timed). Its writer publishes a segment and the progress
        every 0.25 s, four times as often as by default (1 s), so that the writer thread's
        periodic work falls inside blocks of a few hundred steps, more of it than in a long
        run."""
        hook, out = self.attach(config, flush_secs=0.25)
        try:
            self.run(20)
            return self.run(steps)
        finally:
            hook.close()
            shutil.rmtree(out, ignore_errors=True)


_LIVE: dict[str, Any] = {}  # the one long-lived hooked trainer (a real run has one hook)


def _long_lived(name: str, device: str, cname: str, config: dict[str, Any], steps: int) -> Callable[[], float]:
    """For the configurations bound by the trial writer (raw tensors, save_all): a second model
    with one hook for the whole case, so that the writer's steady state (segments every second,
    back-pressure once 256 MB are pending) is inside the timing; a fresh hook per short block
    would leave most of the writing to its untimed close."""

    def fn() -> float:
        if _LIVE.get("key") != (name, cname):
            if _LIVE.get("hook") is not None:
                _LIVE["hook"].close()  # the previous case's hook: its writer thread stops
            _LIVE.clear()
            shared = _Shared(name, device)
            hook, _ = shared.attach(config)
            shared.run(20)
            _LIVE.update(key=(name, cname), shared=shared, hook=hook)
        return float(_LIVE["shared"].run(steps))

    return fn


def cases(args: argparse.Namespace) -> list[tuple[str, str, Callable[[], float], Callable[[], float]]]:
    device = getattr(args, "device", "cpu")
    torch.set_num_threads(getattr(args, "threads", 1))
    models = args.models.split(",") if getattr(args, "models", None) else (
        ["mlp", "cnn"] if device == "cpu" else ["resnet18", "transformer"]
    )  # fmt: skip
    out: list[tuple[str, str, Callable[[], float], Callable[[], float]]] = []
    for m in models:
        shared = _Shared(m, device)
        out.append((m, AA, lambda sh=shared: sh.run(args.steps), lambda sh=shared: sh.run(args.steps)))
        for cname, cfg in {**CONFIGS, **HISTOGRAM_CONFIGS}.items():
            if cname.startswith("save_all") and device != "cpu" and not getattr(args, "save_all_gpu", False):
                continue
            steps = args.steps if not cname.startswith("save_all") else max(20, args.steps // 5)
            writer_bound = bool(cfg.get("save_all")) or (
                "collections" in cfg and not cfg.get("reduce") and not cfg.get("histogram")
            )
            hooked = (
                _long_lived(m, device, cname, cfg, steps)
                if writer_bound
                else (lambda sh=shared, c=cfg, s=steps: sh.run_hooked(c, s))
            )
            out.append((m, cname, lambda sh=shared, s=steps: sh.run(s), hooked))
    return out


_CLEANUP: list[str] = []


def cleanup() -> None:
    if _LIVE.get("hook") is not None:
        _LIVE["hook"].close()
    _LIVE.clear()
    for d in _CLEANUP:
        shutil.rmtree(d, ignore_errors=True)


def hook_kwargs(smd: Any, cfg: dict[str, Any]) -> dict[str, Any]:
    """The shared configuration, with losses saved too (also used by the smdebug side)."""
    return _shared_hook_kwargs(smd, cfg, extra_collections=("losses",))
