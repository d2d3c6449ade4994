"""Every built-in rule on real PyTorch training through ``smd.Hook``: a short run that should
trigger it and a healthy run where it stays quiet. The hook saves exactly the collections of the
rule's ``Rule.builtin(rule_configs.<name>())`` spec (at every step instead of every 500th).
The rules over labels, predictions, images and token sequences are in
``test_rules_training_data.py``."""

from __future__ import annotations

import time

import pytest
import torch
import torch.nn as nn
from _training import Net, batches, clusters, evaluate, fit, hook_for, regression, sgd, spec, tensors

from smdbg.config import CollectionConfig
from smdbg.rules import RuleSpec
from smdbg.store.format import EVENTS_DIR, PROGRESS_FILE
from smdbg.trials import create_trial


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)

# -- gradients and weights ------------------------------------------------------------------------
def test_vanishing_gradient_deep_sigmoid_network(tmp_path):
    rule = spec("vanishing_gradient")

    def run(out, sizes, act):  # type: ignore[no-untyped-def]
        model = Net(sizes, act)
        fit(hook_for(out, rule), model, nn.MSELoss(), sgd(model, 0.1), batches(regression(320, 1), 32))

    run(tmp_path / "deep", [8] + [16] * 12 + [1], "sigmoid")
    run(tmp_path / "shallow", [8, 16, 1], "relu")
    found = evaluate(rule, tmp_path / "deep")
    assert "gradient/Net_fc1.weight" in tensors(found)
    assert "gradient/Net_fc12.weight" not in tensors(found)  # the layers near the loss still learn
    assert found[0].step == 0 and found[0].values["value"] < 1e-7
    assert evaluate(rule, tmp_path / "shallow") == []


def lr_run(out, rule: RuleSpec, lr: float, steps: int = 30, opt: str = "sgd") -> list[float]:  # type: ignore[no-untyped-def]
    model = Net([8, 16, 1])
    o = sgd(model, lr) if opt == "sgd" else torch.optim.Adam(model.parameters(), lr=lr)
    return fit(hook_for(out, rule), model, nn.MSELoss(), o, batches(regression(32 * steps, 1, scale=3.0), 32))


def test_exploding_tensor_learning_rate_too_high(tmp_path):
    rule = spec("exploding_tensor", collections=[CollectionConfig("losses"),
                                                 CollectionConfig("gradients", {"reductions": "l2,abs_max"})])  # fmt: skip
    losses = lr_run(tmp_path / "hot", rule, lr=2.0)
    lr_run(tmp_path / "ok", rule, lr=0.01)
    found = evaluate(rule, tmp_path / "hot")
    bad = [i for i, v in enumerate(losses) if not torch.isfinite(torch.tensor(v))][0]
    assert "MSELoss_output_0" in tensors(found)
    assert min(f.step for f in found) <= bad  # gradients overflow no later than the loss
    assert [f for f in found if f.tensor == "MSELoss_output_0"][0].step == bad
    assert evaluate(rule, tmp_path / "ok") == []


def test_weight_update_ratio_learning_rate_too_high(tmp_path):
    rule = spec("weight_update_ratio")
    lr_run(tmp_path / "hot", rule, lr=50.0, steps=6, opt="adam")
    lr_run(tmp_path / "ok", rule, lr=0.01, steps=6)
    found = evaluate(rule, tmp_path / "hot")
    assert {"Net_fc1.weight", "Net_fc2.weight"} <= tensors(found)
    assert found[0].step == 1 and found[0].values["value"] > 10
    assert evaluate(rule, tmp_path / "ok") == []


def test_all_zero_gradients_behind_a_dead_layer(tmp_path):
    rule = spec("all_zero", collections=[CollectionConfig("gradients", {"reductions": "abs_max"})])

    def run(out, bias):  # type: ignore[no-untyped-def]
        model = Net([8, 16, 1])
        if bias is not None:
            nn.init.constant_(model.fc1.bias, bias)  # every ReLU input negative: nothing flows back
        fit(hook_for(out, rule), model, nn.MSELoss(), sgd(model, 0.01), batches(regression(160, 1), 32))

    run(tmp_path / "dead", -100.0)
    run(tmp_path / "ok", None)
    found = evaluate(rule, tmp_path / "dead")
    assert tensors(found) == {"gradient/Net_fc1.weight", "gradient/Net_fc1.bias", "gradient/Net_fc2.weight"}
    assert all(f.values["steps_affected"] == 5 for f in found)
    assert evaluate(rule, tmp_path / "ok") == []


def test_unchanged_tensor_frozen_layer(tmp_path):
    rule = spec("unchanged_tensor", collections=[CollectionConfig("weights")])

    def run(out, freeze):  # type: ignore[no-untyped-def]
        model = Net([8, 16, 1])
        model.fc1.weight.requires_grad_(not freeze)
        fit(hook_for(out, rule), model, nn.MSELoss(), sgd(model, 0.05), batches(regression(192, 1), 32))

    run(tmp_path / "frozen", True)
    run(tmp_path / "ok", False)
    found = evaluate(rule, tmp_path / "frozen")
    assert tensors(found) == {"Net_fc1.weight"}
    assert found[0].step == 2  # three saved steps equal: 0, 1, 2
    assert evaluate(rule, tmp_path / "ok") == []


