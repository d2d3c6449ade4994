from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import smdbg
from smdbg.collections import Collection, CollectionManager
from smdbg.config import CollectionConfig, ReductionConfig, SaveConfig, SaveConfigMode
from smdbg.hook_config import HookConfig, HookConfigWarning, load_hook_config
from smdbg.modes import ModeKeys, parse_mode
from smdbg.reductions import compute_reduction, compute_reductions


def test_modes_have_smdebug_names_and_values() -> None:
    assert [m.name for m in ModeKeys] == ["TRAIN", "EVAL", "PREDICT", "GLOBAL"]
    assert smdbg.modes.TRAIN.value == 1 and smdbg.modes.GLOBAL.value == 4
    assert parse_mode("eval") is ModeKeys.EVAL and parse_mode(3) is ModeKeys.PREDICT
    with pytest.raises(ValueError, match="'TRAINING'.*TRAIN, EVAL, PREDICT, GLOBAL"):
        parse_mode("TRAINING")


def test_save_config_interval_range_and_steps() -> None:
    sc = SaveConfig(save_interval=10, start_step=20, end_step=50, save_steps=[3, 7])
    saved = [s for s in range(100) if sc.should_save_step(ModeKeys.TRAIN, s)]
    assert saved == [3, 7, 20, 30, 40]


