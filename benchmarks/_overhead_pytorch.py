"""PyTorch cases of the hook-overhead benchmark (also run under smdebug 1.0.34 by
``_overhead_smdebug.py`` in its own virtual environment, with the same models and configs).

``cases(args)`` returns ``(model, config, plain_fn, hooked_fn)``; each function trains
``args.steps`` steps on a persistent model and returns seconds per step (blocks of steps are
timed, with a device synchronisation only at the block's end on CUDA).
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
from _overhead_configs import CONFIGS
from _overhead_configs import hook_kwargs as _shared_hook_kwargs

__all__ = ["cases", "CONFIGS", "build_model", "hook_kwargs"]


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


def _trainer(
    name: str, device: str, config: dict[str, Any] | None
) -> tuple[Callable[[int], float], list[str], Any]:
    torch.manual_seed(0)
    model, data = build_model(name, device)
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    dirs: list[str] = []
    hook = None
    if config is not None:
        import smdbg.pytorch as smd

        out = tempfile.mkdtemp(prefix="smdbg-bench-")
        dirs.append(out)
        hook = smd.Hook(out, **hook_kwargs(smd, config))
        hook.register_module(model)
        hook.register_loss(loss_fn)
        hook.wrap_optimizer(opt)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def run(steps: int) -> float:
        sync()
        t0 = time.perf_counter()
        for _ in range(steps):
            x, y = data()
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            opt.step()
        sync()
        return (time.perf_counter() - t0) / steps

    run(20)  # warm-up
    return run, dirs, hook


def cases(args: argparse.Namespace) -> list[tuple[str, str, Callable[[], float], Callable[[], float]]]:
    device = getattr(args, "device", "cpu")
    torch.set_num_threads(getattr(args, "threads", 1))
    models = args.models.split(",") if getattr(args, "models", None) else (
        ["mlp", "cnn"] if device == "cpu" else ["resnet18", "transformer"]
    )  # fmt: skip
    out: list[tuple[str, str, Callable[[], float], Callable[[], float]]] = []
    live: dict[str, Any] = {}  # the one hooked trainer alive now (a real run has one hook)

    def hooked_fn(m: str, cname: str, cfg: dict[str, Any], steps: int) -> Callable[[], float]:
        def fn() -> float:
            if live.get("key") != (m, cname):
                if live.get("hook") is not None:
                    live["hook"].close()  # the previous case's hook: its writer thread stops
                live.clear()
                run, dirs, hook = _trainer(m, device, cfg)
                _CLEANUP.extend(dirs)
                live.update(key=(m, cname), run=run, hook=hook)
            return float(live["run"](steps))

        return fn

    for m in models:
        plain, _, _ = _trainer(m, device, None)
        for cname, cfg in CONFIGS.items():
            if cname.startswith("save_all") and device != "cpu" and not getattr(args, "save_all_gpu", False):
                continue
            steps = args.steps if not cname.startswith("save_all") else max(20, args.steps // 5)
            out.append((m, cname, lambda p=plain, s=steps: p(s), hooked_fn(m, cname, cfg, steps)))
    return out


_CLEANUP: list[str] = []


def cleanup() -> None:
    for d in _CLEANUP:
        shutil.rmtree(d, ignore_errors=True)


def hook_kwargs(smd: Any, cfg: dict[str, Any]) -> dict[str, Any]:
    """The shared configuration, with losses saved too (also used by the smdebug side)."""
    return _shared_hook_kwargs(smd, cfg, extra_collections=("losses",))
