"""Custom rules written the smdebug way (docs/analysis.md and docs/rules of
awslabs/sagemaker-debugger): ``Rule`` subclasses with ``invoke_at_step``, ``set_required_tensors``
and ``self.req_tensors``, run by ``invoke_rule`` — only the imports changed."""

from __future__ import annotations

import numpy as np
import pytest
from rules_helpers import open_trial, raw, red, train_steps

from smdbg.exceptions import NoMoreData, StepUnavailable, TensorUnavailable, TensorUnavailableForStep
from smdbg.rules import Rule, RuleEvaluationConditionMet, invoke_rule
from smdbg.trials import create_trial


class VanishingGradientRule(Rule):
    """The simplified VanishingGradient of smdebug's analysis docs."""

    def __init__(self, base_trial, threshold=0.0000001):  # type: ignore[no-untyped-def]
        super().__init__(base_trial, other_trials=None)
        self.threshold = float(threshold)
        self.seen: list[tuple[int, bool]] = []

    def set_required_tensors(self, step):  # type: ignore[no-untyped-def]
        for tname in self.base_trial.tensor_names(collection="gradients"):
            self.req_tensors.add(tname, steps=[step])

    def invoke_at_step(self, step):  # type: ignore[no-untyped-def]
        self.seen.append((step, self.base_trial.dynamic_refresh))
        for t in self.req_tensors.get():
            if t.reduction_value(step, "mean", abs=True) < self.threshold:
                return True
        return False


def _grads(step: int) -> list:  # gradients shrink by 10x a step; step 3 is saved with a reduction only
    g = np.full((2, 2), 10.0 ** -step, dtype=np.float32)
    if step == 3:
        return [red("gradient/fc.weight", "gradients", "abs_mean", float(g.mean()))]
    return [raw("gradient/fc.weight", "gradients", g), raw("loss", "losses", float(step))]


@pytest.fixture
def trial(tmp_path):  # type: ignore[no-untyped-def]
    return open_trial(tmp_path, train_steps(8, _grads))


def test_vanishing_gradient_rule_the_smdebug_way(trial) -> None:  # type: ignore[no-untyped-def]
    rule = VanishingGradientRule(trial, threshold="0.000005")  # rule arguments come as strings
    with pytest.raises(RuleEvaluationConditionMet, match="VanishingGradientRule at step 6") as e:
        invoke_rule(rule, start_step=0, end_step=None, raise_eval_cond=True)
    assert e.value.step == 6
    # every step ran inside no_refresh, after its required tensors were fetched
    assert [s for s, _ in rule.seen] == [0, 1, 2, 3, 4, 5, 6]
    assert not any(refreshing for _, refreshing in rule.seen) and trial.dynamic_refresh
    rule.seen.clear()
    found = invoke_rule(rule, start_step=2, end_step=8)  # logged and carried on, as smdebug
    assert [f.step for f in found] == [6, 7]
    with pytest.raises(RuleEvaluationConditionMet):
        rule.invoke(7)
    rule.invoke(2)  # condition not met: returns


def test_required_tensors_api(trial) -> None:  # type: ignore[no-untyped-def]
    rule = VanishingGradientRule(trial)
    rt = rule.req_tensors
    rt.add("gradient/fc.weight", steps=[1, 2])
    rt.add("gradient/fc.weight", steps=[3])
    rt.add("lo+", steps=[4], should_match_regex=True)
    assert sorted(rt.get_names()) == ["gradient/fc.weight", "loss"]
    assert rt.get_tensor_steps("gradient/fc.weight") == [1, 2, 3]
    assert sorted(t.name for t in rt.get()) == ["gradient/fc.weight", "loss"]
    rt.fetch()  # step 3 has a reduction only: enough (smdebug asked for the raw value)
    with pytest.raises(TensorUnavailable, match="'nope'"):
        rt.add("nope", steps=[1])
    other = create_trial(trial.path)
    with pytest.raises(ValueError, match="neither the rule's base trial nor one of its other trials"):
        rt.add("loss", steps=[1], trial=other)
    rt.clear()
    assert list(rt.get_names()) == [] and rt.get() == []
    rt.add("loss", steps=[3])  # loss was not saved at step 3
    with pytest.raises(TensorUnavailableForStep):
        rt.fetch()
    rt.clear()
    rt.add("loss", steps=[50])
    with pytest.raises(NoMoreData):
        rt.fetch()


def test_a_step_without_required_data_is_skipped(tmp_path) -> None:  # type: ignore[no-untyped-def]
    t = open_trial(tmp_path, [(s, "TRAIN", s, _grads(s)) for s in (0, 1, 2, 4, 5)])

    class NeedsPrevious(Rule):
        def __init__(self, base_trial):  # type: ignore[no-untyped-def]
            super().__init__(base_trial, action_str="")  # smdebug's keyword
            self.invoked: list[int] = []

        def set_required_tensors(self, step):  # type: ignore[no-untyped-def]
            self.req_tensors.add("loss", steps=[step - 1, step] if step else [step])

        def invoke_at_step(self, step):  # type: ignore[no-untyped-def]
            self.invoked.append(step)
            return False

    rule = NeedsPrevious(t)
    assert invoke_rule(rule) == []
    assert rule.invoked == [0, 1, 2, 5]  # step 4 needs step 3, which was not saved: skipped
    with pytest.raises(StepUnavailable):
        rule.req_tensors.add("loss", steps=[3])
        rule.req_tensors.fetch()


def test_smdebug_constructor_order_and_other_trials(tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = open_trial(tmp_path, train_steps(3, _grads), name="a")
    other = open_trial(tmp_path, train_steps(3, _grads), name="b")

    class Compare(Rule):
        def __init__(self, base_trial, other_trials):  # type: ignore[no-untyped-def]
            super().__init__(base_trial, "", other_trials=other_trials)  # Rule(base_trial, action_str, ...)

        def set_required_tensors(self, step):  # type: ignore[no-untyped-def]
            self.req_tensors.add("loss", steps=[step])
            self.req_tensors.add("loss", steps=[step], trial=self.other_trials[0])

        def invoke_at_step(self, step):  # type: ignore[no-untyped-def]
            a = self.req_tensors.get()[0].value(step)
            b = self.req_tensors.get(trial=self.other_trials[0])[0].value(step)
            return bool(a != b)

    rule = Compare(base, [other])
    assert rule.action_str == "" and rule.trials == [base, other]
    assert invoke_rule(rule, end_step=3) == []


def test_end_of_rule_stops_invoke_rule(trial) -> None:  # type: ignore[no-untyped-def]
    class FirstLossOnly(Rule):
        def __init__(self, base_trial):  # type: ignore[no-untyped-def]
            super().__init__(base_trial)
            self.invoked: list[int] = []

        def invoke_at_step(self, step):  # type: ignore[no-untyped-def]
            self.invoked.append(step)
            if step == 2:
                raise RuleEvaluationConditionMet(type(self).__name__, step, end_of_rule=True)
            return False

    rule = FirstLossOnly(trial)
    found = invoke_rule(rule)
    assert rule.invoked == [0, 1, 2] and [f.step for f in found] == [2]
