"""smdbg.integrations.lightning.SmdbgCallback with a real Lightning Trainer and a tiny
LightningModule: optimizer steps under gradient accumulation (forward and backward run inside
``optimizer.step(closure)``), modes of fit/validate/test/predict, the loss, logged values."""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
L = pytest.importorskip("lightning")

import smdbg.pytorch as smd  # noqa: E402
from smdbg.integrations.lightning import SmdbgCallback  # noqa: E402
from smdbg.modes import ModeKeys  # noqa: E402

F = torch.nn.functional


class Tiny(L.LightningModule):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: Any, i: int) -> torch.Tensor:
        loss = F.mse_loss(self(batch[0]), batch[1])
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: Any, i: int) -> torch.Tensor:
        loss = F.mse_loss(self(batch[0]), batch[1])
        self.log("val_loss", loss)
        return loss

    test_step = validation_step

    def predict_step(self, batch: Any, i: int) -> torch.Tensor:
        return self(batch[0])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


X = torch.randn(32, 4, generator=torch.Generator().manual_seed(3))
Y = X.sum(1, keepdim=True)


def loader(n: int = 32) -> Any:
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X[:n], Y[:n]), batch_size=4)


def trainer(tmp_path: Any, callback: SmdbgCallback, **kw: Any) -> Any:
    return L.Trainer(callbacks=[callback], logger=False, enable_checkpointing=False, enable_progress_bar=False,
                     enable_model_summary=False, accelerator="cpu", default_root_dir=str(tmp_path),
                     num_sanity_val_steps=0, log_every_n_steps=1, **kw)  # fmt: skip


def test_fit_validate_test_predict(tmp_path: Any) -> None:
    out = str(tmp_path / "trial")
    cb = SmdbgCallback(out, save_config=smd.SaveConfig(save_interval=1), keep_open=True,
                       include_collections=["weights", "biases", "gradients", "losses"])  # fmt: skip
    torch.manual_seed(0)
    model = Tiny()
    start = copy.deepcopy(model)
    tr = trainer(tmp_path, cb, max_steps=3, accumulate_grad_batches=2, limit_val_batches=2, val_check_interval=4)
    tr.fit(model, loader(), loader())
    tr.test(model, loader(12))
    tr.predict(model, loader(8))
    cb.close()

    trial = smd.create_trial(out)
    # 6 micro-batches, accumulation 2: three optimizer steps; validation (2 batches) + test (3 batches): EVAL
    assert trial.steps(mode=ModeKeys.TRAIN) == [0, 1, 2]
    assert trial.steps(mode=ModeKeys.EVAL) == [0, 1, 2, 3, 4]
    assert trial.steps(mode=ModeKeys.PREDICT) == [0, 1]

    # the loss of step 0: the mean of its two micro-batch losses, from the starting weights
    with torch.no_grad():
        expected = np.mean([F.mse_loss(start(X[i : i + 4]), Y[i : i + 4]).item() for i in (0, 4)])
    loss = trial.tensor("loss_output_0")
    assert float(loss.value(0, mode=ModeKeys.TRAIN)) == pytest.approx(expected, rel=1e-5)
    assert loss.steps(mode=ModeKeys.EVAL) == [0, 1, 2, 3, 4]
    # weights before each update, the complete accumulated gradient it used (plain SGD)
    w, g = trial.tensor("Tiny_net.0.weight"), trial.tensor("gradient/Tiny_net.0.weight")
    np.testing.assert_allclose(w.value(0, mode=ModeKeys.TRAIN), start.net[0].weight.detach().numpy())
    assert g.steps(mode=ModeKeys.TRAIN) == [0, 1, 2] and g.steps(mode=ModeKeys.EVAL) == []
    for k in (0, 1):
        expected_w = w.value(k, mode=ModeKeys.TRAIN) - 0.1 * g.value(k, mode=ModeKeys.TRAIN)
        np.testing.assert_allclose(w.value(k + 1, mode=ModeKeys.TRAIN), expected_w, rtol=1e-5, atol=1e-7)

    rows = trial.to_pandas()
    scalars = rows[rows.tensor.str.startswith("scalar/")]
    assert set(scalars[scalars.tensor == "scalar/train_loss"]["mode"]) == {"TRAIN"}
    assert set(scalars[scalars.tensor == "scalar/val_loss"]["mode"]) == {"EVAL"}
    assert trial.training_has_ended()


def test_json_config_file(tmp_path: Any) -> None:
    out = str(tmp_path / "trial")
    path = tmp_path / "hook.json"
    path.write_text(json.dumps({"LocalPath": out, "HookParameters": {"save_interval": "2"},
                                "CollectionConfigurations": [{"CollectionName": "gradients"}]}))  # fmt: skip
    trainer(tmp_path, SmdbgCallback(config=str(path)), max_steps=5, limit_val_batches=0).fit(Tiny(), loader())
    trial = smd.create_trial(out)
    assert trial.tensor("gradient/Tiny_net.2.weight").steps(mode=ModeKeys.TRAIN) == [0, 2, 4]
    assert trial.training_has_ended()  # closed at the end of fit
