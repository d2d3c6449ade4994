"""SessionHook (graph mode) with real TensorFlow: the issue's script, reductions, modes, errors."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import smdbg
from smdbg.exceptions import TensorUnavailableForStep
from smdbg.reductions import compute_reductions

pytestmark = pytest.mark.filterwarnings("ignore")


def test_example_script_saves_weight_gradient_and_loss(graph_runs: tuple[Path, dict[str, Any]]) -> None:
    base, _ = graph_runs
    trial = smdbg.create_trial(str(base / "example"))
    assert trial.training_has_ended()
    names = trial.tensor_names()
    assert (
        "initialize/weight1:0" in names
        and "gradients/initialize/weight1:0" in names
        and "loss/loss:0" in names
    )
    assert trial.tensor_names(collection="gradients") == ["gradients/initialize/weight1:0"]
    for name in ("initialize/weight1:0", "gradients/initialize/weight1:0", "loss/loss:0"):
        assert trial.tensor(name).steps(mode=smdbg.modes.TRAIN) == [0, 5, 10]
    w = trial.tensor("initialize/weight1:0")
    # the reduction config of the script: mean, abs max, l1 (weights start at [[10], [10]])
    assert w.reduction_values(0, mode="TRAIN") == pytest.approx(
        {("mean", False): 10.0, ("max", True): 10.0, ("l1", False): 20.0}, rel=1e-3
    )
    g = trial.tensor("gradients/initialize/weight1:0").reduction_values(5, mode="TRAIN")
    assert set(g) == {("mean", False), ("max", True), ("l1", False)} and g[("l1", False)] > 0
    with pytest.raises(TensorUnavailableForStep):
        w.value(0)  # only reductions were asked for: no raw weights left the graph
    loss = trial.tensor("loss/loss:0")
    assert float(loss.value(0)) > 0  # scalars are kept raw as well


def test_sgd_gradients_match_numpy_trajectory_and_modes(graph_runs: tuple[Path, dict[str, Any]]) -> None:
    base, res = graph_runs
    data = res["sgd"]
    x, y, w, lr = np.array(data["x"]), np.array(data["y"]), np.array(data["w0"]), data["lr"]
    b = np.zeros(1)
    expected = {}
    for step in range(5):
        err = x @ w + b - y
        gw = 2.0 / err.size * x.T @ err
        gb = 2.0 / err.size * err.sum(axis=0)
        expected[step] = (gw, float(np.mean(err**2)))
        w, b = w - lr * gw, b - lr * gb
    trial = smdbg.create_trial(str(base / "sgd"))
    grad = trial.tensor("gradients/model/w:0")
    assert grad.steps(mode="TRAIN") == [0, 2, 4]
    for step in (0, 2, 4):
        np.testing.assert_allclose(grad.value(step, mode="TRAIN"), expected[step][0], rtol=1e-4, atol=1e-6)
        assert float(trial.tensor("mse:0").value(step, mode="TRAIN")) == pytest.approx(
            expected[step][1], rel=1e-4
        )
    assert trial.tensor_names(collection="biases") == ["model/bias:0"]
    assert "model/w:0" in trial.tensor_names(collection="weights")
    # modes: TRAIN steps 0..4, EVAL steps 0..2 with its own counter; global steps continue
    assert trial.steps(mode="EVAL") == [0, 2]
    assert trial.tensor("mse:0").steps(mode="EVAL") == [0, 2]
    assert trial.global_step("EVAL", 0) == 5
    assert trial.mode_modestep(7) == (smdbg.modes.EVAL, 2)


def test_graph_reductions_match_numpy(graph_runs: tuple[Path, dict[str, Any]]) -> None:
    base, _ = graph_runs
    trial = smdbg.create_trial(str(base / "sgd"))
    for name in ("model/w:0", "gradients/model/w:0"):
        t = trial.tensor(name)
        for step in t.steps(mode="TRAIN"):
            raw = t.value(step, mode="TRAIN")
            stored = t.reduction_values(step, mode="TRAIN")
            keys = [("abs_" if a else "") + n for n, a in stored]
            want = compute_reductions(raw, keys)
            for (n, a), value in stored.items():
                assert value == pytest.approx(want[("abs_" if a else "") + n], rel=1e-5, abs=1e-7), (
                    name,
                    n,
                    a,
                )


def test_nan_values_are_stored_as_they_are(graph_runs: tuple[Path, dict[str, Any]]) -> None:
    base, _ = graph_runs
    trial = smdbg.create_trial(str(base / "sgd"))
    (name,) = trial.tensor_names(collection="nan")
    t = trial.tensor(name)
    raw = t.value(0, mode="TRAIN")
    assert raw[0] == 1.0 and math.isnan(raw[1]) and raw[2] == -3.0
    stored = t.reduction_values(0, mode="TRAIN")
    for key in (("mean", False), ("max", False), ("min", False), ("max", True), ("l2", False)):
        assert math.isnan(stored[key]), key


def test_reductions_only_fetch_no_raw_tensors(graph_runs: tuple[Path, dict[str, Any]]) -> None:
    base, res = graph_runs
    fetches = res["reduced_fetches"]
    assert fetches["w:0"] == ["red"] and fetches["gradients/w:0"] == ["red"]
    assert "raw" in fetches["loss:0"]  # a scalar: one number
    trial = smdbg.create_trial(str(base / "reduced"))
    assert set(trial.tensor("w:0").reduction_values(1)) == {("mean", False), ("l2", False)}
    assert trial.tensor("w:0").reduction_value(0, "l2") == pytest.approx(math.sqrt(8.0), rel=1e-5)
    assert "optimizer_variables" not in trial.metadata["included_collections"]


def test_include_regex_selects_graph_tensors(graph_runs: tuple[Path, dict[str, Any]]) -> None:
    base, _ = graph_runs
    trial = smdbg.create_trial(str(base / "regex"))
    assert trial.tensor_names() == ["dense_out:0"]
    np.testing.assert_allclose(trial.tensor("dense_out:0").value(0), np.full((3, 2), 2.0))


def test_stop_request_stops_the_session(graph_runs: tuple[Path, dict[str, Any]]) -> None:
    base, res = graph_runs
    assert res["stop_ran"] == 4
    trial = smdbg.create_trial(str(base / "stop"))
    assert trial.training_has_ended()
    assert trial.tensor("loss:0").steps() == [0, 1, 2, 3]


def test_bad_input_errors_say_what_to_do(graph_runs: tuple[Path, dict[str, Any]]) -> None:
    _, res = graph_runs
    errs = res["errors"]
    assert "'foreign:0'" in errs["foreign"] and "another graph" in errs["foreign"]
    assert "'no/such:0'" in errs["missing"] and "not in the session's graph" in errs["missing"]
    assert "keras" in errs["optimizer"].lower() and "tf.compat.v1.train.Optimizer" in errs["optimizer"]
