"""smdbg.integrations.transformers.SmdbgCallback with a real Trainer and a tiny BERT made from
a config (no downloads): optimizer steps under gradient accumulation, modes, the loss, the
Trainer's logged values as scalars, weights before and gradients of each update."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import smdbg.pytorch as smd  # noqa: E402
from smdbg.integrations.transformers import SmdbgCallback  # noqa: E402
from smdbg.modes import ModeKeys  # noqa: E402

CLASSIFIER = "BertForSequenceClassification_classifier.weight"


def tiny_bert() -> Any:
    cfg = transformers.BertConfig(
        vocab_size=40, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8,
        max_position_embeddings=8, num_labels=2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )  # fmt: skip
    torch.manual_seed(0)
    return transformers.AutoModelForSequenceClassification.from_config(cfg)


def data(n: int) -> list[dict[str, Any]]:
    g = torch.Generator().manual_seed(1)
    return [{"input_ids": torch.randint(0, 40, (6,), generator=g), "labels": torch.tensor(i % 2)} for i in range(n)]


def trainer(tmp_path: Any, callback: SmdbgCallback, max_steps: int = 4, **args: Any) -> Any:
    targs = transformers.TrainingArguments(
        output_dir=str(tmp_path / "hf"), max_steps=max_steps, per_device_train_batch_size=2,
        per_device_eval_batch_size=4, gradient_accumulation_steps=2, logging_steps=1, report_to=[],
        use_cpu=True, save_strategy="no", disable_tqdm=True, optim="sgd", learning_rate=0.1,
        lr_scheduler_type="constant", max_grad_norm=0.0, **args,
    )  # fmt: skip
    return transformers.Trainer(model=tiny_bert(), args=targs, train_dataset=data(16), eval_dataset=data(8),
                                callbacks=[callback])  # fmt: skip


def test_steps_modes_loss_scalars_and_updates(tmp_path: Any) -> None:
    out = str(tmp_path / "trial")
    cb = SmdbgCallback(out, save_config=smd.SaveConfig(save_interval=1), keep_open=True,
                       include_collections=["weights", "gradients", "losses"])  # fmt: skip
    tr = trainer(tmp_path, cb, eval_strategy="steps", eval_steps=2)
    tr.train()
    with cb.predicting():
        tr.predict(data(8))
    cb.close()

    trial = smd.create_trial(out)
    # 8 micro-batches, accumulation 2: four optimizer steps (and a fifth TRAIN step under way when
    # the Trainer logged the last one's values); two evaluations of 2 batches; 2 predict batches
    assert trial.steps(mode=ModeKeys.TRAIN) == [0, 1, 2, 3, 4]
    assert trial.steps(mode=ModeKeys.EVAL) == [0, 1, 2, 3]
    assert trial.steps(mode=ModeKeys.PREDICT) == [0, 1]
    grad = trial.tensor(f"gradient/{CLASSIFIER}")
    assert grad.steps(mode=ModeKeys.TRAIN) == [0, 1, 2, 3]
    assert grad.steps(mode=ModeKeys.EVAL) == []
    # weights are those the update started from, gradients the accumulated ones it used (SGD)
    w = trial.tensor(CLASSIFIER)
    for k in range(3):
        expected = w.value(k, mode=ModeKeys.TRAIN) - 0.1 * grad.value(k, mode=ModeKeys.TRAIN)
        np.testing.assert_allclose(w.value(k + 1, mode=ModeKeys.TRAIN), expected, rtol=1e-5, atol=1e-7)
    loss = trial.tensor("loss_output_0")
    assert loss.steps(mode=ModeKeys.TRAIN) == [0, 1, 2, 3]
    assert loss.steps(mode=ModeKeys.EVAL) == [0, 1, 2, 3]
    assert loss.steps(mode=ModeKeys.PREDICT) == [0, 1]  # the prediction set has labels
    assert 0.5 < float(loss.value(0, mode=ModeKeys.TRAIN)) < 1.0  # cross-entropy of 2 classes near ln 2

    rows = trial.to_pandas()
    scalars = rows[rows.tensor.str.startswith("scalar/")]
    modes = {t: set(g["mode"]) for t, g in scalars.groupby("tensor")}
    assert modes["scalar/learning_rate"] == {"TRAIN"} and modes["scalar/loss"] == {"TRAIN"}
    assert modes["scalar/eval_loss"] == {"EVAL"}
    lr = scalars[scalars.tensor == "scalar/learning_rate"]
    assert lr["value"].tolist() == pytest.approx([0.1] * 4)
    # a value logged after optimizer step k is at TRAIN step k + 1: the Trainer's global_step
    assert lr["mode_step"].tolist() == [1, 2, 3, 4]
    assert trial.training_has_ended()


def test_json_config_and_keyword_override(tmp_path: Any) -> None:
    out = str(tmp_path / "trial")
    config = {"LocalPath": out, "HookParameters": {"save_interval": "2", "include_collections": "losses,gradients"}}
    path = tmp_path / "hook.json"
    path.write_text(json.dumps(config))
    trainer(tmp_path, SmdbgCallback(config=str(path))).train()
    trial = smd.create_trial(out)
    assert trial.tensor("loss_output_0").steps(mode=ModeKeys.TRAIN) == [0, 2]
    assert trial.tensor(f"gradient/{CLASSIFIER}").steps(mode=ModeKeys.TRAIN) == [0, 2]

    out2 = str(tmp_path / "trial2")
    cb = SmdbgCallback(out2, config=config, save_config=smd.SaveConfig(save_interval=3))  # keywords win
    trainer(tmp_path, cb).train()
    assert smd.create_trial(out2).tensor("loss_output_0").steps(mode=ModeKeys.TRAIN) == [0, 3]


def test_a_crash_in_training_still_closes_the_trial(tmp_path: Any) -> None:
    """The Trainer has no callback event for an exception: the hook is closed at exit."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    out, k = str(tmp_path / "trial"), 3
    script = Path(__file__).with_name("_hf_crash.py")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run([sys.executable, str(script), out, str(k), str(tmp_path / "hf")], capture_output=True,
                          text=True, timeout=300, env=env)  # fmt: skip
    assert proc.returncode != 0 and f"model failed at training step {k}" in proc.stderr
    assert "closing the hook of a SmdbgCallback that was left open" in proc.stderr
    trial = smd.create_trial(out)
    assert trial.training_has_ended()
    assert trial.steps() == list(range(k))  # each optimizer step before the failing one
    assert trial.tensor("loss_output_0").steps() == list(range(k))
    assert trial.save_reports()  # written at close


