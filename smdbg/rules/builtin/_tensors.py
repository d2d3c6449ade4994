"""Rules on tensor values: exploding_tensor, vanishing_gradient, all_zero, tensor_variance,
unchanged_tensor, weight_update_ratio, similar_across_runs."""

from __future__ import annotations

import numpy as np

from smdbg.rules._base import Finding
from smdbg.rules._errors import RuleConfigError
from smdbg.rules._params import Param
from smdbg.rules.builtin._common import BuiltinRule
from smdbg.trial import RAW

__all__ = [
    "ExplodingTensor", "VanishingGradient", "AllZero", "TensorVariance",
    "UnchangedTensor", "WeightUpdateRatio", "SimilarAcrossRuns",
]  # fmt: skip

_SELECT = {
    "collection_names": Param("list", None, "collections whose tensors are checked", optional=True),
    "tensor_regex": Param(
        "regex", None, "regex of tensor names checked (in addition to collection_names)", optional=True
    ),
}
_TRAINING_MODES = ("TRAIN", "GLOBAL")


class ExplodingTensor(BuiltinRule):
    """NaN (and, unless only_nan, infinite) values in any selected tensor. Reads every stored
    reduction column of each tensor (a NaN or Inf element makes mean, max, l2 ... NaN or Inf);
    raw tensors are scanned element-wise."""

    name = "exploding_tensor"
    parameters = {**_SELECT, "only_nan": Param("bool", False, "report only NaN, not infinities")}

    def findings(self, start: int, end: int) -> list[Finding]:
        only_nan = self.params["only_nan"]
        bad = np.isnan if only_nan else (lambda v: ~np.isfinite(v))
        out: list[Finding] = []
        for name in self.tensors():
            tensor = self.base_trial.tensor(name)
            steps: list[np.ndarray] = []
            flags: list[np.ndarray] = []
            for key in tensor.reductions():
                if key == RAW:
                    col = self.column(name, None, start, end)
                    flag = bad(col["value"])
                    for i in np.flatnonzero(
                        np.isnan(col["value"])
                    ):  # NaN value: a NaN scalar or a non-scalar row
                        arr = tensor.value(int(col["step"][i]), worker=str(col["worker"][i]))
                        vals = np.asarray(arr, dtype=np.float64) if arr.dtype.kind in "biuf" else np.zeros(1)
                        flag[i] = bool(np.isnan(vals).any() if only_nan else (~np.isfinite(vals)).any())
                else:
                    col = self.column(name, key, start, end)
                    flag = bad(col["value"])
                steps.append(col["step"])
                flags.append(flag)
            if not steps:
                continue
            s, f = np.concatenate(steps), np.concatenate(flags)
            order = np.argsort(s, kind="stable")
            s, f = s[order], f[order]
            what = "NaN" if only_nan else "NaN or infinite"
            out += self.first_hits(
                name, s, f, np.full(len(s), np.nan), f"{{name}} has {what} values at step {{step}}"
            )
        return out


class VanishingGradient(BuiltinRule):
    """The mean of the absolute values of a gradient (``abs_mean``) drops below ``threshold``."""

    name = "vanishing_gradient"
    parameters = {
        "threshold": Param("float", 1e-7, "abs_mean below which a gradient has vanished", minimum=0)
    }
    default_collections = ("gradients",)

    def findings(self, start: int, end: int) -> list[Finding]:
        thr = self.params["threshold"]
        out: list[Finding] = []
        for name in self.tensors():
            col = self.column(name, "abs_mean", start, end)
            out += self.first_hits(name, col["step"], col["value"] < thr, col["value"],
                                   f"gradient {{name}} vanished at step {{step}}: abs_mean {{value:.3g}} < {thr:g}")  # fmt: skip
        return out


class AllZero(BuiltinRule):
    """At least ``threshold`` percent of a tensor's values are zero. With threshold 100 the stored
    ``abs_max`` (or l1, l2) reduction suffices; other thresholds need raw tensors."""

    name = "all_zero"
    parameters = {
        **_SELECT,
        "threshold": Param("float", 100.0, "percentage of zeros that triggers", minimum=0),
    }

    def findings(self, start: int, end: int) -> list[Finding]:
        thr = self.params["threshold"]
        out: list[Finding] = []
        for name in self.tensors():
            stored = self.base_trial.tensor(name).reductions()
            exact = [k for k in ("abs_max", "l1", "l2", "abs_l1", "abs_l2") if k in stored]
            if RAW not in stored and thr >= 100 and exact:
                col = self.column(name, exact[0], start, end)
                steps, pct = col["step"], np.where(col["value"] == 0, 100.0, 0.0)
            elif RAW in stored:
                rows = self.raw(name, start, end)
                steps = np.array([r[0] for r in rows], dtype=np.int64)
                pct = np.array([100.0 * np.count_nonzero(a == 0) / max(a.size, 1) for _, _, a in rows])
            else:
                raise RuleConfigError(
                    f"rule all_zero with threshold {thr:g} needs raw values of {name!r} (or abs_max for threshold "
                    f"100), but the trial saved only {', '.join(stored)}; save raw tensors or the abs_max reduction"
                )
            out += self.first_hits(
                name, steps, pct >= thr, pct, "{name} is {value:.1f}% zeros at step {step}"
            )
        return out


