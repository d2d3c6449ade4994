"""smdebug's documented TensorFlow hook API (issue 19, item 7), written as smdebug's
docs/tensorflow.md and docs/api.md show it: KerasHook as a callback, the TF2 GradientTape loop
with ``wrap_tape`` and ``record_tensor_value``, ``get_hook(hook_type, ...)``/``set_hook``/``del_hook``,
``save_scalar`` names and ``Collection.add_keras_layer``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")
import smdbg.tensorflow as smd  # noqa: E402


def _model() -> keras.Model:
    keras.utils.set_random_seed(3)
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(5, activation="relu", name="hidden"),
                             keras.layers.Dense(2, name="logits")])  # fmt: skip


def _data(n: int = 32) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 3)).astype("float32"), rng.integers(0, 2, size=(n,))


def test_keras_fit_and_evaluate_with_the_hook_as_callback(tmp_path: Path) -> None:
    x, y = _data()
    model = _model()
    hook = smd.KerasHook(out_dir=str(tmp_path / "run"), save_config=smd.SaveConfig(save_interval=2),
                         include_collections=["hidden_out", "losses", "metrics"])  # fmt: skip
    hook.get_collection("hidden_out").add_keras_layer(model.get_layer("hidden"))  # outputs only by default
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])  # fmt: skip
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[hook])
    model.evaluate(x, y, batch_size=8, verbose=0, callbacks=[hook])
    hook.save_scalar("epochs", 1)
    hook.close()
    trial = smd.create_trial(str(tmp_path / "run"))
    assert trial.tensor_names(collection="hidden_out") == ["hidden/outputs"]
    assert trial.tensor("hidden/outputs").steps(mode=smd.modes.TRAIN) == [0, 2]
    assert trial.tensor("hidden/outputs").value(0, mode=smd.modes.TRAIN).shape == (8, 5)
    assert trial.tensor("loss").steps(mode=smd.modes.EVAL) == [0, 2]
    assert "accuracy" in trial.tensor_names(collection="metrics")
    assert "scalar/epochs" in trial.tensor_names(collection="scalars")


def test_gradient_tape_loop_as_documented(tmp_path: Path) -> None:
    x, y = _data()
    hook = smd.KerasHook(out_dir=str(tmp_path / "run"), save_config=smd.SaveConfig(save_interval=1),
                         include_collections=["gradients", "losses", "metrics"])  # fmt: skip
    model = _model()
    model.build((None, 3))
    cce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    opt = keras.optimizers.SGD(0.1)
    train_acc_metric = keras.metrics.SparseCategoricalAccuracy()
    accuracies = []
    for start in range(0, 32, 8):
        data, labels = x[start : start + 8], y[start : start + 8]
        with hook.wrap_tape(tf.GradientTape(persistent=True)) as tape:
            logits = model(data, training=True)
            loss_value = cce(labels, logits)
        grads = tape.gradient(loss_value, model.variables)
        opt.apply_gradients(zip(grads, model.variables))
        acc = train_acc_metric(labels, logits)
        hook.record_tensor_value(tensor_name="accuracy", tensor_value=acc)  # smdebug's docs, word for word
        accuracies.append(float(acc))
    hook.close()
    trial = smd.create_trial(str(tmp_path / "run"))
    assert "accuracy" in trial.tensor_names(collection="metrics")
    got = trial.tensor("accuracy").values()
    assert [float(got[s]) for s in sorted(got)] == pytest.approx(accuracies)
    kernel = model.get_layer("hidden").kernel.path
    assert trial.tensor(f"gradients/{kernel}").steps() == [0, 1, 2, 3]


def test_get_set_del_hook_with_smdebugs_signature(tmp_path: Path) -> None:
    smd.del_hook()
    assert smd.get_hook() is None
    cfg = tmp_path / "hook.json"
    cfg.write_text(json.dumps({"LocalPath": str(tmp_path / "run"), "S3Path": "s3://b/p"}))
    with pytest.raises(ValueError, match="needs hook_type"):
        smd.get_hook(create_if_not_exists=True)
    with pytest.warns(UserWarning, match="ignoring unknown 'S3Path'"):
        keras_hook = smd.get_hook("keras", str(cfg), True)  # positional, as smdebug orders them
    assert isinstance(keras_hook, smd.KerasHook) and smd.get_hook() is keras_hook
    assert smd.get_hook(hook_type="session") is None  # a Keras hook is not a session hook
    session_hook = smd.SessionHook(out_dir=str(tmp_path / "other"))
    smd.set_hook(keras_hook)
    assert smd.get_hook("keras") is keras_hook
    smd.del_hook()
    assert smd.get_hook() is None
    with pytest.raises(ValueError, match="hook_type='torch'"):
        smd.get_hook("torch")
    keras_hook.close()
    session_hook.close()
