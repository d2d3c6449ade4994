"""The built-in rules, open and vectorised, by name."""

from __future__ import annotations

from smdbg.rules.builtin._activations import DeadRelu, PoorWeightInitialization, SaturatedActivation
from smdbg.rules.builtin._common import BuiltinRule
from smdbg.rules.builtin._data import CheckInputImages, ClassImbalance, Confusion, NLPSequenceRatio
from smdbg.rules.builtin._loss import LossNotDecreasing, Overfit, Overtraining, StalledTraining
from smdbg.rules.builtin._tensors import (
    AllZero,
    ExplodingTensor,
    SimilarAcrossRuns,
    TensorVariance,
    UnchangedTensor,
    VanishingGradient,
    WeightUpdateRatio,
)

__all__ = [
    "BUILTIN_RULES", "BuiltinRule", "builtin_rule_class",
    "VanishingGradient", "ExplodingTensor", "WeightUpdateRatio", "AllZero", "UnchangedTensor",
    "LossNotDecreasing", "Overfit", "Overtraining", "SimilarAcrossRuns", "ClassImbalance", "Confusion",
    "DeadRelu", "PoorWeightInitialization", "SaturatedActivation", "TensorVariance", "CheckInputImages",
    "NLPSequenceRatio", "StalledTraining",
]  # fmt: skip

BUILTIN_RULES: dict[str, type[BuiltinRule]] = {
    cls.name: cls
    for cls in (
        VanishingGradient, ExplodingTensor, WeightUpdateRatio, AllZero, UnchangedTensor, LossNotDecreasing,
        Overfit, Overtraining, SimilarAcrossRuns, ClassImbalance, Confusion, DeadRelu, PoorWeightInitialization,
        SaturatedActivation, TensorVariance, CheckInputImages, NLPSequenceRatio, StalledTraining,
    )
}  # fmt: skip

_ALIASES = {"stalled_training_rule": "stalled_training"}


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if (
            ch.isupper()
            and i
            and (not name[i - 1].isupper() or (i + 1 < len(name) and name[i + 1].islower()))
        ):
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def builtin_rule_class(name: str) -> type[BuiltinRule]:
    """The class of a built-in rule by name (``exploding_tensor``; ``ExplodingTensor`` also works)."""
    from smdbg.rules._errors import RuleConfigError

    key = _ALIASES.get(name, name)
    key = key if key in BUILTIN_RULES else _ALIASES.get(_snake(key), _snake(key))
    if key not in BUILTIN_RULES:
        raise RuleConfigError(
            f"unknown rule {name!r}: expected one of {', '.join(sorted(BUILTIN_RULES))} "
            "(or subclass smdbg.rules.Rule for your own)"
        )
    return BUILTIN_RULES[key]
