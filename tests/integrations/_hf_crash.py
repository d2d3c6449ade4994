"""A Trainer whose model raises in its forward at training step ``k`` (argv: trial dir, k, work
dir): run as a script by test_transformers_callback.py; it exits with the model's error."""

from __future__ import annotations

import sys
from typing import Any

import torch
import transformers

import smdbg.pytorch as smd
from smdbg.integrations.transformers import SmdbgCallback


def main() -> None:
    out, k, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    cfg = transformers.BertConfig(vocab_size=40, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=8, max_position_embeddings=8, num_labels=2)  # fmt: skip
    torch.manual_seed(0)
    model = transformers.AutoModelForSequenceClassification.from_config(cfg)
    calls = [0]

    def fail_at_k(module: Any, args: Any) -> None:
        if module.training:
            if calls[0] == k:
                raise RuntimeError(f"model failed at training step {k}")
            calls[0] += 1

    model.register_forward_pre_hook(fail_at_k)
    g = torch.Generator().manual_seed(1)
    data = [{"input_ids": torch.randint(0, 40, (6,), generator=g), "labels": torch.tensor(i % 2)} for i in range(32)]
    targs = transformers.TrainingArguments(
        output_dir=work, max_steps=10, per_device_train_batch_size=2, logging_steps=1000, report_to=[],
        use_cpu=True, save_strategy="no", disable_tqdm=True,
    )  # fmt: skip
    cb = SmdbgCallback(out, save_config=smd.SaveConfig(save_interval=1), include_collections=["weights", "losses"])
    transformers.Trainer(model=model, args=targs, train_dataset=data, callbacks=[cb]).train()


if __name__ == "__main__":
    main()
