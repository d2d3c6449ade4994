"""Configurations of the built-in rules, as in SageMaker's ``rule_configs``: one function per
rule returns a :class:`RuleConfig` (the rule's name, default parameters and the collections a
hook must save for it). ``Rule.builtin(config, rule_parameters=..., collections_to_save=...)``
turns one into a :class:`RuleSpec` that a job runner uses to configure both the hook and the rule job.

::

    from smdbg.rules import Rule, rule_configs
    spec = Rule.builtin(rule_configs.vanishing_gradient(), rule_parameters={"threshold": "1e-6"})
    hook = smd.Hook(out_dir, include_collections=spec.collection_names(), ...)   # what to save
    rule = spec.create(create_trial(out_dir))                                    # what to run
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from smdbg.config import CollectionConfig
from smdbg.fs import check_path_component
from smdbg.rules._base import Rule
from smdbg.rules._errors import RuleConfigError
from smdbg.rules._params import parse_parameters
from smdbg.rules.builtin import BUILTIN_RULES, builtin_rule_class
from smdbg.trial import Trial

__all__ = ["RuleConfig", "RuleSpec", "builtin", "names", *sorted(BUILTIN_RULES), "stalled_training_rule"]


@dataclass(frozen=True)
class RuleConfig:
    """A built-in rule's name, parameters and the collections (with save configs) it needs."""

    rule_name: str
    rule_parameters: Mapping[str, Any] = field(default_factory=dict)
    collections_to_save: tuple[CollectionConfig, ...] = ()


@dataclass(frozen=True)
class RuleSpec:
    """A built-in rule ready to run (``create``) and the collections to save for it."""

    name: str
    rule_name: str
    rule_parameters: Mapping[str, Any]
    collections_to_save: tuple[CollectionConfig, ...]

    def create(self, base_trial: Trial, other_trials: Sequence[Trial] | None = None) -> Rule:
        return builtin_rule_class(self.rule_name)(
            base_trial, other_trials=other_trials, **dict(self.rule_parameters)
        )

    def collection_names(self) -> list[str]:
        return [c.name for c in self.collections_to_save]

    def to_dict(self) -> dict[str, Any]:
        """JSON form for job configs: name, rule, parameters and collections with their parameters."""
        return {
            "name": self.name,
            "rule": self.rule_name,
            "rule_parameters": dict(self.rule_parameters),
            "collections_to_save": [
                {"name": c.name, "parameters": dict(c.parameters or {})} for c in self.collections_to_save
            ],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RuleSpec:
        colls = [CollectionConfig(c["name"], c.get("parameters")) for c in d.get("collections_to_save", [])]
        return builtin(RuleConfig(d["rule"]), d.get("rule_parameters"), colls, name=d.get("name"))


def builtin(config: RuleConfig | str, rule_parameters: Mapping[str, Any] | None = None,
            collections_to_save: Iterable[CollectionConfig] | None = None, name: str | None = None) -> RuleSpec:  # fmt: skip
    """``Rule.builtin``: validate ``rule_parameters`` now (RuleConfigError names a bad one) and
    merge them over the config's; ``collections_to_save`` replaces the default collections."""
    base = _CONFIGS[builtin_rule_class(config).name]() if isinstance(config, str) else config
    cls = builtin_rule_class(base.rule_name)
    params = {**dict(base.rule_parameters), **dict(rule_parameters or {})}
    parse_parameters(cls.name, cls.parameters, params)
    colls = tuple(collections_to_save) if collections_to_save is not None else tuple(base.collections_to_save)
    for c in colls:
        if not isinstance(c, CollectionConfig):
            raise TypeError(
                f"collections_to_save contains {c!r}: expected CollectionConfig(name, parameters)"
            )
    if name is not None:
        check_path_component(name, "rule name (its status folder in the trial)", error=RuleConfigError)
    return RuleSpec(name or cls.name, cls.name, params, colls)


def names() -> list[str]:
    """Names of the built-in rules."""
    return sorted(BUILTIN_RULES)


def _cc(name: str, **params: str) -> CollectionConfig:
    return CollectionConfig(name, {"save_interval": "500", **params})


def _make(rule: str, *collections: CollectionConfig) -> RuleConfig:
    return RuleConfig(rule, {}, tuple(collections))


def vanishing_gradient() -> RuleConfig:
    return _make("vanishing_gradient", _cc("gradients", reductions="abs_mean,abs_max"))


def exploding_tensor() -> RuleConfig:
    return _make("exploding_tensor")


def weight_update_ratio() -> RuleConfig:
    return _make("weight_update_ratio", _cc("weights"))


def all_zero() -> RuleConfig:
    return _make("all_zero")


def unchanged_tensor() -> RuleConfig:
    return _make("unchanged_tensor")


def loss_not_decreasing() -> RuleConfig:
    return _make("loss_not_decreasing", _cc("losses"))


def overfit() -> RuleConfig:
    return _make("overfit", _cc("losses"))


def overtraining() -> RuleConfig:
    return _make("overtraining", _cc("losses"))


def similar_across_runs() -> RuleConfig:
    return _make("similar_across_runs")


def class_imbalance() -> RuleConfig:
    return _make("class_imbalance", _cc("labels", include_regex=r"(?i)labels?$"),
                 _cc("predictions", include_regex=r"(?i)predictions?$"))  # fmt: skip


def confusion() -> RuleConfig:
    return _make("confusion", _cc("labels", include_regex=r"(?i)labels?$"),
                 _cc("predictions", include_regex=r"(?i)predictions?$"))  # fmt: skip


def dead_relu() -> RuleConfig:
    return _make("dead_relu", _cc("relu_output", include_regex=r"(?i)relu[^/]*_output"))


def poor_weight_initialization() -> RuleConfig:
    first = {"save_interval": "1", "end_step": "10"}
    return _make("poor_weight_initialization", CollectionConfig("relu_input", {"include_regex": r"(?i)relu[^/]*_input", **first}),
                 CollectionConfig("weights", first), CollectionConfig("losses", first))  # fmt: skip


def saturated_activation() -> RuleConfig:
    return _make(
        "saturated_activation", _cc("activation_inputs", include_regex=r"(?i)(tanh|sigmoid)[^/]*_input")
    )


def tensor_variance() -> RuleConfig:
    return _make("tensor_variance")


def check_input_images() -> RuleConfig:
    return _make("check_input_images", _cc("inputs"))


def nlp_sequence_ratio() -> RuleConfig:
    return _make("nlp_sequence_ratio", _cc("input_sequence", include_regex=r"(?i)embedding[^/]*_input_0"))


def stalled_training() -> RuleConfig:
    return _make("stalled_training")


stalled_training_rule = stalled_training  # SageMaker's name

_CONFIGS = {n: globals()[n] for n in BUILTIN_RULES}


def _rule_builtin(cls: type[Rule], config: RuleConfig | str, rule_parameters: Mapping[str, Any] | None = None,
                  collections_to_save: Iterable[CollectionConfig] | None = None,
                  name: str | None = None) -> RuleSpec:  # fmt: skip
    return builtin(config, rule_parameters, collections_to_save, name)


# ``Rule.builtin`` / ``Rule.sagemaker``: bound here so that the base class need not import this
# module (which imports the built-in rules, its subclasses).
setattr(Rule, "builtin", classmethod(_rule_builtin))  # noqa: B010
setattr(Rule, "sagemaker", Rule.builtin)  # noqa: B010
