"""Real PyTorch training for the rule tests: small models, synthetic data, and a hook configured
from a rule's ``Rule.builtin(rule_configs.<name>())`` spec (its collections_to_save)."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
import torch.nn as nn

import smdbg.pytorch as smd
from smdbg.config import CollectionConfig
from smdbg.rules import Finding, Rule, RuleSpec, rule_configs
from smdbg.trials import create_trial

torch.set_num_threads(1)  # tiny models: one thread is faster than two on a shared 2-core box

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}

Batch = tuple[torch.Tensor, torch.Tensor]
OnBatch = Callable[[Any, torch.Tensor, torch.Tensor, torch.Tensor], None]


class Net(nn.Sequential):
    """fc1, <act>1, fc2, <act>2, ..., fcN: module names the activation rules' regexes match
    (``relu1_output_0``, ``sigmoid1_input_0`` ...)."""

    def __init__(self, sizes: Sequence[int], act: str = "relu") -> None:
        layers: list[tuple[str, nn.Module]] = []
        for i in range(len(sizes) - 1):
            layers.append((f"fc{i + 1}", nn.Linear(sizes[i], sizes[i + 1])))
            if i < len(sizes) - 2:
                layers.append((f"{act}{i + 1}", ACTIVATIONS[act]()))
        super().__init__(OrderedDict(layers))

    def linears(self) -> list[nn.Linear]:
        return [m for m in self if isinstance(m, nn.Linear)]


def spec(name: str, rule_parameters: dict[str, Any] | None = None,
         collections: Sequence[CollectionConfig] | None = None) -> RuleSpec:  # fmt: skip
    """``Rule.builtin(rule_configs.<name>(), ...)``: the rule and what the hook saves for it."""
    return Rule.builtin(
        getattr(rule_configs, name)(), rule_parameters=rule_parameters, collections_to_save=collections
    )


def hook_for(out: str | os.PathLike[str], rule: RuleSpec, every: int = 1, **kwargs: Any) -> smd.Hook:
    """A hook saving exactly the rule's collections. The built-in configs save every 500 steps
    (real jobs); these runs are a few dozen steps, so ``save_interval: 500`` becomes ``every``."""
    hook = smd.Hook(
        out, include_collections=[], save_config=smd.SaveConfig(save_interval=every), flush_secs=0.2, **kwargs
    )
    for c in rule.collections_to_save:
        params = dict(c.parameters or {})
        if params.get("save_interval") == "500":
            params["save_interval"] = str(every)
        hook.add_collection(smd.CollectionConfig(c.name, params))
    return hook


def regression(n: int, seed: int, n_in: int = 8, scale: float = 1.0, offset: float = 0.0) -> Batch:
    """x ~ N(offset, scale^2), y = x @ w + noise with a fixed w (seed 0)."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(n_in, 1, generator=torch.Generator().manual_seed(0))
    x = torch.randn(n, n_in, generator=g)
    y = x @ w + 0.1 * torch.randn(n, 1, generator=g)
    return x * scale + offset, y


def clusters(n: int, seed: int, n_classes: int = 3, n_in: int = 8, weights: Sequence[float] | None = None,
             spread: float = 0.5, same: Iterable[int] = ()) -> Batch:  # fmt: skip
    """Gaussian blobs around fixed centres (seed 0); class frequencies from ``weights``; classes in
    ``same`` share the first one's centre (they cannot be told apart)."""
    g = torch.Generator().manual_seed(seed)
    centres = 2.0 * torch.randn(n_classes, n_in, generator=torch.Generator().manual_seed(0))
    same = list(same)
    for c in same[1:]:
        centres[c] = centres[same[0]]
    p = torch.tensor(weights if weights is not None else [1.0] * n_classes)
    y = torch.multinomial(p / p.sum(), n, replacement=True, generator=g)
    x = centres[y] + spread * torch.randn(n, n_in, generator=g)
    return x, y


def batches(data: Batch, size: int, epochs: int = 1) -> list[Batch]:
    x, y = data
    return [(x[i : i + size], y[i : i + size]) for _ in range(epochs) for i in range(0, len(x), size)]


def fit(hook: smd.Hook, model: nn.Module, loss_fn: nn.Module, opt: torch.optim.Optimizer,
        train: Sequence[Batch], evaluate: Sequence[Batch] = (), eval_every: int = 0,
        on_batch: OnBatch | None = None, on_eval: OnBatch | None = None, close: bool = True) -> list[float]:  # fmt: skip
    """Train on ``train`` (TRAIN mode), evaluating on ``evaluate`` every ``eval_every`` steps
    (EVAL mode) and once at the end; ``on_batch``/``on_eval`` may save tensors with the hook."""
    hook.register_module(model)
    hook.register_loss(loss_fn)
    hook.wrap_optimizer(opt)
    losses: list[float] = []

    def run_eval() -> None:
        hook.set_mode(smd.modes.EVAL)
        model.eval()
        with torch.no_grad():
            for x, y in evaluate:
                out = model(x)
                loss_fn(out, y)
                if on_eval is not None:
                    on_eval(hook, x, y, out)
        model.train()
        hook.set_mode(smd.modes.TRAIN)

    hook.set_mode(smd.modes.TRAIN)
    for i, (x, y) in enumerate(train):
        opt.zero_grad()
        out = model(x)
        loss = loss_fn(out, y)
        if on_batch is not None:
            on_batch(hook, x, y, out)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if evaluate and eval_every and (i + 1) % eval_every == 0 and i + 1 < len(train):
            run_eval()
    if evaluate:
        run_eval()
    if close:
        hook.close()
    return losses


def evaluate(rule: RuleSpec, path, other=None) -> list[Finding]:  # type: ignore[no-untyped-def]
    """Run the rule on a finished trial, after checking the hook saved exactly its collections."""
    trial = create_trial(path)
    assert trial.training_has_ended()
    wanted: set[str] = set()
    for c in rule.collection_names():
        wanted |= set(trial.tensor_names(collection=c))
    assert set(trial.tensor_names()) == wanted, (trial.tensor_names(), rule.collection_names())
    return rule.create(trial, [create_trial(other)] if other else None).evaluate()


def tensors(found: list[Finding]) -> set[str | None]:
    return {f.tensor for f in found}


def sgd(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=lr)
