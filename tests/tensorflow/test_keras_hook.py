"""KerasHook (Keras 3, TF backend) and custom TF2 loops with real TensorFlow."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")
import smdbg.tensorflow as smd  # noqa: E402
from smdbg.reductions import compute_reductions  # noqa: E402
from smdbg.store.control import request_stop  # noqa: E402

ALL = ["weights", "biases", "gradients", "losses", "metrics", "inputs", "outputs"]


def _data(n: int = 48) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return rng.normal(size=(n, 3)).astype("float32"), rng.normal(size=(n, 1)).astype("float32")


def _model(run_eagerly: bool = False) -> keras.Model:
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(5, activation="tanh"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", metrics=["mae"], run_eagerly=run_eagerly)
    return model


@pytest.mark.parametrize("run_eagerly", [False, True], ids=["compiled", "eager"])
def test_fit_gradients_match_gradient_tape(tmp_path: Path, run_eagerly: bool) -> None:
    x, y = _data()
    model = _model(run_eagerly)
    hook = smd.KerasHook(str(tmp_path), include_collections=ALL, save_config=smd.SaveConfig(save_interval=3))
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[hook])
    hook.close()
    trial = smd.create_trial(str(tmp_path))
    kernel, bias = (v.path for v in model.layers[0].trainable_weights)
    assert trial.tensor(f"gradients/{kernel}").steps(mode="TRAIN") == [0, 3]
    clone = _model()
    for step in (0, 3):
        # weights as they were before that step's update, the step's batch, independent gradients
        values = [trial.tensor(v.path).value(step, mode="TRAIN") for v in model.trainable_weights]
        clone.set_weights(values)
        xb, yb = x[step * 8 : (step + 1) * 8], y[step * 8 : (step + 1) * 8]
        np.testing.assert_allclose(
            trial.tensor(f"{model.layers[0].name}/inputs").value(step, mode="TRAIN"), xb
        )
        with tf.GradientTape() as tape:
            loss = keras.losses.MeanSquaredError()(yb, clone(xb, training=True))
        grads = tape.gradient(loss, clone.trainable_weights)
        for v, g in zip(model.trainable_weights, grads):
            np.testing.assert_allclose(
                trial.tensor(f"gradients/{v.path}").value(step, mode="TRAIN"), g.numpy(), rtol=1e-4, atol=1e-6
            )
        assert float(trial.tensor("loss").value(step, mode="TRAIN")) == pytest.approx(float(loss), rel=1e-4)
        out = trial.tensor(f"{model.layers[1].name}/outputs").value(step, mode="TRAIN")
        np.testing.assert_allclose(out, clone(xb).numpy(), rtol=1e-4, atol=1e-6)
    assert trial.tensor_names(collection="biases") == sorted(
        v.path for v in model.trainable_weights if "bias" in v.path
    )
    assert bias in trial.tensor_names(collection="biases") and kernel in trial.tensor_names(
        collection="weights"
    )
    assert "mae" in trial.tensor_names(collection="metrics")


def test_modes_follow_fit_evaluate_predict(tmp_path: Path) -> None:
    x, y = _data(32)
    model = _model()
    hook = smd.KerasHook(
        str(tmp_path),
        include_collections=["losses", "weights", "outputs"],
        save_config=smd.SaveConfig(save_interval=2),
    )
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[hook], validation_data=(x[:16], y[:16]))
    model.evaluate(x, y, batch_size=8, verbose=0, callbacks=[hook])
    model.predict(x, batch_size=8, verbose=0, callbacks=[hook])
    assert smd.get_hook() is hook
    hook.close()
    trial = smd.create_trial(str(tmp_path))
    assert trial.steps(mode="TRAIN") == [0, 2, 4, 6]
    assert trial.tensor("loss").steps(mode="EVAL") == [0, 2, 4, 6]  # 2 x 2 validation + 4 evaluate
    assert trial.tensor("model/outputs").steps(mode="PREDICT") == [0, 2]
    assert trial.tensor("model/outputs").value(0, mode="PREDICT").shape == (8, 1)
    assert set(trial.modes()) == {smd.modes.TRAIN, smd.modes.EVAL, smd.modes.PREDICT}
    # unsaved steps ran Keras's own compiled function; the dispatcher is gone after close
    assert not getattr(model.train_function, "_smdbg_dispatcher", False)


def test_compiled_reductions_match_numpy(tmp_path: Path) -> None:
    x, y = _data(16)
    model = _model()
    rc = smd.ReductionConfig(reductions=["min", "max", "mean", "std", "variance", "sum"], abs_reductions=["max"],
                             norms=["l1", "l2"], abs_norms=["l2"], save_raw_tensor=True)  # fmt: skip
    hook = smd.KerasHook(
        str(tmp_path),
        include_collections=["weights", "gradients"],
        reduction_config=rc,
        save_config=smd.SaveConfig(save_interval=1),
    )
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[hook])
    hook.close()
    trial = smd.create_trial(str(tmp_path))
    names = trial.tensor_names()
    assert len(names) == 6  # kernels (weights) and the gradients of all four variables; biases not included
    for name in names:
        t = trial.tensor(name)
        raw = t.value(1)
        stored = t.reduction_values(1)
        want = compute_reductions(raw, [("abs_" if a else "") + n for n, a in stored])
        assert len(stored) == 10
        for (n, a), v in stored.items():
            assert v == pytest.approx(want[("abs_" if a else "") + n], rel=1e-5, abs=1e-7), (name, n, a)


def test_reductions_only_keep_no_raw(tmp_path: Path) -> None:
    x, y = _data(16)
    model = _model()
    hook = smd.KerasHook(str(tmp_path), include_collections=["weights", "gradients", "losses"],
                         reduction_config=smd.ReductionConfig(reductions=["mean"], abs_reductions=["max"], norms=["l2"]),
                         save_config=smd.SaveConfig(save_interval=1))  # fmt: skip
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[hook])
    hook.close()
    trial = smd.create_trial(str(tmp_path))
    kernel = model.trainable_weights[0].path
    with pytest.raises(LookupError):
        trial.tensor(kernel).value(0)
    assert set(trial.tensor(f"gradients/{kernel}").reduction_values(0)) == {
        ("mean", False),
        ("max", True),
        ("l2", False),
    }
    assert float(trial.tensor("loss").value(1)) > 0


def test_gradient_tape_loop_and_nan_values(tmp_path: Path) -> None:
    x, y = _data(16)
    model = _model()
    hook = smd.KerasHook(str(tmp_path), include_collections=["weights", "gradients", "losses", "custom"],
                         save_config=smd.SaveConfig(save_interval=2))  # fmt: skip
    opt = keras.optimizers.SGD(0.1)
    expected = {}
    for step in range(4):
        with hook.wrap_tape(tf.GradientTape()) as tape:
            loss = keras.losses.MeanSquaredError()(y, model(x))
        grads = tape.gradient(loss, model.trainable_weights)
        expected[step] = grads[0].numpy()
        opt.apply_gradients(zip(grads, model.trainable_weights))
        hook.save_tensor("nan_tensor", np.array([np.nan, 1.0, np.inf]), "custom")
        hook.save_scalar("lr", 0.1)
    hook.close()
    trial = smd.create_trial(str(tmp_path))
    kernel = model.trainable_weights[0].path
    assert trial.tensor(f"gradients/{kernel}").steps() == [0, 2]
    for step in (0, 2):
        np.testing.assert_allclose(trial.tensor(f"gradients/{kernel}").value(step), expected[step], rtol=1e-6)
    assert trial.tensor("loss").steps() == [0, 2]
    raw = trial.tensor("nan_tensor").value(2)
    assert math.isnan(raw[0]) and raw[1] == 1.0 and math.isinf(raw[2])
    assert trial.tensor("lr").steps() == [0, 1, 2, 3]  # save_scalar saves every step


def test_wrapped_keras_optimizer_in_custom_loop(tmp_path: Path) -> None:
    x, y = _data(16)
    model = _model()
    hook = smd.KerasHook(
        str(tmp_path),
        include_collections=["gradients", "outputs"],
        save_config=smd.SaveConfig(save_interval=1),
    )
    hook.register_model(model)
    opt = hook.wrap_optimizer(keras.optimizers.Adam(0.01))
    for _ in range(2):
        with hook.wrap_tape(tf.GradientTape()) as tape:
            loss = keras.losses.MeanSquaredError()(y, model(x))
        opt.apply_gradients(zip(tape.gradient(loss, model.trainable_weights), model.trainable_weights))
    hook.close()
    trial = smd.create_trial(str(tmp_path))
    assert trial.tensor(f"gradients/{model.trainable_weights[0].path}").steps() == [0, 1]
    assert trial.tensor(f"{model.layers[1].name}/outputs").value(1).shape == (16, 1)


def test_stop_request_sets_stop_training(tmp_path: Path) -> None:
    x, y = _data(64)
    model = _model()
    hook = smd.KerasHook(str(tmp_path), save_config=smd.SaveConfig(save_interval=1), stop_check_secs=0)
    seen = []

    class Count(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: object = None) -> None:
            seen.append(batch)
            if batch == 1:
                request_stop(str(tmp_path), "loss exploded")

    model.fit(x, y, batch_size=4, epochs=3, verbose=0, callbacks=[Count(), hook])
    assert model.stop_training and len(seen) == 2
    trial = smd.create_trial(str(tmp_path))
    assert trial.training_has_ended()
    assert trial.tensor("loss").steps() == [0, 1]


def test_bad_input_errors(tmp_path: Path) -> None:
    hook = smd.KerasHook(str(tmp_path))
    unbuilt = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="not built yet.*model.build"):
        hook.register_model(unbuilt)
    with pytest.raises(TypeError, match="keras.optimizers.Optimizer.*SessionHook"):
        hook.wrap_optimizer(tf.compat.v1.train.GradientDescentOptimizer(0.1))
    with pytest.raises(TypeError, match="tf.GradientTape"):
        hook.wrap_tape(object())
    with pytest.raises(TypeError, match="save_config"):
        smd.KerasHook(str(tmp_path), save_config={"save_interval": 2})
    hook.close()


def test_import_smdbg_does_not_import_tensorflow() -> None:
    code = "import sys, smdbg, smdbg.hooks; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
