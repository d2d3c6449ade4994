"""Trial API details: modes and mode steps, tables, SQL, filters, the generic hook core."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import smdbg
from smdbg.exceptions import (
    StepUnavailable,
    StopTrainingRequested,
    TensorUnavailableForStep,
    WriterClosedError,
)
from smdbg.hooks.base import BaseHook
from smdbg.modes import ModeKeys
from smdbg.store import BackgroundWriter, Record
from smdbg.store.control import request_stop


@pytest.fixture
def modal_trial(tmp_path: Path) -> smdbg.trials.Trial:
    """Global steps 0-9 TRAIN (mode steps 0-9), 10-14 EVAL (mode steps 0-4)."""
    with BackgroundWriter(tmp_path / "t", "worker_0") as w:
        w.write_trial_metadata(
            {"num_workers": 1, "collections": {"weights": {"name": "weights", "include_regex": ["weight"]}}}
        )
        for g in range(15):
            mode, ms = ("TRAIN", g) if g < 10 else ("EVAL", g - 10)
            arr = np.full((2, 3), g, dtype=np.float64)
            w.add(g, mode, ms, [
                Record("fc.weight", ("weights",), "raw", None, "float64", (2, 3), arr),
                Record("fc.weight", ("weights",), "abs_max", float(g), "float64", (2, 3), None),
                Record("loss", ("losses",), "raw", 100.0 - g, "float32", (), np.float32(100 - g).tobytes()),
            ])  # fmt: skip
    return smdbg.create_trial(tmp_path / "t")


def test_modes_and_mode_steps(modal_trial: smdbg.trials.Trial) -> None:
    t = modal_trial
    assert t.modes() == [ModeKeys.TRAIN, ModeKeys.EVAL]
    assert t.steps() == list(range(15))
    assert t.steps(mode=ModeKeys.EVAL) == [0, 1, 2, 3, 4]
    assert t.steps(mode="global") == list(range(15))
    assert t.mode_modestep(12) == (ModeKeys.EVAL, 2)
    assert t.global_step(ModeKeys.EVAL, 2) == 12
    w = t.tensor("fc.weight")
    assert w.value(2, mode=ModeKeys.EVAL)[0, 0] == 12  # EVAL step 2 is global step 12
    assert w.value(2)[0, 0] == 2
    assert w.steps(mode=ModeKeys.TRAIN) == list(range(10))
    assert sorted(w.values(mode=ModeKeys.EVAL)) == [0, 1, 2, 3, 4]
    assert w.reduction_value(3, "max", abs=True, mode="eval") == 13
    assert w.reduction_values(3) == {("max", True): 3.0}
    assert w.shape(3) == (2, 3)
    assert w.reductions() == ["abs_max", "raw"]
    steps, vals = w.history("abs_max", mode=ModeKeys.EVAL)
    assert steps.tolist() == [0, 1, 2, 3, 4] and vals.tolist() == [10, 11, 12, 13, 14]


def test_missing_steps(modal_trial: smdbg.trials.Trial) -> None:
    with pytest.raises(TensorUnavailableForStep, match="'fc.weight' was not saved at step 3"):
        modal_trial.tensor("fc.weight").value(3, worker="worker_9")
    with pytest.raises(StepUnavailable):
        modal_trial.global_step(ModeKeys.PREDICT, 0)
    with pytest.raises(smdbg.exceptions.NoMoreData):
        modal_trial.tensor("loss").value(99)


def test_tensor_name_filters(modal_trial: smdbg.trials.Trial) -> None:
    t = modal_trial
    assert t.tensor_names(regex="weight") == ["fc.weight"]
    assert t.tensor_names(collection="losses") == ["loss"]
    assert t.tensor_names(step=2, mode=ModeKeys.EVAL) == ["fc.weight", "loss"]
    assert t.has_tensor("loss") and not t.has_tensor("nope")
    assert t.collection("weights").include_regex == ["weight"]
    nope = t.collection("nope")  # smdebug: a name the trial lacks gives an empty collection
    assert nope.name == "nope" and not nope.tensor_names and "nope" in t.collections()
    with pytest.raises(ValueError, match="does not compile"):
        t.tensor_names(regex="(")


def test_tables_and_sql(modal_trial: smdbg.trials.Trial) -> None:
    df = modal_trial.to_pandas(tensor_regex="^loss$")
    assert list(df.columns) == ["step", "mode", "mode_step", "worker", "tensor", "reduction", "value"]
    assert len(df) == 15 and df["value"].iloc[0] == 100.0
    assert set(modal_trial.to_pandas(reduction="abs_max")["tensor"]) == {"fc.weight"}
    assert len(modal_trial.to_arrow(mode=ModeKeys.EVAL)) == 15
    out = modal_trial.sql(
        "select mode, min(value) as best from trial where tensor = 'loss' group by mode order by mode"
    )
    assert out.to_dict("list") == {"mode": ["EVAL", "TRAIN"], "best": [86.0, 91.0]}


def test_the_store_is_readable_without_smdbg(modal_trial: smdbg.trials.Trial) -> None:
    import duckdb

    glob = f"{modal_trial.path}/events/*/*.parquet"
    rows = (
        duckdb.connect()
        .execute(f"select count(*), max(step) from read_parquet('{glob}') where tensor = 'loss'")
        .fetchone()
    )
    assert rows == (15, 14)


def test_generic_hook_core(tmp_path: Path) -> None:
    hook = BaseHook(tmp_path / "h", save_config=smdbg.SaveConfig(save_interval=2), include_collections=["custom"],
                    reduction_config=smdbg.ReductionConfig(reductions=["mean"]))  # fmt: skip
    hook.set_mode(smdbg.modes.TRAIN)
    for step in range(6):
        hook.save_tensor("activ", np.full(4, float(step)), collections_to_write="custom")
        hook.save_scalar("lr", 0.1 * step)
        hook._advance()
    hook.close()
    hook.close()
    with pytest.raises(WriterClosedError):
        hook.save_scalar("lr", 1.0)
    t = smdbg.create_trial(tmp_path / "h")
    assert t.tensor("activ").steps() == [0, 2, 4]
    assert t.tensor("activ").reductions() == ["mean"]
    assert t.tensor("lr").steps() == list(range(6))  # scalars are saved whenever given
    assert t.metadata["framework"] == "generic"
    with pytest.raises(TypeError, match="expected a number"):
        BaseHook(tmp_path / "x").save_scalar("bad", "abc")


def test_hook_stops_on_request(tmp_path: Path) -> None:
    hook = BaseHook(tmp_path / "s", save_config=smdbg.SaveConfig(save_interval=1), stop_check_secs=0)
    hook.save_scalar("loss", 1.0)
    hook._advance()
    request_stop(tmp_path / "s", "NaN in loss")
    with pytest.raises(StopTrainingRequested, match="NaN in loss"):
        hook.save_scalar("loss", float("nan"))
        hook._advance()
    t = smdbg.create_trial(tmp_path / "s")
    assert t.training_has_ended()
    assert np.isnan(t.tensor("loss").value(1))
