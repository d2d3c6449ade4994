"""A two-layer GraphConv GCN (DGL on PyTorch) trained with the smdbg hook.

Run: ``python examples/dgl_gcn.py --out /tmp/gcn-trial``. Saves weights, gradients and the node
embeddings each GraphConv layer produces (``conv1_output_0``, ``conv2_output_0``).
"""

from __future__ import annotations

import argparse
import os
import sys
import types

# dgl 2.1 imports dgl.graphbolt at import time, which needs a torchdata that newer PyTorch lacks;
# GraphConv does not use graphbolt, so a placeholder module is enough.
sys.modules.setdefault("dgl.graphbolt", types.ModuleType("dgl.graphbolt"))
os.environ.setdefault("DGLBACKEND", "pytorch")

import dgl  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from dgl.nn import GraphConv  # noqa: E402

import smdbg.pytorch as smd  # noqa: E402


class GCN(nn.Module):
    def __init__(self, in_feats: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.conv1 = GraphConv(in_feats, hidden)
        self.relu = nn.ReLU()
        self.conv2 = GraphConv(hidden, classes)

    def forward(self, g: dgl.DGLGraph, features: torch.Tensor) -> torch.Tensor:
        return self.conv2(g, self.relu(self.conv1(g, features)))


def make_graph(nodes: int = 60, seed: int = 0) -> tuple[dgl.DGLGraph, torch.Tensor, torch.Tensor]:
    """Two communities: dense inside, sparse across; features are noisy community indicators."""
    gen = torch.Generator().manual_seed(seed)
    labels = (torch.arange(nodes) >= nodes // 2).long()
    src, dst = torch.randint(0, nodes, (2, nodes * 6), generator=gen)
    same = labels[src] == labels[dst]
    keep = same | (torch.rand(len(src), generator=gen) < 0.1)
    g = dgl.add_self_loop(dgl.to_bidirected(dgl.graph((src[keep], dst[keep]), num_nodes=nodes)))
    features = torch.randn(nodes, 8, generator=gen) + labels[:, None].float()
    return g, features, labels


def train(out_dir: str, epochs: int = 30, save_interval: int = 5) -> smd.Hook:
    g, features, labels = make_graph()
    model = GCN(features.shape[1], 16, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    hook = smd.Hook(out_dir, save_config=smd.SaveConfig(save_interval=save_interval),
                    include_collections=["weights", "biases", "gradients", "losses", "embeddings"])  # fmt: skip
    hook.get_collection("embeddings").include(r"^conv\d_output_0$")  # node embeddings per layer
    hook.register_module(model)
    loss_fn = nn.CrossEntropyLoss()
    hook.register_loss(loss_fn)
    hook.wrap_optimizer(opt)
    for _ in range(epochs):
        opt.zero_grad()
        loss = loss_fn(model(g, features), labels)
        loss.backward()
        opt.step()
    hook.close()
    return hook


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default="/tmp/smdbg-dgl-gcn")
    p.add_argument("--epochs", type=int, default=30)
    args = p.parse_args()
    train(args.out, args.epochs)
    trial = smd.create_trial(args.out)
    print(f"trial at {trial.path}: steps {trial.steps()}")
    emb = trial.tensor("conv1_output_0")
    print(f"node embeddings of layer 1 at step {emb.steps()[-1]}: shape {emb.value(emb.steps()[-1]).shape}")
    losses = trial.tensor("CrossEntropyLoss_output_0").values()
    print(f"loss {float(losses[min(losses)]):.4f} -> {float(losses[max(losses)]):.4f}")


if __name__ == "__main__":
    main()
