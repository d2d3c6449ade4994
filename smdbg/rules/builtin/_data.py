"""Rules on data and predictions: class_imbalance, confusion, check_input_images,
nlp_sequence_ratio. They need raw tensors (labels, predictions, inputs)."""

from __future__ import annotations

import numpy as np

from smdbg.rules._base import Finding
from smdbg.rules._errors import RuleConfigError
from smdbg.rules._params import Param
from smdbg.rules.builtin._common import BuiltinRule

__all__ = ["ClassImbalance", "Confusion", "CheckInputImages", "NLPSequenceRatio"]


def _classes(a: np.ndarray, argmax: bool) -> np.ndarray:
    a = np.asarray(a)
    if argmax or (a.ndim >= 2 and a.shape[-1] > 1):
        a = np.argmax(a, axis=-1)
    return a.reshape(-1).astype(np.int64)


class _Accumulating(BuiltinRule):
    """Rules over samples accumulated from the first saved step: state is kept between
    consecutive ranges, and each condition is reported once."""

    def _reset(self) -> None:
        self._upto = 0
        self._reported: set[str] = set()

    def findings(self, start: int, end: int) -> list[Finding]:
        if getattr(self, "_upto", None) != start:
            self._reset()
            self._consume(0, start, report=False)
        out = self._consume(start, end, report=True)
        self._upto = end
        return out

    def _consume(self, start: int, end: int, report: bool) -> list[Finding]:
        raise NotImplementedError

    def once(self, key: str, finding: Finding, report: bool) -> list[Finding]:
        if key in self._reported:
            return []
        self._reported.add(key)
        return [finding] if report else []


class _LabelsPredictions(_Accumulating):
    def tensors(self) -> list[str]:
        return self._pair()

    def _pair(self) -> list[str]:
        p = self.params
        t = self.base_trial
        labels = self.select(t, [p["labels_collection"]] if t.tensor_names(collection=p["labels_collection"]) else [],
                             p["labels_regex"], what="label tensors")  # fmt: skip
        preds = self.select(t, [p["predictions_collection"]] if t.tensor_names(collection=p["predictions_collection"])
                            else [], p["predictions_regex"], what="prediction tensors")  # fmt: skip
        return [labels[0], preds[0]]

    def _batches(self, start: int, end: int) -> list[tuple[int, np.ndarray, np.ndarray]]:
        lname, pname = self._pair()
        preds = {(s, w): a for s, w, a in self.raw(pname, start, end)}
        out = []
        for s, w, lab in self.raw(lname, start, end):
            pr = preds.get((s, w))
            if pr is not None:
                y, yhat = _classes(lab, False), _classes(pr, self.params.get("argmax", False))
                if y.shape == yhat.shape:
                    out.append((s, y, yhat))
        return out


_LP = {
    "labels_regex": Param("regex", r"(?i)labels?$", "regex of the labels tensor"),
    "predictions_regex": Param("regex", r"(?i)predictions?$", "regex of the predictions tensor"),
    "labels_collection": Param("str", "labels", "collection of the labels tensor"),
    "predictions_collection": Param("str", "predictions", "collection of the predictions tensor"),
}


