"""Rules on the loss curve: loss_not_decreasing, overfit, overtraining, stalled_training."""

from __future__ import annotations

import math
import time

import numpy as np

from smdbg.rules._base import Finding
from smdbg.rules._errors import RuleConfigError
from smdbg.rules._params import Param
from smdbg.rules.builtin._common import BuiltinRule

__all__ = ["LossNotDecreasing", "Overfit", "Overtraining", "StalledTraining", "change_text"]

_LOSS_SELECT = {
    "tensor_regex": Param(
        "regex", None, "regex of loss tensors (in addition to the losses collection)", optional=True
    ),
    "use_losses_collection": Param("bool", True, "check the tensors of the losses collection"),
}


class _LossRule(BuiltinRule):
    def tensors(self) -> list[str]:
        p = self.params
        colls = ["losses"] if p.get("use_losses_collection", True) else []
        if not colls and not p.get("tensor_regex"):
            raise RuleConfigError(
                f"rule {self.rule_name}: with use_losses_collection=false give tensor_regex"
            )
        return self.select(self.base_trial, colls, p.get("tensor_regex"), what="loss tensors")

    def series(self, name: str, mode: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(global steps, mode steps, values) of one loss in ``mode`` (first worker), by step."""
        col = self.column(name, None)
        keep = col["mode"] == mode
        if keep.any():
            keep &= col["worker"] == min(col["worker"][keep])
        return col["step"][keep], col["mode_step"][keep], col["value"][keep]


def change_text(before: float, now: float) -> str:
    """How a value changed, in words: a percentage where one means something ("decreased by
    2.1% (from 1.2 to 1.175)"), else only the two values ("went from 0 to nan"): no percentage
    of a NaN or infinite value, of a change from ~0, or beyond +-10,000%."""
    pair = f"from {before:.4g} to {now:.4g}"
    if not (math.isfinite(before) and math.isfinite(now)) or abs(before) < 1e-12:
        return f"went {pair}"
    pct = (before - now) / abs(before) * 100
    if abs(pct) > 1e4:
        return f"went {pair}"
    if pct == 0:
        return f"did not change ({before:.4g})"
    return f"{'decreased' if pct > 0 else 'increased'} by {abs(pct):.3g}% ({pair})"


class LossNotDecreasing(_LossRule):
    """The loss did not decrease by at least ``diff_percent`` percent over ``num_steps`` steps.
    Compares checkpoints ``num_steps`` (mode) steps apart, in the given ``mode``, else in every
    mode that saved the loss, EVAL first, then TRAIN, then GLOBAL."""

    name = "loss_not_decreasing"
    parameters = {
        **_LOSS_SELECT,
        "num_steps": Param("int", 10, "mode steps between compared losses", minimum=1),
        "diff_percent": Param(
            "float", 0.0, "the loss must decrease by more than this percentage over num_steps"
        ),
        "mode": Param(
            "str", None, "EVAL, TRAIN or GLOBAL; default: each mode that saved the loss", optional=True
        ),
    }

    def check(self) -> None:
        mode = self.params["mode"]
        if mode is not None and mode.upper() not in ("EVAL", "TRAIN", "GLOBAL", "PREDICT"):
            raise RuleConfigError(f"rule loss_not_decreasing: mode={mode!r}: expected EVAL, TRAIN or GLOBAL")
        super().check()

    def findings(self, start: int, end: int) -> list[Finding]:
        n, want = self.params["num_steps"], self.params["diff_percent"]
        modes = [self.params["mode"].upper()] if self.params["mode"] else ["EVAL", "TRAIN", "GLOBAL"]
        out: list[Finding] = []
        for name in self.tensors():
            for mode in modes:
                steps, msteps, vals = self.series(name, mode)
                hit_steps, drops, pairs = [], [], []
                last = 0
                for i in range(1, len(steps)):
                    if steps[i] >= end:
                        break
                    if msteps[i] - msteps[last] < n:
                        continue
                    before, now = float(vals[last]), float(vals[i])
                    drop = (
                        (before - now) / abs(before) * 100 if before != 0 else (0.0 if now == 0 else -np.inf)
                    )
                    if steps[i] >= start and not drop > want:
                        hit_steps.append(int(steps[i]))
                        drops.append(drop)
                        pairs.append((before, now))
                    last = i
                if not hit_steps:
                    continue
                change = change_text(*pairs[0])  # first_hits reports the first hit
                out += self.first_hits(
                    name, np.array(hit_steps, np.int64), np.ones(len(hit_steps), bool), np.array(drops),
                    f"{mode} loss {{name}} {change} over {n} steps at step {{step}} "
                    f"(expected a decrease of more than {want:g}%)", mode_checked=mode,
                )  # fmt: skip
        return out


def _phases(col: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """Runs of consecutive rows (by global step) of the same mode: [(mode, row indices)]."""
    modes = col["mode"]
    if not len(modes):
        return []
    cut = np.flatnonzero(modes[1:] != modes[:-1]) + 1
    return [(str(modes[idx[0]]), idx) for idx in np.split(np.arange(len(modes)), cut)]


class Overfit(_LossRule):
    """Validation loss pulling away from training loss: after each evaluation phase, the ratio
    (mean EVAL loss - mean TRAIN loss of the preceding training phase) / mean TRAIN loss exceeds
    ``ratio_threshold`` for ``patience`` consecutive evaluation phases from ``start_step`` on."""

    name = "overfit"
    parameters = {
        **_LOSS_SELECT,
        "start_step": Param("int", 0, "global step from which phases are compared", minimum=0),
        "patience": Param("int", 1, "consecutive evaluation phases over the threshold", minimum=1),
        "ratio_threshold": Param("float", 0.1, "(val - train) / train above this counts"),
    }

    def findings(self, start: int, end: int) -> list[Finding]:
        p = self.params
        ended = self.base_trial.training_has_ended()
        out: list[Finding] = []
        for name in self.tensors():
            col = self.column(name, None, 0, end)
            phases = _phases(col)
            mine: list[Finding] = []
            train_mean, streak = None, 0
            for k, (mode, idx) in enumerate(phases):
                if mode == "TRAIN":
                    train_mean = float(np.mean(col["value"][idx]))
                    continue
                if mode != "EVAL" or train_mean is None or int(col["step"][idx[-1]]) < p["start_step"]:
                    continue
                done_at = (
                    int(col["step"][phases[k + 1][1][0]])
                    if k + 1 < len(phases)
                    else (end - 1 if ended else None)
                )
                if done_at is None:
                    break  # the last phase may still grow
                val_mean = float(np.mean(col["value"][idx]))
                if train_mean:
                    ratio = (val_mean - train_mean) / abs(train_mean)
                else:  # a training loss of exactly 0: only a worse validation loss is a gap
                    ratio = np.inf if val_mean > train_mean else 0.0
                streak = streak + 1 if ratio > p["ratio_threshold"] else 0
                if streak >= p["patience"] and start <= done_at < end:
                    step = int(col["step"][idx[-1]])
                    msg = (f"{name}: validation loss {val_mean:.4g} vs training loss {train_mean:.4g} "
                           f"(ratio {ratio:.3g} > {p['ratio_threshold']:g}) at step {step}")  # fmt: skip
                    mine.append(self.finding(step, msg, name, ratio=ratio, validation_loss=val_mean,
                                             training_loss=train_mean, phases=streak))  # fmt: skip
            out += mine[:1]  # one per tensor and range: the first phase that crossed
        return out


class Overtraining(_LossRule):
    """Training that goes on past the best model: the training loss has not improved by more than
    ``delta`` over the last ``patience_train`` saved TRAIN steps, or the validation loss over the
    last ``patience_validation`` saved EVAL steps (improvement measured against the best loss before them)."""

    name = "overtraining"
    parameters = {
        **_LOSS_SELECT,
        "patience_train": Param("int", 5, "saved TRAIN steps without improvement", minimum=1),
        "patience_validation": Param("int", 10, "saved EVAL steps without improvement", minimum=1),
        "delta": Param("float", 0.1, "smallest improvement of the loss that counts", minimum=0),
    }

    def findings(self, start: int, end: int) -> list[Finding]:
        p = self.params
        out: list[Finding] = []
        for name in self.tensors():
            for mode, patience, label in (("TRAIN", p["patience_train"], "training"),
                                          ("EVAL", p["patience_validation"], "validation")):  # fmt: skip
                steps, _, vals = self.series(name, mode)
                keep = steps < end
                steps, vals = steps[keep], vals[keep]
                if len(vals) <= patience:
                    continue
                best_before = np.minimum.accumulate(vals)[: len(vals) - patience]
                recent = np.array([vals[i - patience + 1 : i + 1].min() for i in range(patience, len(vals))])
                stalled = recent > best_before - p["delta"]
                s = steps[patience:]
                mask = stalled & (s >= start)
                out += self.first_hits(
                    name, s, mask, recent,
                    f"{label} loss {{name}} has not improved by more than {p['delta']:g} in {patience} saved steps "
                    f"(best recent {{value:.4g}}) at step {{step}}", which=label,
                )  # fmt: skip
        return out


class StalledTraining(BuiltinRule):
    """No new step for ``threshold`` seconds while training has not ended. Uses the hooks'
    progress markers (updated every step, saved or not) and the wall time of saved values.
    Time-based: the finding depends on when the rule runs; it is reported once."""

    name = "stalled_training"
    parameters = {
        "threshold": Param("float", 1800.0, "seconds without progress that count as stalled", minimum=0)
    }

    def check(self) -> None:
        """Any trial can be checked."""

    def evaluate(self, start_step: int = 0, end_step: int | None = None) -> list[Finding]:
        return self.findings(start_step, self.complete_end(end_step))

    def findings(self, start: int, end: int) -> list[Finding]:
        if getattr(self, "_reported", False):
            return []
        last_time, last_step = None, -1
        for w in self.base_trial.worker_states():
            if w.ended:
                return []
            if w.time is not None and (last_time is None or w.time > last_time):
                last_time, last_step = w.time, w.step
        if last_time is None:
            return []
        idle = time.time() - last_time
        if idle <= self.params["threshold"]:
            return []
        self._reported = True
        step = max(last_step, 0)
        msg = f"no progress for {idle:.0f}s (threshold {self.params['threshold']:g}s); last step {last_step}"
        return [self.finding(step, msg, None, idle_seconds=idle, last_step=last_step)]
