"""Each built-in rule on small real trials written with the store's writer: one that should
trigger it, one where it stays quiet."""

from __future__ import annotations

import numpy as np
import pytest
from rules_helpers import open_trial, raw, red, train_steps

from smdbg.rules import RuleConfigError, builtin_rule

rng = np.random.default_rng(0)


def grads(step: int, vanish_from: int | None = None, nan_at: int | None = None) -> list:
    recs = []
    for i in range(3):
        v = 1e-9 if vanish_from is not None and step >= vanish_from and i == 1 else 0.01 * (i + 1)
        if nan_at is not None and step == nan_at and i == 2:
            v = float("nan")
        recs += [red(f"gradient/Net_fc{i}.weight", "gradients", "abs_mean", v),
                 red(f"gradient/Net_fc{i}.weight", "gradients", "abs_max", v * 3)]  # fmt: skip
    return recs


def test_vanishing_gradient(tmp_path):
    bad = builtin_rule(
        "vanishing_gradient",
        open_trial(tmp_path, train_steps(20, lambda s: grads(s, vanish_from=12)), name="a"),
    )
    found = bad.evaluate()
    assert [(f.tensor, f.step) for f in found] == [("gradient/Net_fc1.weight", 12)]
    assert found[0].values["steps_affected"] == 8 and found[0].mode == "TRAIN" and found[0].mode_step == 12
    ok = builtin_rule("vanishing_gradient", open_trial(tmp_path, train_steps(20, grads), name="b"))
    assert ok.evaluate() == []
    # a range only reports what falls inside it
    assert bad.evaluate(0, 12) == [] and bad.evaluate(15)[0].step == 15


def test_exploding_tensor_reductions_and_raw(tmp_path):
    t = open_trial(tmp_path, train_steps(10, lambda s: grads(s, nan_at=7)), name="a")
    found = builtin_rule("exploding_tensor", t, collection_names="gradients").evaluate()
    assert [(f.tensor, f.step) for f in found] == [("gradient/Net_fc2.weight", 7)]

    def raws(s: int) -> list:
        w = np.ones((4, 4), np.float32)
        if s == 5:
            w[1, 2] = np.inf
        return [
            raw("Net_fc1.weight", "weights", w),
            raw("CrossEntropyLoss_output_0", "losses", np.float32(1.0 / (s + 1))),
        ]

    t2 = open_trial(tmp_path, train_steps(8, raws), name="b")
    assert [f.step for f in builtin_rule("exploding_tensor", t2).evaluate()] == [5]
    assert builtin_rule("exploding_tensor", t2, only_nan=True).evaluate() == []
    assert (
        builtin_rule("exploding_tensor", open_trial(tmp_path, train_steps(8, grads), name="c")).evaluate()
        == []
    )


def test_all_zero(tmp_path):
    def recs(s: int) -> list:
        w = np.zeros((3, 3), np.float32) if s >= 4 else np.ones((3, 3), np.float32)
        return [
            raw("Net_fc1.weight", "weights", w),
            raw("Net_fc2.weight", "weights", np.eye(3, dtype=np.float32)),
        ]

    t = open_trial(tmp_path, train_steps(6, recs))
    assert [(f.tensor, f.step) for f in builtin_rule("all_zero", t).evaluate()] == [("Net_fc1.weight", 4)]
    found = builtin_rule("all_zero", t, threshold=60, tensor_regex="fc2").evaluate()
    assert [(f.tensor, f.step) for f in found] == [("Net_fc2.weight", 0)] and found[0].values[
        "value"
    ] == pytest.approx(66.67, 0.01)


def test_unchanged_tensor_and_weight_update_ratio(tmp_path):
    frozen = rng.normal(size=(8, 8)).astype(np.float32)

    def recs(s: int) -> list:
        moving = (frozen + 0.05 * s).astype(np.float32)
        return [raw("Net_frozen.weight", "weights", frozen), raw("Net_fc1.weight", "weights", moving)]

    t = open_trial(tmp_path, train_steps(6, recs))
    found = builtin_rule("unchanged_tensor", t, collection_names="weights").evaluate()
    assert [(f.tensor, f.step) for f in found] == [("Net_frozen.weight", 2)]
    assert builtin_rule("unchanged_tensor", t, tensor_regex="fc1").evaluate() == []
    # frozen weights have ratio 0 (< small_threshold); moving ones are in range
    found = builtin_rule("weight_update_ratio", t).evaluate()
    assert [(f.tensor, f.step) for f in found] == [("Net_frozen.weight", 1)]
    found = builtin_rule("weight_update_ratio", t, large_threshold=0.01).evaluate()
    assert {f.tensor for f in found} == {"Net_fc1.weight", "Net_frozen.weight"}