def test_similar_across_runs_unseeded_rerun(tmp_path):
    rule = spec("similar_across_runs", collections=[CollectionConfig("weights"), CollectionConfig("losses")])

    def run(out, seed):  # type: ignore[no-untyped-def]
        torch.manual_seed(seed)
        model = Net([8, 16, 1])
        fit(hook_for(out, rule), model, nn.MSELoss(), sgd(model, 0.05), batches(regression(128, 1), 32))

    run(tmp_path / "a", 0)
    run(tmp_path / "same", 0)
    run(tmp_path / "other", 1)
    found = evaluate(rule, tmp_path / "a", other=tmp_path / "other")
    assert {"Net_fc1.weight", "Net_fc2.weight", "MSELoss_output_0"} <= tensors(found)
    assert found[0].step == 0
    assert evaluate(rule, tmp_path / "a", other=tmp_path / "same") == []


def test_tensor_variance_of_exploding_gradients(tmp_path):
    rule = spec("tensor_variance", {"max_threshold": "1e4"},
                collections=[CollectionConfig("gradients", {"reductions": "variance"})])  # fmt: skip
    lr_run(tmp_path / "hot", rule, lr=2.0, steps=20)
    lr_run(tmp_path / "ok", rule, lr=0.01, steps=20)
    found = evaluate(rule, tmp_path / "hot")
    assert "gradient/Net_fc1.weight" in tensors(found)
    assert found[0].values["value"] > 1e4
    assert evaluate(rule, tmp_path / "ok") == []


# -- the loss curve -------------------------------------------------------------------------------
def test_loss_not_decreasing_nothing_to_learn(tmp_path):
    rule = spec("loss_not_decreasing")

    def run(out, data):  # type: ignore[no-untyped-def]
        model = Net([8, 16, 1])
        fit(hook_for(out, rule), model, nn.MSELoss(), sgd(model, 0.05), batches(data, 32, epochs=5))

    x, _ = regression(256, 1)
    run(tmp_path / "noise", (x, torch.randn(256, 1)))  # targets are noise: the loss plateaus
    run(tmp_path / "ok", regression(256, 1))
    found = evaluate(rule, tmp_path / "noise")
    assert tensors(found) == {"MSELoss_output_0"} and found[0].mode == "TRAIN"
    assert evaluate(rule, tmp_path / "ok") == []