def test_save_config_mode_overrides() -> None:
    sc = SaveConfig(
        save_interval=100,
        mode_save_configs={"eval": SaveConfigMode(save_interval=2), ModeKeys.PREDICT: {"save_steps": [5]}},
    )
    assert sc.should_save_step("eval", 4) and not sc.should_save_step("train", 4)
    assert sc.should_save_step("predict", 5) and sc.should_save_step("predict", 100)
    assert sc.get_save_config("eval").save_interval == 2
    assert SaveConfig.from_dict(sc.to_dict()) == sc


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"save_interval": -1}, "save_interval=-1: expected an integer >= 1"),
        ({"save_interval": 0}, "save_interval=0"),
        ({"start_step": "x"}, "start_step='x'"),
        ({"start_step": 10, "end_step": 5}, "end_step=5 is before start_step=10"),
        ({"save_steps": [1, -2]}, "save_steps=-2"),
    ],
)
def test_save_config_rejects_bad_values(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SaveConfig(**kwargs)


def test_save_config_unknown_mode() -> None:
    with pytest.raises(ValueError, match="unknown mode 'validation'"):
        SaveConfig(mode_save_configs={"validation": SaveConfigMode(save_interval=1)})


def test_reduction_config() -> None:
    rc = ReductionConfig(reductions=["mean", "max"], abs_reductions=["max"], norms=["l2"], abs_norms=["l1"])
    assert rc.keys == ("mean", "max", "l2", "abs_max", "abs_l1")
    assert not rc.saves_raw and ReductionConfig().saves_raw
    assert ReductionConfig(reductions=["mean"], save_raw_tensor=True).saves_raw
    assert ReductionConfig.from_tokens("mean, abs_max,l2,abs_l1") == ReductionConfig(
        ("mean",), ("max",), ("l2",), ("l1",)
    )
    with pytest.raises(ValueError, match="reductions contains 'median'"):
        ReductionConfig(reductions=["median"])
    with pytest.raises(ValueError, match="norms contains 'l3'"):
        ReductionConfig(norms=["l3"])
    with pytest.raises(ValueError, match="'abs_foo'"):
        ReductionConfig.from_tokens("abs_foo")


def test_reductions_are_numpy_definitions() -> None:
    x = np.array([[1.0, -2.0], [3.0, -4.0]], dtype=np.float32)
    r = compute_reductions(
        x, ["min", "max", "mean", "std", "variance", "sum", "prod", "l1", "l2", "abs_min", "abs_max"]
    )
    assert r["min"] == -4 and r["max"] == 3 and r["mean"] == -0.5 and r["sum"] == -2 and r["prod"] == 24
    assert r["variance"] == pytest.approx(np.var(x.astype(np.float64)))  # population (ddof=0)
    assert r["std"] == pytest.approx(np.std(x.astype(np.float64)))
    assert r["l1"] == 10 and r["l2"] == pytest.approx(np.sqrt(30))
    assert r["abs_min"] == 1 and r["abs_max"] == 4
    assert compute_reduction(np.array([np.nan, 1.0]), "max") != compute_reduction(
        np.array([np.nan, 1.0]), "max"
    )  # NaN kept
    assert np.isnan(compute_reduction(np.zeros(0), "mean")) and compute_reduction(np.zeros(0), "sum") == 0
    assert compute_reduction(np.array([1, 2, 3], dtype=np.int64), "variance") == pytest.approx(2 / 3)


def test_collections_match_regex_and_names() -> None:
    c = Collection("weights", include_regex=[r"\.weight$"])
    c.add_tensor_name("special")
    assert c.matches("Net_fc1.weight") and c.matches("special") and not c.matches("Net_fc1.bias")
    with pytest.raises(ValueError, match=r"regex '\(' does not compile"):
        c.include("(")
    mgr = CollectionManager([c])
    mgr.apply_config(
        CollectionConfig(
            "weights", {"save_interval": "5", "reductions": "mean,abs_max", "train.save_interval": 2}
        )
    )
    assert mgr.get("weights").save_config.should_save_step("eval", 5)  # type: ignore[union-attr]
    assert mgr.get("weights").save_config.should_save_step("train", 2)  # type: ignore[union-attr]
    assert mgr.get("weights").reduction_config.keys == ("mean", "abs_max")  # type: ignore[union-attr]
    again = CollectionManager.from_dict(json.loads(json.dumps(mgr.to_dict())))
    assert (
        again.get("weights").include_regex == [r"\.weight$"]
        and "special" in again.get("weights").tensor_names
    )


@pytest.mark.parametrize(
    "params, match",
    [
        ({"save_intervall": 5}, "unknown parameter 'save_intervall'"),
        ({"train.reductions": "mean"}, "unknown parameter 'train.reductions'"),
        ({"save_interval": "-3"}, "save_interval='-3'"),
        ({"reductions": "mean,median"}, "'median'"),
        ({"include_regex": "("}, "does not compile"),
    ],
)
def test_collection_config_rejects_bad_parameters(params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        CollectionConfig("weights", params)


SMDEBUG_JSON = {
    "LocalPath": "/tmp/smdbg-trial",
    "HookParameters": {
        "save_interval": "10",
        "eval.save_interval": "3",
        "reductions": "mean,abs_max",
        "include_regex": "fc1.*",
        "save_all": "false",
    },
    "CollectionConfigurations": [
        {"CollectionName": "weights", "CollectionParameters": {"save_interval": "20"}},
        {"CollectionName": "losses"},
    ],
}


def test_hook_json_config_smdebug_shape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "hook.json"
    path.write_text(json.dumps(SMDEBUG_JSON))
    cfg = load_hook_config(path)
    assert cfg.out_dir == "/tmp/smdbg-trial" and cfg.include_regex == ["fc1.*"]
    assert cfg.include_collections == ["weights", "losses"]
    assert cfg.save_config is not None and cfg.save_config.should_save_step("eval", 3)
    assert not cfg.save_config.should_save_step("train", 3)
    assert cfg.reduction_config is not None and cfg.reduction_config.keys == ("mean", "abs_max")
    monkeypatch.setenv("SMDBG_CONFIG_FILE_PATH", str(path))
    assert load_hook_config().out_dir == "/tmp/smdbg-trial"


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda d: d["HookParameters"].update(save_interval="-1"), "save_interval='-1'"),
        (lambda d: d["HookParameters"].update(save_interval=[1]), r"save_interval=\[1\]"),
        (lambda d: d["HookParameters"].update(reductions="mean,mode"), "'mode'"),
        (lambda d: d.pop("LocalPath"), "LocalPath=None"),
        (lambda d: d["HookParameters"].update(include_workers="some"), "include_workers='some'"),
        (lambda d: d.update(HookParameters=[1]), r"HookParameters=\[1\]: expected a JSON object"),
        (lambda d: d["CollectionConfigurations"][0].update(CollectionParameters="x"), "expected a JSON object"),
        (lambda d: d["CollectionConfigurations"][0]["CollectionParameters"].update(save_steps="a"), "save_steps"),
    ],
)
def test_hook_json_config_rejects_bad_values(mutate, match: str) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(json.dumps(SMDEBUG_JSON))
    mutate(data)
    with pytest.raises(ValueError, match=f"^hook config: .*{match}"):
        HookConfig.from_dict(data)


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda d: d.update(S3Path="s3://bucket/prefix"), "'S3Path'"),
        (lambda d: d["HookParameters"].update(save_intervall="3"), "HookParameters key 'save_intervall'"),
        (lambda d: d["HookParameters"].update({"train.include_regex": "x"}), "HookParameters key 'train.include_regex'"),
        (lambda d: d["CollectionConfigurations"][0].update(Extra=1), "key 'Extra' in CollectionConfigurations"),
        (
            lambda d: d["CollectionConfigurations"][0]["CollectionParameters"].update(bogus=1),
            "parameter 'bogus' of collection 'weights'",
        ),
    ],
)
def test_hook_json_config_ignores_unknown_keys_with_a_warning(mutate, match: str) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(json.dumps(SMDEBUG_JSON))
    mutate(data)
    with pytest.warns(HookConfigWarning, match=f"^hook config: ignoring unknown {match}"):
        cfg = HookConfig.from_dict(data)
    expected = HookConfig.from_dict(SMDEBUG_JSON)
    assert cfg.save_config == expected.save_config and cfg.include_collections == expected.include_collections
    assert [c.parameters for c in cfg.collection_configs] == [c.parameters for c in expected.collection_configs]
    with pytest.raises(ValueError, match=f"^hook config: unknown {match}"):  # a config written in code
        HookConfig.from_dict(data, strict=True)


def test_hook_json_config_file_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMDBG_CONFIG_FILE_PATH", raising=False)
    monkeypatch.delenv("SMDEBUG_CONFIG_FILE_PATH", raising=False)
    with pytest.raises(FileNotFoundError, match="SMDBG_CONFIG_FILE_PATH"):
        load_hook_config()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_hook_config(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_hook_config(bad)


def test_import_smdbg_is_light() -> None:
    import subprocess
    import sys

    code = "import sys, smdbg; smdbg.SaveConfig(); import smdbg.trials; print(sorted(m for m in ('torch','tensorflow','mxnet','boto3','pandas','sqlalchemy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
