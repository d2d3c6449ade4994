"""The save report: what each collection saved, what the included collections asked for and
was not saved, with the reason — module never called, parameter without gradient, frozen
parameter, excluded by the save config, unsupported dtype — logged at close, stored in the trial
(events/<worker>/save_report.json), read by Trial.save_reports() and `smdbg trial summary`."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import torch

import smdbg.pytorch as smd
from smdbg.cli import main as cli_main


class Quantize(torch.nn.Module):
    """A module whose output has a dtype the capture cannot save (qint8)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.quantize_per_tensor(x.detach(), 0.1, 0, torch.qint8)


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.frozen = torch.nn.Linear(4, 4)
        self.frozen.requires_grad_(False)
        self.fc1 = torch.nn.Linear(4, 4)
        self.fc2 = torch.nn.Linear(4, 2)
        self.unused = torch.nn.Linear(4, 4)  # never called: no output, no gradient
        self.quant = Quantize()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.quant(x)
        return self.fc2(torch.relu(self.fc1(self.frozen(x))))


def train(hook: Any, net: Net, steps: int = 4) -> None:
    opt = hook.wrap_optimizer(torch.optim.SGD(net.parameters(), lr=0.1))
    loss_fn = torch.nn.MSELoss()
    hook.register_loss(loss_fn)
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(net(torch.randn(2, 4)), torch.randn(2, 2)).backward()
        opt.step()


def reasons(report: Any) -> dict[str, str]:
    return {n.tensor: n.reason for n in report.not_saved}


def test_each_reason_in_the_log_the_trial_and_the_cli(tmp_path: Any, caplog: Any, capsys: Any) -> None:
    out = str(tmp_path / "trial")
    hook = smd.Hook(out, save_config=smd.SaveConfig(save_interval=2),
                    include_collections=["weights", "gradients", "losses", "outputs"])  # fmt: skip
    late = hook.get_collection("late")
    late.include(r"^Net_fc2\.bias$")
    late.save_config = smd.SaveConfig(start_step=100)  # never reached in 4 steps
    hook.include_collection("late")
    net = Net()
    hook.register_module(net)
    with caplog.at_level(logging.INFO, logger="smdbg.hooks"):
        train(hook, net)  # the quantized output does not fail the step
        hook.close()

    doc = json.loads((tmp_path / "trial" / "events" / "worker_0" / "save_report.json").read_text())
    trial = smd.create_trial(out)
    report = trial.save_reports()["worker_0"]
    assert report.to_dict() == doc
    why = reasons(report)
    assert why["unused_output_0"] == "module_not_called"
    assert why["gradient/Net_unused.weight"] == why["gradient/Net_unused.bias"] == "no_gradient"
    assert why["gradient/Net_frozen.weight"] == why["gradient/Net_frozen.bias"] == "frozen"
    assert why["Net_fc2.bias"] == "save_config"  # only "late" asks for it
    assert why["quant_output_0"] == "dtype"
    assert {n.tensor: n.detail for n in report.not_saved}["quant_output_0"] == "qint8"
    assert len(why) == 7  # nothing else: what was saved is not listed
    # what was saved, per collection: 2 saved steps (0 and 2) of 4
    assert report.collections["weights"].tensors == 4 and report.collections["weights"].steps == 2
    assert report.collections["gradients"].tensors == 4  # fc1, fc2 weight and bias
    assert report.collections["losses"].tensors == 1
    assert report.collections["late"].reason == "save_config"
    assert report.steps == 4 and report.mode_steps == {"GLOBAL": 4}
    assert trial.tensor("fc1_output_0").steps() == [0, 2]  # the other outputs were saved
    assert not trial.has_tensor("quant_output_0")

    logged = "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "asked for but not saved: 7 tensors" in logged
    assert "unused_output_0 (outputs): module never called at a saved step" in logged
    assert "gradient/Net_frozen.weight (gradients): frozen parameter" in logged

    capsys.readouterr()
    assert cli_main(["trial", "summary", out, "--list", "3"]) == 0
    printed = capsys.readouterr().out
    assert "save report of worker_0 (pytorch): 4 steps" in printed
    assert "late                 nothing saved: excluded by the save config" in printed
    assert "asked for but not saved: 7 tensors" in printed and "... and 4 more" in printed


def test_collections_that_saved_nothing(tmp_path: Any) -> None:
    out = str(tmp_path / "trial")
    hook = smd.Hook(out, save_config=smd.SaveConfig(start_step=50), include_collections=["weights", "losses", "custom"])
    net = torch.nn.Linear(2, 1)
    hook.register_module(net)
    opt = hook.wrap_optimizer(torch.optim.SGD(net.parameters(), lr=0.1))
    for _ in range(3):
        opt.zero_grad()
        net(torch.randn(4, 2)).sum().backward()
        opt.step()
    report = hook.save_report()  # also while training
    hook.close()
    assert report.collections["weights"].reason == "save_config"
    assert reasons(report) == {"Linear_weight": "save_config"}  # its bias is in "biases", not included
    assert report.collections["custom"].reason == "save_config"
    stored = smd.create_trial(out).save_reports()["worker_0"]
    assert stored.collections["losses"].tensors == 0 and stored.steps == 3
    lines = "\n".join(stored.lines())
    assert "weights              nothing saved: excluded by the save config" in lines


def test_nothing_matched_and_not_recorded(tmp_path: Any) -> None:
    out = str(tmp_path / "trial")
    hook = smd.Hook(out, save_config=smd.SaveConfig(save_interval=1), include_collections=["weights", "custom"])
    hook.get_collection("custom").add_tensor_name("my_tensor")
    hook.save_scalar("lr", 0.1)  # scalars are reported too
    hook.close()
    report = smd.create_trial(out).save_reports()["worker_0"]
    assert report.collections["weights"].reason == "nothing_matched"  # no model registered
    assert reasons(report) == {"my_tensor": "not_recorded"}
    assert report.collections["custom"].reason == "listed"
    assert report.collections["scalars"].tensors == 1


def test_dry_run_and_other_workers_write_no_report(tmp_path: Any) -> None:
    out = str(tmp_path / "trial")
    hook = smd.Hook(out, dry_run=True)
    net = torch.nn.Linear(2, 1)
    hook.register_module(net)
    net(torch.randn(1, 2))
    hook.close()
    assert not os.path.exists(out)
