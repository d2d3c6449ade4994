"""Bad input to the MXNet hook, and importing smdbg.mxnet where mxnet is missing or broken."""

from __future__ import annotations

import os
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest
from mxnet import gluon

import smdbg.mxnet as smd
from smdbg.exceptions import WriterClosedError
from tests.mxnet.conftest import batches, make_net, train

pytestmark = pytest.mark.mxnet

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _import_in_subprocess(*python_args: str, code: str = "import smdbg.mxnet") -> str:
    proc = subprocess.run(
        [sys.executable, *python_args, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode != 0, proc.stdout
    return proc.stderr.strip().splitlines()[-1]


def test_import_without_mxnet_says_what_to_install() -> None:
    last = _import_in_subprocess(code="import sys; sys.modules['mxnet'] = None; import smdbg.mxnet")
    assert last.startswith("ImportError: smdbg.mxnet needs MXNet")
    assert "1.9.1" in last and "numpy < 1.24" in last and "not installed" in last
    assert "scripts/setup_mxnet_env.sh" in last


def test_import_where_mxnet_cannot_import_names_numpy_and_versions() -> None:
    # numpy 1.24 removed np.bool, which mxnet 1.9.1 uses at import; turning numpy 1.23's
    # deprecation warning into an error makes the real mxnet fail exactly there.
    last = _import_in_subprocess("-W", "error::DeprecationWarning")
    assert last.startswith("ImportError: smdbg.mxnet needs MXNet")
    assert f"cannot be imported with numpy {np.__version__}" in last
    assert "np.bool" in last and "numpy<1.24" in last


def test_import_smdbg_stays_light() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "import sys, smdbg; smdbg.SaveConfig; print('mxnet' in sys.modules)"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.stdout.strip() == "False", proc.stderr


@pytest.mark.parametrize("bad", [object(), "net", mx.nd.ones((2, 2)), mx.sym.var("x")])
def test_register_something_that_is_not_a_block(out_dir: str, bad: object) -> None:
    hook = smd.Hook(out_dir)
    with pytest.raises(TypeError, match=r"register_block\(\) got a .*: expected an mxnet\.gluon\.Block"):
        hook.register_block(bad)
    with pytest.raises(TypeError, match="expected an mxnet.gluon.Block"):
        hook.register_hook(bad)
    hook.close()


def test_wrap_something_that_is_not_a_trainer(out_dir: str) -> None:
    hook = smd.Hook(out_dir)
    with pytest.raises(
        TypeError, match=r"wrap_trainer\(\) got a .*HybridSequential.*: expected an mxnet\.gluon\.Trainer"
    ):
        hook.wrap_trainer(make_net())
    hook.close()


def test_register_twice_warns_once_and_saves_once(out_dir: str, caplog: pytest.LogCaptureFixture) -> None:
    net, loss_fn = make_net(), gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    hook = smd.Hook(out_dir, save_config=smd.SaveConfig(save_interval=1), include_collections=["losses"])
    hook.register_block(net)
    hook.register_block(loss_fn)
    hook.register_block(loss_fn)
    hook.wrap_trainer(trainer)
    hook.wrap_trainer(trainer)
    assert "already registered" in caplog.text
    seen = train(net, loss_fn, trainer, batches(2))
    hook.close()
    trial = smd.create_trial(out_dir)
    assert trial.steps() == [0, 1]
    np.testing.assert_array_equal(trial.tensor("softmaxcrossentropyloss0_output_0").value(1), seen.losses[1])


def test_closed_hook_detaches_and_keeps_what_it_wrote(out_dir: str) -> None:
    net, loss_fn = make_net(), gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    original_step = trainer.step
    hook = smd.Hook(out_dir, save_config=smd.SaveConfig(save_interval=1))
    hook.register_block(net)
    hook.register_block(loss_fn)
    hook.wrap_trainer(trainer)
    train(net, loss_fn, trainer, batches(3))
    hook.close()
    hook.close()  # idempotent
    assert trainer.step == original_step  # the instance wrapper is gone
    train(net, loss_fn, trainer, batches(2))  # training goes on, unobserved
    with pytest.raises(WriterClosedError, match="is closed"):
        hook.register_block(make_net())
    trial = smd.create_trial(out_dir)
    assert trial.steps() == [0, 1, 2]
    assert trial.training_has_ended()


def test_save_scalar_rejects_a_non_number(out_dir: str) -> None:
    hook = smd.Hook(out_dir)
    with pytest.raises(TypeError, match="expected a number"):
        hook.save_scalar("lr", "fast")
    hook.close()