class ClassImbalance(_LabelsPredictions):
    """Once ``samples`` labels were seen: the most frequent class outnumbers the rarest by more
    than ``threshold_imbalance``, or a class is mispredicted more often than ``threshold_misprediction``."""

    name = "class_imbalance"
    parameters = {
        **_LP,
        "threshold_imbalance": Param("float", 10.0, "largest allowed ratio of class counts", minimum=1),
        "threshold_misprediction": Param(
            "float", 0.7, "largest allowed misprediction rate of a class", minimum=0
        ),
        "samples": Param("int", 500, "samples to see before judging", minimum=1),
        "argmax": Param("bool", False, "take argmax of the predictions"),
    }

    def _reset(self) -> None:
        super()._reset()
        self._count: dict[int, int] = {}
        self._wrong: dict[int, int] = {}

    def _consume(self, start: int, end: int, report: bool) -> list[Finding]:
        p = self.params
        out: list[Finding] = []
        for step, y, yhat in self._batches(start, end):
            for c, n in zip(*np.unique(y, return_counts=True)):
                self._count[int(c)] = self._count.get(int(c), 0) + int(n)
            for c, n in zip(*np.unique(y[y != yhat], return_counts=True)):
                self._wrong[int(c)] = self._wrong.get(int(c), 0) + int(n)
            total = sum(self._count.values())
            if total < p["samples"] or len(self._count) < 1:
                continue
            counts = self._count
            ratio = max(counts.values()) / min(counts.values())
            if ratio > p["threshold_imbalance"]:
                msg = f"class counts are imbalanced by a factor {ratio:.3g} after {total} samples at step {step}"
                out += self.once(
                    "imbalance", self.finding(step, msg, None, ratio=ratio, samples=total), report
                )
            for c, n in sorted(counts.items()):
                rate = self._wrong.get(c, 0) / n
                if rate > p["threshold_misprediction"]:
                    msg = f"class {c} is mispredicted {rate:.0%} of the time after {total} samples at step {step}"
                    out += self.once(
                        f"mispredicted:{c}", self.finding(step, msg, None, cls=c, rate=rate), report
                    )
        return out


class Confusion(_LabelsPredictions):
    """The row-normalised confusion matrix of labels vs predictions (accumulated): a diagonal
    entry below ``min_diag`` or an off-diagonal one above ``max_off_diag``."""

    name = "confusion"
    parameters = {
        **_LP,
        "category_no": Param(
            "int", None, "number of classes (default: from the data)", optional=True, minimum=1
        ),
        "min_diag": Param("float", 0.9, "smallest allowed diagonal value", minimum=0),
        "max_off_diag": Param("float", 0.1, "largest allowed off-diagonal value", minimum=0),
    }

    def _reset(self) -> None:
        super()._reset()
        self._matrix = np.zeros((0, 0), np.int64)

    def _consume(self, start: int, end: int, report: bool) -> list[Finding]:
        p = self.params
        out: list[Finding] = []
        for step, y, yhat in self._batches(start, end):
            k = p["category_no"] or int(max(y.max(initial=0), yhat.max(initial=0)) + 1)
            k = max(k, self._matrix.shape[0])
            if k > self._matrix.shape[0]:
                grown = np.zeros((k, k), np.int64)
                n0 = self._matrix.shape[0]
                grown[:n0, :n0] = self._matrix
                self._matrix = grown
            ok = (y < k) & (yhat < k) & (y >= 0) & (yhat >= 0)
            np.add.at(self._matrix, (y[ok], yhat[ok]), 1)
            rows = self._matrix.sum(axis=1, keepdims=True)
            norm = np.divide(self._matrix, rows, out=np.zeros(self._matrix.shape), where=rows > 0)
            for i in np.flatnonzero(rows[:, 0] > 0):
                if norm[i, i] < p["min_diag"]:
                    msg = f"class {i} is recognised only {norm[i, i]:.0%} of the time at step {step}"
                    out += self.once(
                        f"diag:{i}", self.finding(step, msg, None, cls=int(i), value=norm[i, i]), report
                    )
                for j in np.flatnonzero(norm[i] > p["max_off_diag"]):
                    if j != i:
                        msg = f"class {i} is predicted as {j} {norm[i, j]:.0%} of the time at step {step}"
                        f = self.finding(step, msg, None, cls=int(i), predicted=int(j), value=norm[i, j])
                        out += self.once(f"off:{i}:{j}", f, report)
        return out


