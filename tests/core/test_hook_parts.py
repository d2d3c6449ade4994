"""The parts a hook is composed of: frozen options, the records builder, record sinks and the
collections' version number (no framework needed)."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest

import smdbg
from smdbg.collections import Collection, CollectionManager
from smdbg.hooks._options import HookOptions
from smdbg.hooks._plan import TensorPlan
from smdbg.hooks._records import StepBatch, StepRecords, to_records
from smdbg.hooks._sinks import RecordSink, SinkThread
from smdbg.hooks.base import BaseHook


def test_options_are_checked_once_and_frozen(tmp_path) -> None:
    opts = HookOptions.from_args(tmp_path, include_regex="fc.*", include_collections=["weights"], save_all=True)
    assert opts.out_dir == str(tmp_path) and opts.tensorboard_dir is None  # no export: none, as in smdebug
    assert HookOptions.from_args(tmp_path, export_tensorboard=True).tensorboard_dir == str(tmp_path / "tensorboard")
    assert opts.include_regex == ("fc.*",) and opts.include_collections == ("weights",)
    assert isinstance(opts.save_config, smdbg.SaveConfig)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.dry_run = True  # type: ignore[misc]
    with pytest.raises(TypeError, match="does not support item assignment"):
        opts.storage_options["key"] = "x"  # type: ignore[index]
    assert HookOptions.from_args("s3://bucket/trial", export_tensorboard=True).tensorboard_dir is None
    with pytest.raises(ValueError, match="include_workers='some'"):
        HookOptions.from_args(tmp_path, include_workers="some")
    with pytest.raises(TypeError, match="include_collections contains 3"):
        HookOptions.from_args(tmp_path, include_collections=["weights", 3])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"regex '\(' does not compile"):
        HookOptions.from_args(tmp_path, include_regex="(")
    with pytest.raises(TypeError, match="out_dir=None"):
        BaseHook(None)  # type: ignore[arg-type]
    hook = BaseHook(tmp_path / "h", include_workers="all", dry_run=True)
    assert hook.options.include_workers == hook.include_workers == "all" and hook.dry_run
    with pytest.raises(AttributeError):
        hook.out_dir = "elsewhere"  # type: ignore[misc]
    hook.close()


def test_to_records_returns_reduction_and_raw_records() -> None:
    plan = TensorPlan(("weights", "all"), ("mean", "l2"), True, True)
    host = np.arange(6, dtype=np.float32).reshape(2, 3)
    items = [("w", plan, host, {"mean": 2.5, "l2": 7.4}, (2, 3), "float32"),
             ("loss", TensorPlan(("losses",), (), True, False), np.array(0.5), {}, (), "float64")]  # fmt: skip
    recs = to_records(items)
    assert [(r.tensor, r.reduction, r.value, r.shape) for r in recs] == [
        ("w", "mean", 2.5, (2, 3)), ("w", "l2", 7.4, (2, 3)), ("w", "raw", None, (2, 3)), ("loss", "raw", 0.5, ()),
    ]  # fmt: skip
    assert recs[2].data is host and recs[2].collections == ("weights", "all") and recs[2].dtype == "float32"
    again: list = []
    assert to_records(items[:1], again) is again and len(again) == 3  # appends to a given list
    batch = StepRecords(7, "TRAIN", 3)
    batch.add(items[:1])
    batch.add_metric(items[1], timestamp=123.0)
    done = batch.finish()
    assert (done.step, done.mode, done.mode_step, len(done.records)) == (7, "TRAIN", 3, 4)
    assert done.metric_times == {"loss": 123.0}


def test_each_manager_sees_changes_of_its_collections_through_its_version() -> None:
    shared = Collection("custom")
    a, b, other = CollectionManager(), CollectionManager(), CollectionManager([Collection("x")])
    a.add(shared)
    b.add(shared)
    seen = (a.version, b.version, other.version)
    changes = [
        lambda: shared.include("fc.*"),
        lambda: shared.add_tensor_name("n1"),
        lambda: shared.tensor_names.add("n2"),  # the set itself, not through add_tensor_name
        lambda: setattr(shared, "tensor_names", {"n3"}),
        lambda: shared.tensor_names.update({"n4"}),  # a plain set assigned above counts too
        lambda: setattr(shared, "save_config", smdbg.SaveConfig(save_interval=3)),
        lambda: setattr(shared, "reduction_config", smdbg.ReductionConfig(reductions=["mean"])),
    ]
    for change in changes:
        change()
        assert a.version > seen[0] and b.version > seen[1], change
        assert other.version == seen[2]  # no global counter: an unrelated manager does not move
        seen = (a.version, b.version, other.version)
    a.add(Collection("new"))
    assert a.version > seen[0] and b.version == seen[1]


class _Recording(RecordSink):
    """A synchronous sink that keeps what it got and on which thread."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.steps: list[int] = []
        self.threads: set[int] = set()
        self.fail_at = fail_at
        self.closed = 0

    def write(self, batch: StepBatch) -> None:
        self.threads.add(threading.get_ident())
        if batch.step == self.fail_at:
            raise OSError(f"disk full at step {batch.step}")
        self.steps.append(batch.step)

    def close(self) -> None:
        self.closed += 1


def _batch(step: int) -> StepBatch:
    return StepBatch(step, "GLOBAL", step, [], 0.0)


def test_sink_thread_runs_sinks_off_the_caller_in_order_and_raises_their_errors() -> None:
    ok, failing = _Recording(), _Recording(fail_at=2)
    thread = SinkThread([ok, failing], max_pending=2)
    for step in range(3):
        thread.write(_batch(step))
    with pytest.raises(OSError, match="disk full at step 2"):
        thread.flush()
    thread.write(_batch(3))  # the error was raised once; later batches still go through
    thread.close()
    thread.close()  # idempotent
    with pytest.raises(smdbg.exceptions.WriterClosedError, match="closed"):
        thread.write(_batch(4))
    assert ok.steps == [0, 1, 2, 3] and failing.steps == [0, 1, 3]
    assert threading.get_ident() not in ok.threads | failing.threads and len(ok.threads) == 1
    assert ok.closed == failing.closed == 1


def test_hooks_do_not_share_collection_state(tmp_path) -> None:
    one = BaseHook(tmp_path / "a", include_collections=["custom"])
    two = BaseHook(tmp_path / "b", include_collections=["custom"])
    before = two.collections.version
    one.get_collection("custom").save_config = smdbg.SaveConfig(save_interval=1)
    one.get_collection("custom").add_tensor_name("t")
    assert two.collections.version == before and not two.get_collection("custom").tensor_names
    one.close()
    two.close()
