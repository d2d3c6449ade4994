"""`smdbg run` instruments an unmodified training script (real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import smdbg.pytorch as smd

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = textwrap.dedent("""
    import argparse, json
    import torch, torch.nn as nn

    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--record", required=True)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 2))
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    losses, weights = [], []
    for step in range(args.steps):
        x, y = torch.randn(8, 5), torch.randint(0, 2, (8,))
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        weights.append(model[0].weight.detach().clone().tolist())
        opt.step()
        losses.append(loss.item())
    json.dump({"losses": losses, "weights": weights}, open(args.record, "w"))
""")


def _run(tmp_path, *cli, env=None):  # noqa: ANN001, ANN002, ANN202
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    record = tmp_path / "record.json"
    proc = subprocess.run(
        [sys.executable, "-m", "smdbg.launch_cli", *cli, str(script), "--steps", "6", "--record", str(record)],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": ROOT, **(env or {})},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(record.read_text()), proc


def _config(tmp_path, out):  # noqa: ANN001, ANN202
    cfg = tmp_path / "hook.json"
    cfg.write_text(json.dumps({
        "LocalPath": str(out),
        "HookParameters": {"save_interval": "2"},
        "CollectionConfigurations": [
            {"CollectionName": "weights"}, {"CollectionName": "losses"},
            {"CollectionName": "gradients", "CollectionParameters": {"reductions": "l2"}},
        ],
    }))  # fmt: skip
    return cfg


def test_run_with_config_file(tmp_path) -> None:
    out = tmp_path / "trial"
    rec, proc = _run(tmp_path, "--config", str(_config(tmp_path, out)))
    assert f"trial at {out}" in proc.stderr
    trial = smd.create_trial(out)
    assert trial.training_has_ended()
    assert trial.steps() == [0, 2, 4]
    for s in (0, 2, 4):
        assert float(trial.tensor("CrossEntropyLoss_output_0").value(s)) == pytest.approx(rec["losses"][s])
        np.testing.assert_allclose(trial.tensor("Sequential_0.weight").value(s), rec["weights"][s], rtol=1e-6)
    assert trial.tensor("gradient/Sequential_2.weight").reductions() == ["l2"]


def test_env_variable_and_out_override(tmp_path) -> None:
    cfg = _config(tmp_path, tmp_path / "ignored")
    out = tmp_path / "override"
    rec, _ = _run(tmp_path, "--out", str(out), env={"SMDBG_CONFIG_FILE_PATH": str(cfg)})
    trial = smd.create_trial(out)
    assert trial.steps() == [0, 2, 4]
    assert not (tmp_path / "ignored").exists()
    losses = trial.tensor("CrossEntropyLoss_output_0").values()
    assert [float(v) for v in losses.values()] == pytest.approx([rec["losses"][s] for s in (0, 2, 4)])


def test_missing_script_is_a_clear_error(tmp_path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "smdbg.launch_cli", "--out", str(tmp_path / "t"), str(tmp_path / "nope.py")],
        env={**os.environ, "PYTHONPATH": ROOT}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "nope.py" in proc.stderr and "does not exist" in proc.stderr


def test_command_line_options_choose_what_is_saved(tmp_path) -> None:
    """--collections, --save-interval and --reductions configure the hook (what the README's
    second command, a rule run, needs), also over a config file."""
    out = tmp_path / "opts"
    rec, _ = _run(tmp_path, "--out", str(out), "--collections", "gradients,losses", "--save-interval", "2",
                  "--reductions", "abs_mean,l2")  # fmt: skip
    trial = smd.create_trial(out)
    assert trial.steps() == [0, 2, 4]
    assert trial.tensor("gradient/Sequential_0.weight").reductions() == ["abs_mean", "l2"]
    assert trial.tensor_names(collection="weights") == []
    loss = trial.tensor("CrossEntropyLoss_output_0")  # losses stay values, not reductions
    assert loss.reductions() == ["raw"]
    assert loss.history()[1].tolist() == pytest.approx([rec["losses"][s] for s in (0, 2, 4)])
    over = tmp_path / "over"
    _run(tmp_path, "--config", str(_config(tmp_path, over)), "--save-interval", "3")
    assert smd.create_trial(over).steps() == [0, 3]
