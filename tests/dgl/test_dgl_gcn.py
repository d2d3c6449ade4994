"""A two-layer GraphConv GCN on a DGL graph trains with the PyTorch hook (the example script)."""

from __future__ import annotations

import numpy as np
import torch

import smdbg.pytorch as smd


def test_gcn_weights_gradients_and_node_embeddings(tmp_path) -> None:
    import dgl_gcn

    torch.manual_seed(0)
    dgl_gcn.train(str(tmp_path), epochs=12, save_interval=5)
    trial = smd.create_trial(tmp_path)
    assert trial.steps() == [0, 5, 10]
    names = set(trial.tensor_names())
    assert {"GCN_conv1.weight", "GCN_conv1.bias", "GCN_conv2.weight"} <= names
    assert {"gradient/GCN_conv1.weight", "gradient/GCN_conv2.weight"} <= names
    g, features, _ = dgl_gcn.make_graph()
    emb = trial.tensor("conv1_output_0").value(10)
    assert emb.shape == (g.num_nodes(), 16)
    assert trial.tensor("conv2_output_0").value(0).shape == (g.num_nodes(), 2)
    assert "relu_output_0" not in names  # only the GraphConv layers were asked for
    assert "conv1_output_0" in trial.tensor_names(collection="embeddings")
    w = trial.tensor("GCN_conv1.weight")
    assert not np.array_equal(w.value(0), w.value(10))  # training moved the weights
    assert np.abs(trial.tensor("gradient/GCN_conv1.weight").value(5)).sum() > 0
    losses = trial.tensor("CrossEntropyLoss_output_0").values()
    assert float(losses[10]) < float(losses[0])