def test_loss_hook_only_at_steps_that_save_losses(tmp_path: Any) -> None:
    """The callback's loss forward hook is on the model only at steps that save losses (a Python
    call per micro-batch saved on the others), and what is saved does not change: at a saved
    TRAIN step the mean of its micro-batches' losses, each EVAL batch its own step."""
    out = str(tmp_path / "trial")
    forward_hooks: list[int] = []  # on the model at each optimizer step, after its micro-batches
    train_losses: list[float] = []  # every training micro-batch's loss, seen by a hook of the test's own

    class Probe(transformers.TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
            def keep(module: Any, a: Any, output: Any) -> None:
                if module.training:
                    train_losses.append(float(output["loss"]))

            self.handle = model.register_forward_hook(keep)

        def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
            forward_hooks.append(len(model._forward_hooks) - 1)  # less the test's own

        def on_train_end(self, *a: Any, **kw: Any) -> None:
            self.handle.remove()

    cb = SmdbgCallback(out, save_config=smd.SaveConfig(save_interval=2))
    tr = trainer(tmp_path, cb, max_steps=4, eval_strategy="steps", eval_steps=2)
    tr.add_callback(Probe())
    tr.train()

    assert forward_hooks == [1, 0, 1, 0]  # TRAIN steps 0 and 2 save losses
    trial = smd.create_trial(out)
    loss = trial.tensor("loss_output_0")
    assert loss.steps(mode=ModeKeys.TRAIN) == [0, 2]
    assert loss.steps(mode=ModeKeys.EVAL) == [0, 2]  # two evaluations of 2 batches: EVAL steps 0-3
    assert len(train_losses) == 8  # 4 steps of 2 micro-batches
    for k in (0, 2):
        expected = (train_losses[2 * k] + train_losses[2 * k + 1]) / 2
        assert float(loss.value(k, mode=ModeKeys.TRAIN)) == pytest.approx(expected, rel=1e-6)
