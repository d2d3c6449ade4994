"""Endpoints serving tiny PyTorch (TorchScript) and Keras models, and an inference.py entry point."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from conftest_serving import smdbg_home

from smdbg.platform.serving import Model, Predictor

__all__ = ["smdbg_home"]


def test_pytorch_torchscript(smdbg_home: Path, tmp_path: Path) -> None:
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Tanh())
    directory = tmp_path / "torch"
    directory.mkdir()
    torch.jit.script(net).save(str(directory / "model.pt"))
    model = Model(str(directory))
    assert model.framework == "pytorch"
    predictor = model.deploy(endpoint_name="torch-ep")
    try:
        X = np.array([[0.1, 0.2, 0.3], [1.0, -1.0, 0.5]], dtype=np.float32)
        got = predictor.predict(X)
        with torch.no_grad():
            expect = net(torch.from_numpy(X)).numpy()
        np.testing.assert_allclose(got, expect, rtol=1e-5)
        as_json = Predictor("torch-ep", content_type="application/json").predict(X.tolist())
        np.testing.assert_allclose(as_json["predictions"], expect, rtol=1e-5)
    finally:
        predictor.delete_endpoint()


def test_keras_model(smdbg_home: Path, tmp_path: Path) -> None:
    import keras

    inputs = keras.Input(shape=(3,))
    net = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    directory = tmp_path / "keras"
    directory.mkdir()
    net.save(directory / "model.keras")
    predictor = Model(str(directory)).deploy(endpoint_name="keras-ep")
    try:
        X = np.array([[0.1, 0.2, 0.3], [1.0, -1.0, 0.5]], dtype=np.float32)
        np.testing.assert_allclose(predictor.predict(X), net.predict(X, verbose=0)[:, 0], rtol=1e-5)
    finally:
        predictor.delete_endpoint()


INFERENCE_PY = """
import json

class Doubler:
    def __call__(self, rows):
        return [[2 * v for v in row] for row in rows]

def model_fn(model_dir):
    with open(model_dir + "/factor.json") as f:
        assert json.load(f)["ok"]
    return Doubler()

def input_fn(body, content_type):
    if content_type != "application/json":
        raise ValueError("only JSON, got " + content_type)
    return json.loads(body)["rows"]

def predict_fn(data, model):
    return model(data)

def output_fn(prediction, accept):
    return json.dumps({"doubled": prediction}), "application/json"
"""


def test_inference_py_entry_point(smdbg_home: Path, tmp_path: Path) -> None:
    directory = tmp_path / "custom"
    directory.mkdir()
    (directory / "inference.py").write_text(INFERENCE_PY)
    (directory / "factor.json").write_text('{"ok": true}')
    model = Model(str(directory))
    assert model.framework == "custom"
    predictor = model.deploy(endpoint_name="custom-ep")
    try:
        out = Predictor("custom-ep", content_type="application/json").predict(
            json.dumps({"rows": [[1, 2], [3, 4]]})
        )
        assert out == {"doubled": [[2, 4], [6, 8]]}
        try:
            predictor.predict("1,2")
        except Exception as e:
            assert "only JSON, got text/csv" in str(e)
        else:  # pragma: no cover
            raise AssertionError("a CSV body should be rejected by the user's input_fn")
    finally:
        predictor.delete_endpoint()
