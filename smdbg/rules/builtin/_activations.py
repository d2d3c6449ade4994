"""Rules on layer activations: dead_relu, saturated_activation, poor_weight_initialization.
They need raw tensors of shape (batch, units...) saved for the matched layers."""

from __future__ import annotations

import re

import numpy as np

from smdbg.rules._base import Finding
from smdbg.rules._errors import RuleConfigError
from smdbg.rules._params import Param
from smdbg.rules.builtin._common import BuiltinRule

__all__ = ["DeadRelu", "SaturatedActivation", "PoorWeightInitialization"]


def _per_unit(a: np.ndarray) -> np.ndarray:
    """(batch, units) view: the first axis is the batch, the rest are units."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        return a.reshape(1, 1)
    if a.ndim == 1:
        return a.reshape(1, -1)
    return a.reshape(a.shape[0], -1)


class _LayerRule(BuiltinRule):
    """Per saved step and layer: the share of units that are 'inactive' in at least
    (100 - threshold_inactivity)% of the samples; a finding when it reaches threshold_layer%.
    Units with a NaN value at a step are left out of that step (a NaN is neither active nor dead)."""

    message = ""

    def active(self, name: str, units: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def findings(self, start: int, end: int) -> list[Finding]:
        p = self.params
        out: list[Finding] = []
        for name in self.tensors():
            steps, pct = [], []
            for step, _, arr in self.raw(name, start, end):
                units = _per_unit(arr)
                units = units[:, ~np.isnan(units).any(axis=0)]  # NaN units are exploding_tensor's finding
                if not units.size:
                    continue
                active_pct = 100.0 * self.active(name, units).mean(axis=0)
                inactive = active_pct < p["threshold_inactivity"]
                steps.append(step)
                pct.append(100.0 * inactive.mean() if inactive.size else 0.0)
            v = np.array(pct)
            out += self.first_hits(name, np.array(steps, np.int64), v >= p["threshold_layer"], v,
                                   self.message + f" (threshold_layer {p['threshold_layer']:g}%)")  # fmt: skip
        return out


class DeadRelu(_LayerRule):
    """ReLU layers whose units are dead: a unit is dead when it is active (> 0) in fewer than
    ``threshold_inactivity`` percent of the samples; the layer is reported when at least
    ``threshold_layer`` percent of its units are dead. Looks at ReLU outputs."""

    name = "dead_relu"
    parameters = {
        "tensor_regex": Param("regex", r"(?i)relu[^/]*_output", "regex of ReLU output tensors"),
        "threshold_inactivity": Param(
            "float", 1.0, "percent of samples below which a unit is dead", minimum=0
        ),
        "threshold_layer": Param("float", 50.0, "percent of dead units that reports the layer", minimum=0),
    }
    message = "{value:.1f}% of the units of {name} are dead at step {step}"

    def active(self, name: str, units: np.ndarray) -> np.ndarray:
        return units > 0


class SaturatedActivation(_LayerRule):
    """tanh and sigmoid layers whose inputs sit in the flat tails: a unit is saturated when its
    input lies inside [min, max] for fewer than ``threshold_inactivity`` percent of the samples;
    the layer is reported when at least ``threshold_layer`` percent of its units are saturated.
    Looks at the inputs of tanh/sigmoid modules (the bounds depend on the name)."""

    name = "saturated_activation"
    parameters = {
        "tensor_regex": Param(
            "regex", r"(?i)(tanh|sigmoid)[^/]*_input", "regex of tanh/sigmoid input tensors"
        ),
        "threshold_tanh_min": Param("float", -9.4999, "tanh input below this is saturated"),
        "threshold_tanh_max": Param("float", 9.4999, "tanh input above this is saturated"),
        "threshold_sigmoid_min": Param("float", -23.0, "sigmoid input below this is saturated"),
        "threshold_sigmoid_max": Param("float", 16.9999, "sigmoid input above this is saturated"),
        "threshold_inactivity": Param(
            "float", 1.0, "percent of samples below which a unit is saturated", minimum=0
        ),
        "threshold_layer": Param(
            "float", 50.0, "percent of saturated units that reports the layer", minimum=0
        ),
    }
    message = "{value:.1f}% of the units of {name} are saturated at step {step}"

    def active(self, name: str, units: np.ndarray) -> np.ndarray:
        p = self.params
        kind = "sigmoid" if re.search("(?i)sigmoid", name) else "tanh"
        lo, hi = p[f"threshold_{kind}_min"], p[f"threshold_{kind}_max"]
        return (units >= lo) & (units <= hi)


class PoorWeightInitialization(BuiltinRule):
    """Signs of a bad initialisation within the first ``steps`` saved steps: the variance of the
    activation inputs differs between layers by more than a factor ``threshold``; a weight
    tensor whose 5th-95th percentile range is below ``distribution_range``; or a loss that has not
    decreased after ``patience`` saved steps. Each check runs when its tensors were saved."""

    name = "poor_weight_initialization"
    parameters = {
        "activation_inputs_regex": Param("regex", r"(?i)relu[^/]*_input", "regex of activation inputs"),
        "threshold": Param("float", 10.0, "largest allowed ratio of layer variances", minimum=1),
        "distribution_range": Param(
            "float", 0.001, "smallest allowed 5th-95th percentile range of weights", minimum=0
        ),
        "patience": Param("int", 5, "saved steps the loss may take to decrease", minimum=1),
        "steps": Param("int", 10, "how many first saved steps are analysed", minimum=1),
    }

    def _sources(self) -> tuple[list[str], list[str], list[str]]:
        t = self.base_trial
        acts = t.tensor_names(regex=self.params["activation_inputs_regex"])
        return acts, t.tensor_names(collection="weights"), t.tensor_names(collection="losses")

    def tensors(self) -> list[str]:
        acts, weights, losses = self._sources()
        if not (acts or weights or losses):
            raise RuleConfigError(
                "rule poor_weight_initialization needs activation inputs (matching "
                f"{self.params['activation_inputs_regex']!r}), weights or losses, and the trial at "
                f"{self.base_trial.path} has none; save collections inputs, weights and losses"
            )
        return sorted(set(acts) | set(weights) | set(losses))

    def _first_steps(self) -> np.ndarray:
        return np.array(self.base_trial.steps(show_incomplete_steps=True)[: self.params["steps"]], np.int64)

    def findings(self, start: int, end: int) -> list[Finding]:
        p = self.params
        first = self._first_steps()
        if not len(first):
            return []
        lo, hi = int(first[0]), int(first[-1]) + 1
        if hi <= start or lo >= end:
            return []
        acts, weights, losses = self._sources()
        out: list[Finding] = []
        if len(acts) >= 2:
            var: dict[int, dict[str, float]] = {}
            for name in acts:
                for step, _, a in self.raw(name, max(lo, start), min(hi, end)):
                    var.setdefault(step, {})[name] = float(np.var(np.asarray(a, dtype=np.float64)))
            for step, by_layer in sorted(var.items()):
                vals = np.array(list(by_layer.values()))
                ratio = float(vals.max() / max(vals.min(), 1e-30)) if len(vals) >= 2 else 1.0
                if ratio > p["threshold"]:
                    out.append(self.finding(step, f"activation input variances differ by a factor {ratio:.3g} across "
                                            f"layers at step {step} (threshold {p['threshold']:g})", None,
                                            variance_ratio=ratio))  # fmt: skip
                    break
        for name in weights:
            for step, _, w in self.raw(name, max(lo, start), min(hi, end))[:1]:
                q5, q95 = np.percentile(np.asarray(w, dtype=np.float64), [5, 95])
                if q95 - q5 < p["distribution_range"]:
                    out.append(self.finding(step, f"weights {name} span only {q95 - q5:.3g} between their 5th and 95th "
                                            f"percentile at step {step}", name, range=float(q95 - q5)))  # fmt: skip
        for name in losses:
            col = self.column(name, None, lo, hi)
            v, s = col["value"], col["step"]
            if len(v) > p["patience"] and np.nanmin(v[1 : p["patience"] + 1]) >= v[0]:
                step = int(s[p["patience"]])
                if start <= step < end:
                    out.append(self.finding(step, f"loss {name} has not decreased in the first {p['patience']} saved steps",
                                            name, first_loss=float(v[0])))  # fmt: skip
        return out
