"""The README demo trains, and its summary reads the trial back."""

from __future__ import annotations

import os
import sys

import smdbg.pytorch as smd

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples"))


def test_demo_trains_and_summarizes(tmp_path, capsys) -> None:
    import demo

    demo.train(str(tmp_path), steps=60)
    trial = smd.create_trial(tmp_path)
    assert trial.tensor("Sequential_0.weight").steps() == [0, 25, 50]
    assert trial.tensor("CrossEntropyLoss_output_0").steps() == [0, 10, 20, 30, 40, 50]
    demo.summarize(trial)
    out = capsys.readouterr().out
    assert f"trial at {trial.path}" in out and "loss:" in out and "gradient/Sequential_0.weight: l2" in out