class CheckInputImages(_Accumulating):
    """Input images that are not normalised: after ``threshold_samples`` images, the mean of a
    channel (axis ``channel``) is further than ``threshold_mean`` from zero."""

    name = "check_input_images"
    parameters = {
        "regex": Param(
            "regex",
            None,
            "regex of input image tensors (default: 4-D tensors of the inputs collection)",
            optional=True,
        ),  # fmt: skip
        "threshold_mean": Param("float", 0.2, "largest allowed |mean| of a channel", minimum=0),
        "threshold_samples": Param("int", 500, "images to see before judging", minimum=1),
        "channel": Param("int", 1, "axis of the colour channel", minimum=0),
    }

    def tensors(self) -> list[str]:
        return self.select(self.base_trial, None, self.params["regex"], ("inputs",), what="input images")

    def _reset(self) -> None:
        super()._reset()
        self._sum: dict[str, np.ndarray] = {}
        self._n: dict[str, int] = {}
        self._px: dict[str, int] = {}

    def _consume(self, start: int, end: int, report: bool) -> list[Finding]:
        p = self.params
        out: list[Finding] = []
        for name in self.tensors():
            for step, _, a in self.raw(name, start, end):
                if a.ndim != 4:
                    continue
                x = np.moveaxis(np.asarray(a, dtype=np.float64), p["channel"], 1)
                s = x.sum(axis=(0, 2, 3))
                self._sum[name] = self._sum.get(name, 0) + s
                self._px[name] = self._px.get(name, 0) + x.shape[0] * x.shape[2] * x.shape[3]
                self._n[name] = self._n.get(name, 0) + x.shape[0]
                if self._n[name] < p["threshold_samples"]:
                    continue
                means = self._sum[name] / self._px[name]
                worst = float(np.abs(means).max())
                if worst > p["threshold_mean"]:
                    msg = (f"input images {name} are not normalised: channel means {np.round(means, 3).tolist()} after "
                           f"{self._n[name]} images at step {step} (threshold {p['threshold_mean']:g})")  # fmt: skip
                    out += self.once(
                        name, self.finding(step, msg, name, max_abs_mean=worst, samples=self._n[name]), report
                    )
        return out


class NLPSequenceRatio(BuiltinRule):
    """Input sequences dominated by some token values (padding, unknown): the share of each of
    ``token_values`` in a saved input exceeds its ``token_thresholds_percent``."""

    name = "nlp_sequence_ratio"
    parameters = {
        "tensor_regex": Param("regex", r"(?i)embedding[^/]*_input_0", "regex of the token id inputs"),
        "token_values": Param("list", "0", "token ids to count, comma-separated"),
        "token_thresholds_percent": Param("list", "50", "percent thresholds, one per token (or one for all)"),
    }

    def check(self) -> None:
        self._thresholds()
        super().check()

    def _thresholds(self) -> list[tuple[float, float]]:
        p = self.params
        try:
            tokens = [float(v) for v in p["token_values"]]
            thr = [float(v) for v in p["token_thresholds_percent"]]
        except ValueError as e:
            raise RuleConfigError(f"rule nlp_sequence_ratio: token_values and token_thresholds_percent must be "
                                  f"comma-separated numbers ({e})") from None  # fmt: skip
        if len(thr) == 1:
            thr = thr * len(tokens)
        if len(thr) != len(tokens):
            raise RuleConfigError(f"rule nlp_sequence_ratio: {len(tokens)} token_values but {len(thr)} thresholds; "
                                  "give one threshold per token or a single one")  # fmt: skip
        return list(zip(tokens, thr))

    def findings(self, start: int, end: int) -> list[Finding]:
        out: list[Finding] = []
        for name in self.tensors():
            rows = self.raw(name, start, end)
            for token, thr in self._thresholds():
                steps = np.array([r[0] for r in rows], np.int64)
                pct = np.array([100.0 * np.count_nonzero(a == token) / max(a.size, 1) for _, _, a in rows])
                out += self.first_hits(name, steps, pct > thr, pct,
                                       f"token {token:g} is {{value:.1f}}% of {{name}} at step {{step}} "
                                       f"(threshold {thr:g}%)", token=token)  # fmt: skip
        return out