def test_tensor_variance(tmp_path):
    t = open_trial(
        tmp_path, train_steps(5, lambda s: [red("Net_fc1.weight", "weights", "variance", 0.1 * 10**s)])
    )
    assert [f.step for f in builtin_rule("tensor_variance", t, max_threshold=50).evaluate()] == [3]
    assert builtin_rule("tensor_variance", t, min_threshold=0.01, max_threshold=1e6).evaluate() == []
    with pytest.raises(RuleConfigError, match="max_threshold or min_threshold"):
        builtin_rule("tensor_variance", t).check()


def loss_steps(train: list[float], evals: list[float] | None = None, every: int = 5) -> list:
    """TRAIN losses, with an EVAL phase of 2 steps after every ``every`` train steps."""
    out, g, ti, ei = [], 0, 0, 0
    evals = evals or []
    while ti < len(train):
        for _ in range(every):
            if ti < len(train):
                out.append(
                    (g, "TRAIN", ti, [raw("CrossEntropyLoss_output_0", "losses", np.float32(train[ti]))])
                )
                g, ti = g + 1, ti + 1
        if ei < len(evals):
            for _ in range(2):
                out.append(
                    (
                        g,
                        "EVAL",
                        ei,
                        [raw("CrossEntropyLoss_output_0", "losses", np.float32(evals[ei // 2 * 2]))],
                    )
                )
                g, ei = g + 1, ei + 1
    return out


def test_loss_not_decreasing(tmp_path):
    plateau = [2.0 / (1 + s) for s in range(15)] + [0.125] * 25
    found = builtin_rule(
        "loss_not_decreasing", open_trial(tmp_path, loss_steps(plateau), name="a")
    ).evaluate()
    assert len(found) == 1 and found[0].mode == "TRAIN" and found[0].mode_step == 30
    falling = [2.0 / (1 + s) for s in range(40)]
    assert (
        builtin_rule("loss_not_decreasing", open_trial(tmp_path, loss_steps(falling), name="b")).evaluate()
        == []
    )
    assert builtin_rule(
        "loss_not_decreasing", open_trial(tmp_path, loss_steps(falling), name="c"), diff_percent=60
    ).evaluate()


def test_overfit_and_overtraining(tmp_path):
    train = [1.0 / (1 + s) for s in range(30)]
    rising = [0.5 + 0.1 * i for i in range(12)]
    t = open_trial(tmp_path, loss_steps(train, rising), name="a")
    found = builtin_rule("overfit", t).evaluate()
    assert len(found) == 1 and found[0].mode == "EVAL" and found[0].values["ratio"] > 0.1
    healthy = open_trial(
        tmp_path, loss_steps(train, [t * 1.05 for t in train[4::5] for _ in (0, 1)]), name="b"
    )
    assert builtin_rule("overfit", healthy).evaluate() == []
    over = builtin_rule("overtraining", t, patience_validation=3).evaluate()
    assert any(f.values["which"] == "validation" for f in over)
    assert (
        builtin_rule(
            "overtraining", healthy, patience_validation=3, delta=0.0001, patience_train=3
        ).evaluate()
        == []
    )


def test_dead_relu_and_saturated_activation(tmp_path):
    def recs(s: int) -> list:
        alive = np.maximum(rng.normal(size=(16, 10)), 0).astype(np.float32)
        dead = alive.copy()
        dead[:, :7] = 0
        tanh_in = (rng.normal(size=(16, 10)) + (30 if s >= 2 else 0)).astype(np.float32)
        return [raw("relu1_output_0", "outputs", alive), raw("relu2_output_0", "outputs", dead),
                raw("tanh_input_0", "inputs", tanh_in)]  # fmt: skip

    t = open_trial(tmp_path, train_steps(4, recs))
    found = builtin_rule("dead_relu", t).evaluate()
    assert [(f.tensor, f.step) for f in found] == [("relu2_output_0", 0)] and found[0].values["value"] == 70
    found = builtin_rule("saturated_activation", t).evaluate()
    assert [(f.tensor, f.step) for f in found] == [("tanh_input_0", 2)]


def test_poor_weight_initialization(tmp_path):
    def recs(s: int, scale: float) -> list:
        return [raw("relu1_input_0", "inputs", rng.normal(size=(8, 4)).astype(np.float32)),
                raw("relu2_input_0", "inputs", rng.normal(scale=scale, size=(8, 4)).astype(np.float32)),
                raw("Net_fc1.weight", "weights", rng.normal(scale=scale * 0.1, size=(4, 4)).astype(np.float32)),
                raw("MSELoss_output_0", "losses", np.float32(1.0 / (s + 1)))]  # fmt: skip

    bad = builtin_rule(
        "poor_weight_initialization", open_trial(tmp_path, train_steps(12, lambda s: recs(s, 100)), name="a")
    )
    assert any("variance" in f.message for f in bad.evaluate())
    tiny = builtin_rule(
        "poor_weight_initialization", open_trial(tmp_path, train_steps(12, lambda s: recs(s, 1e-4)), name="b")
    )
    assert any(f.tensor == "Net_fc1.weight" for f in tiny.evaluate())
    ok = builtin_rule(
        "poor_weight_initialization", open_trial(tmp_path, train_steps(12, lambda s: recs(s, 1.5)), name="c")
    )
    assert ok.evaluate() == []


def test_class_imbalance_and_confusion(tmp_path):
    def recs(s: int, skew: bool) -> list:
        y = np.array([0] * 60 + [1] * 4 if skew else [0, 1, 2, 3] * 16, np.int64)
        logits = np.eye(4, dtype=np.float32)[y] * 5
        if skew:
            logits[-4:] = np.eye(4, dtype=np.float32)[0] * 5  # the rare class is always mispredicted as 0
        return [raw("labels", "labels", y), raw("predictions", "predictions", logits)]

    bad = open_trial(tmp_path, train_steps(10, lambda s: recs(s, True)), name="a")
    found = builtin_rule("class_imbalance", bad).evaluate()
    assert {("ratio" in f.values) for f in found} == {True, False} and found[
        0
    ].step == 7  # 8 x 64 >= 500 samples
    conf = builtin_rule("confusion", bad).evaluate()
    assert any(f.values.get("predicted") == 0 and f.values.get("cls") == 1 for f in conf)
    good = open_trial(tmp_path, train_steps(10, lambda s: recs(s, False)), name="b")
    assert (
        builtin_rule("class_imbalance", good).evaluate() == []
        and builtin_rule("confusion", good).evaluate() == []
    )


def test_check_input_images_and_nlp_sequence_ratio(tmp_path):
    def recs(s: int, offset: float) -> list:
        img = (rng.normal(size=(50, 3, 4, 4)) + offset).astype(np.float32)
        tokens = np.array([[5, 6, 0, 0, 0, 0]] * 4 if offset else [[5, 6, 7, 8, 9, 0]] * 4, np.int64)
        return [raw("Net_input_0", "inputs", img), raw("embedding_input_0", "inputs", tokens)]

    bad = open_trial(tmp_path, train_steps(12, lambda s: recs(s, 0.5)), name="a")
    found = builtin_rule("check_input_images", bad).evaluate()
    assert [(f.tensor, f.step) for f in found] == [("Net_input_0", 9)]  # 10 x 50 images
    assert [f.step for f in builtin_rule("nlp_sequence_ratio", bad).evaluate()] == [0]
    good = open_trial(tmp_path, train_steps(12, lambda s: recs(s, 0.0)), name="b")
    assert builtin_rule("check_input_images", good).evaluate() == []
    assert builtin_rule("nlp_sequence_ratio", good).evaluate() == []


def test_similar_across_runs(tmp_path):
    a = open_trial(tmp_path, train_steps(5, lambda s: grads(s)), name="a")
    b = open_trial(tmp_path, train_steps(5, lambda s: grads(s, vanish_from=3)), name="b")
    found = builtin_rule("similar_across_runs", a, other_trials=[b]).evaluate()
    assert [(f.tensor, f.step) for f in found] == [("gradient/Net_fc1.weight", 3)]
    same = open_trial(tmp_path, train_steps(5, lambda s: grads(s)), name="c")
    assert builtin_rule("similar_across_runs", a, other_trials=[same]).evaluate() == []
    with pytest.raises(RuleConfigError, match="other trial"):
        builtin_rule("similar_across_runs", a)


def test_stalled_training(tmp_path):
    from rules_helpers import write_trial

    from smdbg.trials import create_trial

    path = write_trial(tmp_path / "live", train_steps(3, grads), end=False)
    t = create_trial(path)
    assert builtin_rule("stalled_training", t, threshold=3600).evaluate() == []
    found = builtin_rule("stalled_training", t, threshold=0).evaluate()
    assert len(found) == 1 and "no progress" in found[0].message
    ended = open_trial(tmp_path, train_steps(3, grads), name="ended")
    assert builtin_rule("stalled_training", ended, threshold=0).evaluate() == []
