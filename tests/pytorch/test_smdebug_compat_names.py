"""smdebug's tensor names (issue 19, item 2): ``save_scalar("lr", v)`` is ``scalar/lr``,
``record_tensor_value(name, t)`` is ``<name>_output_0`` (a loss when the name says so), and
the seed's ``trial.tensor('CrossEntropyLoss:0')`` resolves to the loss module's output."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from pytorch_testlib import Net, batch

import smdbg
import smdbg.pytorch as smd


def test_save_scalar_is_stored_as_scalar_slash_name(tmp_path) -> None:
    net = Net()
    hook = smd.Hook(out_dir=str(tmp_path / "run"), save_config=smd.SaveConfig(save_interval=100))
    hook.register_module(net)
    opt = hook.wrap_optimizer(torch.optim.SGD(net.parameters(), lr=0.1))
    for i in range(3):
        opt.zero_grad()
        net(batch(i)[0]).sum().backward()
        opt.step()
        hook.save_scalar("lr", 0.1 * (i + 1))
    hook.close()
    trial = smd.create_trial(str(tmp_path / "run"))
    assert "scalar/lr" in trial.tensor_names(collection="scalars")
    assert "lr" not in trial.tensor_names()
    # saved whenever given, at the step under way (the optimizer step already moved it on)
    assert trial.tensor("scalar/lr").values() == {1: pytest.approx(0.1), 2: pytest.approx(0.2), 3: pytest.approx(0.3)}
    assert trial.tensor("lr").name == "scalar/lr"  # the bare name still finds it
    with pytest.raises(TypeError, match="expected a number"):
        smd.Hook(out_dir=str(tmp_path / "x")).save_scalar("acc", torch.ones(3))
    smd.del_hook()


def test_record_tensor_value_of_a_functional_loss(tmp_path) -> None:
    net = Net()
    hook = smd.Hook(out_dir=str(tmp_path / "run"), save_config=smd.SaveConfig(save_interval=2))
    hook.register_module(net)
    opt = hook.wrap_optimizer(torch.optim.SGD(net.parameters(), lr=0.1))
    losses, errors = {}, {}
    for i in range(5):
        x, y = batch(i)
        opt.zero_grad()
        out = net(x)
        loss = F.cross_entropy(out, y)
        hook.record_tensor_value(tensor_name="loss", tensor_value=loss)  # smdebug's docs, word for word
        error = (out.argmax(1) != y).float().mean()
        hook.record_tensor_value("val_error", error)  # matches no default collection
        losses[i], errors[i] = loss.item(), error.item()
        loss.backward()
        opt.step()
    hook.close()
    trial = smd.create_trial(str(tmp_path / "run"))
    assert trial.tensor_names(collection="losses") == ["loss_output_0"]
    assert trial.tensor("loss_output_0").values() == {s: pytest.approx(losses[s]) for s in (0, 2, 4)}
    assert trial.tensor("val_error_output_0").steps() == [0, 2, 4]  # kept in "default"
    assert "val_error_output_0" not in trial.tensor_names(collection="losses")
    with pytest.raises(TypeError, match="expected a torch.Tensor"):
        smd.Hook(out_dir=str(tmp_path / "x")).record_tensor_value("loss", 0.5)
    smd.del_hook()


def test_the_seeds_tensorflow_style_loss_name_resolves(tmp_path) -> None:
    net, criterion = Net(), nn.CrossEntropyLoss()
    hook = smd.Hook(out_dir=str(tmp_path / "run"), save_config=smd.SaveConfig(save_interval=1))
    hook.register_module(net)
    hook.register_loss(criterion)
    optimizer = hook.wrap_optimizer(torch.optim.Adam(net.parameters(), lr=0.01))
    seen = {}
    hook.set_mode(smd.modes.TRAIN)
    for i in range(3):
        inputs, labels = batch(i)
        optimizer.zero_grad()
        loss = criterion(net(inputs), labels)
        loss.backward()
        optimizer.step()
    hook.set_mode(smd.modes.EVAL)
    with torch.no_grad():
        for i in range(2):
            inputs, labels = batch(10 + i)
            seen[i] = criterion(net(inputs), labels).item()
    hook.close()

    # the last lines of the seed, unchanged but for the package name
    trial = smdbg.trials.create_trial(str(tmp_path / "run"))
    print(f"Saved these tensors: {trial.tensor_names()}")
    values = trial.tensor("CrossEntropyLoss:0").values(mode=smdbg.modes.EVAL)
    assert values == {0: pytest.approx(seen[0]), 1: pytest.approx(seen[1])}
    assert trial.tensor("CrossEntropyLoss:0").name == "CrossEntropyLoss_output_0"
    assert trial.has_tensor("CrossEntropyLoss:0") and not trial.has_tensor("CrossEntropyLoss:1")
