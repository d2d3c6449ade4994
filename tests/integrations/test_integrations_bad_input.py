"""Bad input to the training-framework callbacks: a hook, hook object or trial of another
framework, bad hook options, an unknown config key, nothing saying where to write. Each fails
with one clear error when the callback is made, before training starts: the model gets no hook,
another framework's trial is left as it was, and training runs as without the callback."""

from __future__ import annotations

import os
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
L = pytest.importorskip("lightning")
tf_smd = pytest.importorskip("smdbg.tensorflow")

from smdbg.integrations import lightning as pl_integration  # noqa: E402
from smdbg.integrations import transformers as hf_integration  # noqa: E402
from smdbg.integrations._common import WrongFrameworkError  # noqa: E402

CALLBACKS = [hf_integration.SmdbgCallback, pl_integration.SmdbgCallback]


def snapshot(root: str) -> dict[str, bytes]:
    files = {}
    for d, _, names in os.walk(root):
        for n in names:
            with open(os.path.join(d, n), "rb") as f:
                files[os.path.relpath(os.path.join(d, n), root)] = f.read()
    return files


@pytest.fixture(scope="module")
def tf_trial(tmp_path_factory: Any) -> str:
    """A trial written by a real TensorFlow (Keras) hook."""
    out = str(tmp_path_factory.mktemp("tf") / "trial")
    with tf_smd.KerasHook(out) as hook:
        hook.save_scalar("accuracy", 0.5)
    return out


@pytest.mark.parametrize("callback", CALLBACKS)
def test_another_frameworks_hook_is_refused(callback: Any, tmp_path: Any, tf_trial: str) -> None:
    keras_hook = tf_smd.KerasHook(str(tmp_path / "keras"))
    try:
        with pytest.raises(WrongFrameworkError, match=r"hook=smdbg\.hooks\.tf.*KerasHook.*tensorflow hook.*"
                                                      r"expected a smdbg\.pytorch\.Hook"):  # fmt: skip
            callback(hook=keras_hook)
        with pytest.raises(WrongFrameworkError, match=r"config=KerasHook.*tensorflow object.*expected a JSON hook config"):
            callback(config=keras_hook)
    finally:
        keras_hook.close()
    with pytest.raises(TypeError):  # WrongFrameworkError is a TypeError too
        callback(hook=object())


@pytest.mark.parametrize("callback", CALLBACKS)
def test_another_frameworks_trial_is_refused_and_left_alone(callback: Any, tf_trial: str, tmp_path: Any) -> None:
    before = snapshot(tf_trial)
    with pytest.raises(WrongFrameworkError, match=r"trial at .* was written by a tensorflow hook.*choose another out_dir"):
        callback(tf_trial)
    config = {"LocalPath": tf_trial, "HookParameters": {"save_interval": "1"}}
    with pytest.raises(WrongFrameworkError, match="tensorflow hook"):
        callback(config=config)
    assert snapshot(tf_trial) == before


def test_bad_values_fail_before_training(tmp_path: Any, monkeypatch: Any) -> None:
    monkeypatch.delenv("SMDBG_CONFIG_FILE_PATH", raising=False)
    monkeypatch.delenv("SMDEBUG_CONFIG_FILE_PATH", raising=False)
    for callback in CALLBACKS:
        with pytest.raises(ValueError, match=r"no out_dir, config or hook given; expected out_dir="):
            callback()
        with pytest.raises(ValueError, match="include_regex"):
            callback(str(tmp_path / "a"), include_regex="(")
        with pytest.raises(ValueError, match=r"config: unknown 'Framework' \(smdbg reads LocalPath"):
            callback(config={"LocalPath": str(tmp_path / "b"), "Framework": "pytorch"})
        with pytest.raises(TypeError, match=r"config=42\): expected a JSON hook config path or a dict"):
            callback(config=42)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_training_unaffected_after_a_refused_callback(tf_trial: str, tmp_path: Any) -> None:
    class Tiny(L.LightningModule):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(2, 1)

        def training_step(self, batch: Any, i: int) -> torch.Tensor:
            return torch.nn.functional.mse_loss(self.lin(batch[0]), batch[1])

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    callbacks: list[Any] = []
    with pytest.raises(WrongFrameworkError):
        callbacks.append(pl_integration.SmdbgCallback(tf_trial))
    model = Tiny()
    x = torch.randn(8, 2)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True)), batch_size=4)
    before = model.lin.weight.detach().clone()
    L.Trainer(max_steps=2, callbacks=callbacks, logger=False, enable_checkpointing=False, enable_progress_bar=False,
              enable_model_summary=False, accelerator="cpu", default_root_dir=str(tmp_path)).fit(model, data)  # fmt: skip
    assert not torch.equal(before, model.lin.weight) and not model._forward_hooks and not model._forward_pre_hooks