class TensorVariance(BuiltinRule):
    """A tensor's variance above ``max_threshold`` or below ``min_threshold``."""

    name = "tensor_variance"
    parameters = {
        **_SELECT,
        "max_threshold": Param("float", None, "variance above this triggers", optional=True),
        "min_threshold": Param("float", None, "variance below this triggers", optional=True),
    }

    def check(self) -> None:
        if self.params["max_threshold"] is None and self.params["min_threshold"] is None:
            raise RuleConfigError(
                "rule tensor_variance needs max_threshold or min_threshold (or both); none was given"
            )
        super().check()

    def findings(self, start: int, end: int) -> list[Finding]:
        lo, hi = self.params["min_threshold"], self.params["max_threshold"]
        out: list[Finding] = []
        for name in self.tensors():
            stored = self.base_trial.tensor(name).reductions()
            if "variance" not in stored and "std" in stored:
                col = self.column(name, "std", start, end)
                col["value"] = np.square(col["value"])
            else:
                col = self.column(name, "variance", start, end)
            v = col["value"]
            mask = np.zeros(len(v), dtype=bool)
            if hi is not None:
                mask |= v > hi
            if lo is not None:
                mask |= v < lo
            out += self.first_hits(name, col["step"], mask, v,
                                   f"variance of {{name}} is {{value:.3g}} at step {{step}}, outside [{lo}, {hi}]")  # fmt: skip
        return out


def _training_rows(
    rows: list[tuple[int, str, np.ndarray]], modes: dict[int, str | None]
) -> list[tuple[int, np.ndarray]]:
    """The first worker's rows at training steps (EVAL/PREDICT steps do not update weights)."""
    if not rows:
        return []
    worker = min(r[1] for r in rows)
    return [(s, a) for s, w, a in rows if w == worker and (modes.get(s) or "GLOBAL") in _TRAINING_MODES]


class _WindowRule(BuiltinRule):
    """Rules comparing a tensor with its earlier saved values: reads from ``lookback`` saved steps before start."""

    def _window(self, name: str, start: int, end: int, lookback: int) -> list[tuple[int, np.ndarray]]:
        col = self.base_trial.tensor(name).history_rows(None)
        keep = np.isin(col["mode"], _TRAINING_MODES)
        steps = np.unique(col["step"][keep])
        i0 = int(np.searchsorted(steps, start))
        lo = int(steps[max(0, i0 - lookback)]) if len(steps) else start
        rows = self.raw(name, lo, end)
        modes = dict(zip(col["step"].tolist(), col["mode"].tolist()))
        return _training_rows(rows, modes)


class UnchangedTensor(_WindowRule):
    """A tensor equal (``np.allclose`` with rtol/atol) over ``num_steps`` consecutive saved
    training steps: frozen weights or a stuck layer. Needs raw tensors."""

    name = "unchanged_tensor"
    parameters = {
        **_SELECT,
        "num_steps": Param("int", 3, "saved steps the tensor must stay unchanged", minimum=2),
        "rtol": Param("float", 1e-5, "relative tolerance", minimum=0),
        "atol": Param("float", 1e-8, "absolute tolerance", minimum=0),
        "equal_nan": Param("bool", False, "treat NaNs as equal"),
    }

    def findings(self, start: int, end: int) -> list[Finding]:
        n, p = self.params["num_steps"], self.params
        out: list[Finding] = []
        for name in self.tensors():
            rows = self._window(name, start, end, n - 1)
            run = 1
            hits: list[tuple[int, int]] = []
            for i in range(1, len(rows)):
                a, b = rows[i - 1][1], rows[i][1]
                same = a.shape == b.shape and np.allclose(
                    a, b, rtol=p["rtol"], atol=p["atol"], equal_nan=p["equal_nan"]
                )
                run = run + 1 if same else 1
                if run >= n and rows[i][0] >= start:
                    hits.append((rows[i][0], run))
            if hits:
                steps = np.array([h[0] for h in hits])
                out += self.first_hits(name, steps, np.ones(len(hits), bool), np.array([h[1] for h in hits], float),
                                       "{name} unchanged over {value:.0f} saved steps up to step {step}")  # fmt: skip
        return out


