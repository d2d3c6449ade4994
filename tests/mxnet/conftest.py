"""MXNet test helpers. These tests run in .venv-mxnet (bash scripts/setup_mxnet_env.sh), where
mxnet 1.9.1 imports with numpy 1.23.5; the main environment's pytest run ignores this folder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon, nd

BATCH = 8
FEATURES = 6
CLASSES = 3


def make_net(seed: int = 0, name_scope: bool = False) -> gluon.HybridBlock:
    """A small MLP: Dense(16, relu) -> Dense(3), initialised deterministically (deferred shapes)."""
    mx.random.seed(seed)
    net = gluon.nn.HybridSequential()
    if name_scope:
        with net.name_scope():
            net.add(gluon.nn.Dense(16, activation="relu"), gluon.nn.Dense(CLASSES))
    else:
        net.add(gluon.nn.Dense(16, activation="relu"), gluon.nn.Dense(CLASSES))
    net.initialize(mx.init.Xavier())
    return net


def batches(n: int, seed: int = 1) -> list[tuple[Any, Any]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        x = rng.normal(size=(BATCH, FEATURES)).astype(np.float32)
        y = rng.integers(0, CLASSES, size=BATCH).astype(np.float32)
        out.append((nd.array(x), nd.array(y)))
    return out


@dataclass
class Observed:
    """What the test itself read from the block at each training step."""

    weights: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    grads: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    losses: dict[int, np.ndarray] = field(default_factory=dict)


def train(
    net: gluon.Block,
    loss_fn: gluon.loss.Loss,
    trainer: gluon.Trainer,
    data: list[tuple[Any, Any]],
    on_step: Callable[[int], None] | None = None,
) -> Observed:
    """A plain Gluon loop; records parameters (before the update) and gradients at each step."""
    seen = Observed()
    params = list(net.collect_params().values())
    for step, (x, y) in enumerate(data):
        if on_step is not None:
            on_step(step)
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        seen.weights[step] = {p.name: p.data().asnumpy().copy() for p in params}
        seen.grads[step] = {p.name: p.grad().asnumpy().copy() for p in params}
        seen.losses[step] = loss.asnumpy().copy()
        trainer.step(BATCH)
    return seen


@pytest.fixture(autouse=True)
def fresh_block_names() -> Any:
    """Each test names its blocks from scratch (dense0, dense1 ...), as a fresh process would."""
    with mx.name.NameManager():
        yield


@pytest.fixture
def out_dir(tmp_path: Any) -> str:
    return str(tmp_path / "trial")
