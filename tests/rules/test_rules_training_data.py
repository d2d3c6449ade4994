"""Built-in rules over data (labels, predictions, images, token sequences) on real PyTorch
training; the gradient, weight and loss rules are in ``test_rules_training.py``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from _training import Net, batches, clusters, evaluate, fit, hook_for, sgd, spec, tensors

from smdbg.rules import BUILTIN_RULES, RuleSpec


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


# -- data: labels, predictions, images, token sequences ------------------------------------------
def save_labels(hook, x, y, out):  # type: ignore[no-untyped-def]
    hook.save_tensor("labels", y, "labels")
    hook.save_tensor("predictions", out.detach(), "predictions")


def classifier(out, rule: RuleSpec, train, evaluate=(), n_classes: int = 3, train_labels: bool = True):  # type: ignore[no-untyped-def]
    model = Net([8, 16, n_classes])
    fit(hook_for(out, rule), model, nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=0.05), train,
        evaluate, on_batch=save_labels if train_labels else None, on_eval=save_labels)  # fmt: skip


def test_class_imbalance_skewed_training_set(tmp_path):
    rule = spec("class_imbalance")
    classifier(
        tmp_path / "skewed",
        rule,
        batches(clusters(640, 1, 2, weights=[0.96, 0.04], spread=2.0), 64),
        n_classes=2,
    )
    classifier(tmp_path / "ok", rule, batches(clusters(640, 1), 64))
    found = evaluate(rule, tmp_path / "skewed")
    assert found and found[0].values["ratio"] > 10 and found[0].values["samples"] >= 500
    assert evaluate(rule, tmp_path / "ok") == []


def test_confusion_classes_that_cannot_be_told_apart(tmp_path):
    rule = spec("confusion")
    classifier(tmp_path / "twins", rule, batches(clusters(960, 1, same=[1, 2]), 32),
               batches(clusters(256, 2, same=[1, 2]), 64), train_labels=False)  # fmt: skip
    classifier(tmp_path / "ok", rule, batches(clusters(960, 1), 32), batches(clusters(256, 2), 64),
               train_labels=False)  # fmt: skip
    found = evaluate(rule, tmp_path / "twins")
    assert found and {f.values["cls"] for f in found} <= {1, 2} and found[0].mode == "EVAL"
    assert evaluate(rule, tmp_path / "ok") == []


class ConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv1(x)).mean(dim=(2, 3)))


def test_check_input_images_not_normalised(tmp_path):
    rule = spec("check_input_images")

    def run(out, normalise):  # type: ignore[no-untyped-def]
        g = torch.Generator().manual_seed(1)
        images, labels = torch.rand(576, 3, 8, 8, generator=g), torch.randint(0, 2, (576,), generator=g)
        if normalise:
            images = (images - 0.5) / 0.29
        model = ConvNet()
        fit(
            hook_for(out, rule), model, nn.CrossEntropyLoss(), sgd(model, 0.01), batches((images, labels), 64)
        )

    run(tmp_path / "raw", False)
    run(tmp_path / "ok", True)
    found = evaluate(rule, tmp_path / "raw")
    assert {"ConvNet_input_0", "conv1_input_0"} <= tensors(found)
    assert found[0].values["samples"] >= 500 and abs(found[0].values["max_abs_mean"] - 0.5) < 0.02
    assert evaluate(rule, tmp_path / "ok") == []


class TextNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(50, 8, padding_idx=0)
        self.fc = nn.Linear(8, 2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.fc(self.embedding(tokens).mean(dim=1))


def test_nlp_sequence_ratio_mostly_padding(tmp_path):
    rule = spec("nlp_sequence_ratio")

    def run(out, min_len, max_len):  # type: ignore[no-untyped-def]
        g = torch.Generator().manual_seed(1)
        tokens = torch.randint(1, 50, (128, 32), generator=g)
        lengths = torch.randint(min_len, max_len + 1, (128, 1), generator=g)
        tokens[torch.arange(32).expand(128, 32) >= lengths] = 0  # right padding
        model = TextNet()
        data = (tokens, torch.randint(0, 2, (128,), generator=g))
        fit(hook_for(out, rule), model, nn.CrossEntropyLoss(), sgd(model, 0.1), batches(data, 32))

    run(tmp_path / "padded", 3, 10)  # sequences of 3-10 tokens padded to 32
    run(tmp_path / "ok", 24, 32)
    found = evaluate(rule, tmp_path / "padded")
    assert tensors(found) == {"embedding_input_0"} and found[0].values["value"] > 50
    assert evaluate(rule, tmp_path / "ok") == []


def test_every_builtin_rule_has_a_training_test():
    here = Path(__file__).parent
    names = re.findall(r"^def (test_\w+)", (here / "test_rules_training.py").read_text()
                       + Path(__file__).read_text(), flags=re.M)  # fmt: skip
    assert [r for r in BUILTIN_RULES if not any(n.startswith(f"test_{r}_") for n in names)] == []