class WeightUpdateRatio(_WindowRule):
    """The ratio ||w_t - w_prev|| / (||w_prev|| + epsilon) between saved training steps is above
    ``large_threshold`` (learning rate too high) or below ``small_threshold`` (too low). With
    ``num_steps`` the previous value is the latest saved one at least num_steps earlier. Needs raw weights."""

    name = "weight_update_ratio"
    parameters = {
        "num_steps": Param(
            "int", None, "minimum step distance to the compared value", optional=True, minimum=1
        ),
        "large_threshold": Param("float", 10.0, "ratio above this triggers"),
        "small_threshold": Param("float", 1e-8, "ratio below this triggers"),
        "epsilon": Param("float", 1e-9, "added to the denominator", minimum=0),
    }
    default_collections = ("weights",)

    def findings(self, start: int, end: int) -> list[Finding]:
        p = self.params
        gap = p["num_steps"] or 1
        out: list[Finding] = []
        for name in self.tensors():
            rows = self._window(name, start, end, max(gap, 1) + 1)
            steps, ratios = [], []
            for i in range(1, len(rows)):
                s, w = rows[i]
                prev = [r for r in rows[:i] if r[0] <= s - gap]
                if not prev or s < start or prev[-1][1].shape != w.shape:
                    continue
                w0 = prev[-1][1].astype(np.float64)
                ratio = float(np.linalg.norm(w.astype(np.float64) - w0) / (np.linalg.norm(w0) + p["epsilon"]))
                steps.append(s)
                ratios.append(ratio)
            r = np.array(ratios)
            mask = (r > p["large_threshold"]) | (r < p["small_threshold"])
            out += self.first_hits(name, np.array(steps, np.int64), mask, r,
                                   f"update/weight ratio of {{name}} is {{value:.3g}} at step {{step}}, outside "
                                   f"[{p['small_threshold']:g}, {p['large_threshold']:g}]")  # fmt: skip
        return out


class SimilarAcrossRuns(BuiltinRule):
    """Tensors of two runs that differ at the same global step (raw values, or every reduction
    both saved, compared with rtol/atol). Pass the second run as ``other_trials=[trial]``."""

    name = "similar_across_runs"
    parameters = {
        **_SELECT,
        "rtol": Param("float", 1e-5, "relative tolerance", minimum=0),
        "atol": Param("float", 1e-8, "absolute tolerance", minimum=0),
    }
    needs_other_trial = True

    def tensors(self) -> list[str]:
        p = self.params
        mine = self.select(self.base_trial, p["collection_names"], p["tensor_regex"])
        theirs = set(self.select(self.other_trials[0], p["collection_names"], p["tensor_regex"]))
        both = [n for n in mine if n in theirs]
        if not both:
            raise RuleConfigError(
                f"rule similar_across_runs: the trials {self.base_trial.path} and {self.other_trials[0].path} "
                "have no selected tensor in common; pick tensors both runs saved"
            )
        return both

    def findings(self, start: int, end: int) -> list[Finding]:
        other = self.other_trials[0]
        end = min(end, other.last_complete_step() + 1)
        p = self.params
        out: list[Finding] = []
        for name in self.tensors():
            a_keys, b_keys = (
                set(self.base_trial.tensor(name).reductions()),
                set(other.tensor(name).reductions()),
            )
            diffs: dict[int, float] = {}
            for key in sorted(a_keys & b_keys):
                if key == RAW:
                    mine = {(s, w): a for s, w, a in self.raw(name, start, end)}
                    for s, w, b in self.raw(name, start, end, trial=other):
                        a = mine.get((s, w))
                        if a is not None and (
                            a.shape != b.shape or not np.allclose(a, b, rtol=p["rtol"], atol=p["atol"])
                        ):
                            diffs[s] = max(
                                diffs.get(s, 0.0),
                                float(np.max(np.abs(a - b))) if a.shape == b.shape else np.inf,
                            )
                    continue
                ca, cb = self.column(name, key, start, end), self.column(name, key, start, end, trial=other)
                common, ia, ib = np.intersect1d(ca["step"], cb["step"], return_indices=True)
                va, vb = ca["value"][ia], cb["value"][ib]
                for s, x, y in zip(common.tolist(), va, vb):
                    if not np.isclose(x, y, rtol=p["rtol"], atol=p["atol"]):
                        diffs[s] = max(diffs.get(s, 0.0), abs(float(x - y)))
            if diffs:
                steps = np.array(sorted(diffs))
                vals = np.array([diffs[s] for s in steps.tolist()])
                out += self.first_hits(name, steps, np.ones(len(steps), bool), vals,
                                       "{name} differs between the runs at step {step} (max difference {value:.3g})")  # fmt: skip
        return out