def test_overfit_tiny_training_set(tmp_path):
    rule = spec("overfit")

    def run(out, n_train, steps):  # type: ignore[no-untyped-def]
        model = Net([8, 64, 64, 1])
        x, y = regression(n_train, 1)
        y = y + torch.randn(n_train, 1)  # noisy targets: a small set is learnt by heart
        train = batches((x, y), 32, epochs=steps * 32 // n_train)
        vx, vy = regression(128, 2)
        fit(hook_for(out, rule), model, nn.MSELoss(), torch.optim.Adam(model.parameters(), lr=0.01),
            train, batches((vx, vy + torch.randn(128, 1)), 64), eval_every=20)  # fmt: skip

    run(tmp_path / "tiny", 8, 60)
    run(tmp_path / "ok", 1920, 60)
    found = evaluate(rule, tmp_path / "tiny")
    assert tensors(found) == {"MSELoss_output_0"} and found[0].mode == "EVAL"
    assert found[0].values["ratio"] > 0.1
    assert evaluate(rule, tmp_path / "ok") == []


def scaled(data, k: float):  # type: ignore[no-untyped-def]
    return data[0] * k, data[1]


def test_overfit_quiet_when_both_losses_reach_zero(tmp_path):
    rule = spec("overfit")
    model = Net([8, 16, 3])  # separable classes: training and validation loss both become exactly 0
    fit(hook_for(tmp_path / "perfect", rule), model, nn.CrossEntropyLoss(),
        torch.optim.Adam(model.parameters(), lr=0.5), batches(scaled(clusters(1920, 1, spread=0.1), 3.0), 32),
        batches(scaled(clusters(128, 2, spread=0.1), 3.0), 64), eval_every=20)  # fmt: skip
    losses = create_trial(tmp_path / "perfect").tensor("CrossEntropyLoss_output_0")
    assert losses.value(losses.steps()[-1]) == 0.0 and losses.value(losses.steps()[-6]) == 0.0
    assert evaluate(rule, tmp_path / "perfect") == []  # 0 vs 0 is no gap (was reported as ratio inf)


def test_overtraining_long_after_convergence(tmp_path):
    rule = spec("overtraining")

    def run(out, epochs):  # type: ignore[no-untyped-def]
        model = Net([8, 16, 1])
        x, y = regression(160, 1)
        fit(hook_for(out, rule), model, nn.MSELoss(), sgd(model, 0.02), batches((x, 3 * y), 32, epochs))

    run(tmp_path / "long", 30)
    run(tmp_path / "ok", 3)
    found = evaluate(rule, tmp_path / "long")
    assert tensors(found) == {"MSELoss_output_0"} and found[0].values["which"] == "training"
    assert found[0].step > 15
    assert evaluate(rule, tmp_path / "ok") == []


def test_stalled_training_while_the_hook_is_open(tmp_path):
    threshold = 3.0
    rule = spec("stalled_training", {"threshold": str(threshold)}, collections=[CollectionConfig("losses")])
    model = Net([8, 16, 1])
    hook = hook_for(tmp_path / "run", rule)
    fit(hook, model, nn.MSELoss(), sgd(model, 0.01), batches(regression(128, 1), 32), close=False)
    last_step = time.time()
    progress = tmp_path / "run" / EVENTS_DIR / "worker_0" / PROGRESS_FILE
    deadline = time.monotonic() + 60
    while not progress.exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # the writer publishes progress within flush_secs, later on a busy machine
    live = rule.create(create_trial(tmp_path / "run"))
    found = live.evaluate()
    if time.time() - last_step < threshold - 0.5:  # else this machine took longer than the threshold to get here
        assert found == []  # it just stepped
        time.sleep(max(threshold + 0.5 - (time.time() - last_step), 0.0))  # the data loader "hangs"
        found = live.evaluate()
    assert len(found) == 1 and found[0].tensor is None and found[0].values["idle_seconds"] > threshold
    assert live.evaluate() == []  # reported once
    hook.close()
    assert evaluate(rule, tmp_path / "run") == []  # ended: not stalled


# -- activations ----------------------------------------------------------------------------------
def test_dead_relu_negative_bias_initialisation(tmp_path):
    rule = spec("dead_relu")

    def run(out, bias, nan_at=None):  # type: ignore[no-untyped-def]
        model = Net([8, 16, 16, 1])
        if bias is not None:
            nn.init.constant_(model.fc2.bias, bias)
        data = batches(regression(160, 1), 32)
        if nan_at is not None:
            data[nan_at][0][0, 0] = float("nan")  # NaN weights from then on: every output is NaN
        fit(hook_for(out, rule), model, nn.MSELoss(), sgd(model, 0.01), data)

    run(tmp_path / "dead", -10.0)
    run(tmp_path / "ok", None)
    run(tmp_path / "nan", None, nan_at=2)
    found = evaluate(rule, tmp_path / "dead")
    assert tensors(found) == {"relu2_output_0"} and found[0].step == 0 and found[0].values["value"] == 100.0
    assert evaluate(rule, tmp_path / "ok") == []
    nan_relu = create_trial(tmp_path / "nan").tensor("relu1_output_0")
    assert torch.isnan(torch.as_tensor(nan_relu.value(4))).all()
    assert (
        evaluate(rule, tmp_path / "nan") == []
    )  # NaN outputs are not dead units (exploding_tensor's finding)


def test_saturated_activation_unnormalised_inputs(tmp_path):
    rule = spec("saturated_activation")

    def run(out, offset):  # type: ignore[no-untyped-def]
        model = Net([8, 16, 1], act="sigmoid")
        data = regression(160, 1, offset=offset)  # raw sensor readings around 1000, not standardised
        fit(hook_for(out, rule), model, nn.MSELoss(), sgd(model, 0.01), batches(data, 32))

    run(tmp_path / "raw", 1000.0)
    run(tmp_path / "ok", 0.0)
    found = evaluate(rule, tmp_path / "raw")
    assert tensors(found) == {"sigmoid1_input_0"} and found[0].values["value"] >= 50
    assert evaluate(rule, tmp_path / "ok") == []


def test_poor_weight_initialization_tiny_weights(tmp_path):
    rule = spec("poor_weight_initialization")
    assert {c.name for c in rule.collections_to_save} == {"relu_input", "weights", "losses"}

    def run(out, init):  # type: ignore[no-untyped-def]
        model = Net([8, 32, 32, 1])
        for fc in model.linears():
            init(fc.weight)
            nn.init.zeros_(fc.bias)
        fit(hook_for(out, rule), model, nn.MSELoss(), sgd(model, 0.05), batches(regression(640, 1), 32))

    run(tmp_path / "tiny", lambda w: nn.init.normal_(w, std=1e-4))
    run(tmp_path / "ok", lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"))
    trial = create_trial(tmp_path / "tiny")
    assert trial.steps()[-1] == 9  # the config saves the first 10 steps only
    found = evaluate(rule, tmp_path / "tiny")
    messages = " ".join(f.message for f in found)
    assert "variances differ" in messages and "span only" in messages
    assert {"Net_fc1.weight", "Net_fc2.weight", "Net_fc3.weight"} <= tensors(found)
    assert evaluate(rule, tmp_path / "ok") == []
