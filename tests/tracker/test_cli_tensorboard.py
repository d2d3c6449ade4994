"""`smdbg experiments list|show` and `smdbg export tensorboard`, read back with TensorBoard's reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from smdbg._cli import OneLineParser, dispatch
from smdbg.tracker import Experiment, Tracker
from smdbg.tracker.cli import register


def run_cli(*argv: str) -> int:
    """The tracker's commands through the smdbg CLI's dispatch (bad input: one line, status 2)."""
    parser = OneLineParser(prog="smdbg")
    register(parser.add_subparsers(dest="command"))
    return dispatch(parser, list(argv))


def _accumulator(path: Path) -> object:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    return acc


@pytest.fixture
def experiment(sqlite_url: str) -> str:
    exp = Experiment.create("cli-exp", description="for the CLI", db_url=sqlite_url)
    for k in range(2):
        with Tracker.create(trial_component_name=f"tc-{k}", db_url=sqlite_url) as tr:
            tr.log_parameter("lr", 0.1 / (k + 1))
            for i in range(5):
                tr.log_metric("loss", float(10 * k + i), timestamp=1000.0 + i, iteration_number=i * 10)
            tr.log_metric("no_iteration", 3.0)
        exp.create_trial(f"trial-{k}").add_trial_component(tr)
    return sqlite_url


def test_experiments_list_and_show(experiment: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("experiments", "list", "--db-url", experiment) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["EXPERIMENT", "TRIALS", "COMPONENTS"]
    assert out[1].split()[:3] == ["cli-exp", "2", "2"] and "for the CLI" in out[1]
    assert (
        run_cli("experiments", "show", "cli-exp", "--db-url", experiment, "--sort-by", "Parameters.lr") == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert "loss - Min" in lines[0] and "lr" in lines[0] and "loss - Avg" not in lines[0]
    assert lines[1].split()[0] == "tc-1" and lines[2].split()[0] == "tc-0"  # sorted by lr
    assert run_cli("experiments", "show", "missing", "--db-url", experiment) == 2
    assert "'missing'" in capsys.readouterr().err


def test_export_experiment_to_tensorboard(experiment: str, tmp_path: Path) -> None:
    out = tmp_path / "tb"
    assert run_cli("export", "tensorboard", "--experiment", "cli-exp", str(out), "--db-url", experiment) == 0
    acc = _accumulator(out / "trial-1" / "tc-1")
    scalars = acc.Scalars("loss")  # type: ignore[attr-defined]
    assert [s.step for s in scalars] == [0, 10, 20, 30, 40]
    assert [s.value for s in scalars] == [10.0, 11.0, 12.0, 13.0, 14.0]
    assert [s.wall_time for s in scalars] == [1000.0 + i for i in range(5)]
    assert [s.step for s in acc.Scalars("no_iteration")] == [0]  # type: ignore[attr-defined]


def test_export_debugger_trial_to_tensorboard(tmp_path: Path) -> None:
    from smdbg.store import BackgroundWriter
    from smdbg.testing.store_contract import write_steps

    trial = tmp_path / "trial"
    with BackgroundWriter(trial, "worker_0", flush_secs=0.1) as w:
        saved = write_steps(w, range(4))
    out = tmp_path / "tb"
    assert run_cli("export", "tensorboard", "--trial", str(trial), str(out)) == 0
    acc = _accumulator(out)
    assert [s.value for s in acc.Scalars("Loss_output_0")] == [0.0, 0.5, 1.0, 1.5]  # type: ignore[attr-defined]
    means = [s.value for s in acc.Scalars("Net_fc.weight/mean")]  # type: ignore[attr-defined]
    np.testing.assert_allclose(means, [saved[s].astype(np.float64).mean() for s in range(4)], rtol=1e-6)
    hist = acc.Histograms("Net_fc.weight")  # type: ignore[attr-defined]
    assert [h.step for h in hist] == [0, 1, 2, 3]
    assert hist[2].histogram_value.num == 32
    assert hist[2].histogram_value.max == pytest.approx(float(saved[2].max()), rel=1e-6)


def test_debugger_trial_metrics_imported_into_tracker(sqlite_url: str, tmp_path: Path) -> None:
    from smdbg.store import BackgroundWriter
    from smdbg.testing.store_contract import write_steps

    with BackgroundWriter(tmp_path / "trial", "worker_0", flush_secs=0.1) as w:
        write_steps(w, range(6))
    tr = Tracker.create(db_url=sqlite_url)
    assert tr.log_debugger_trial(str(tmp_path / "trial"), import_metrics=True) == 6
    tc = tr.trial_component
    (loss,) = tc.metrics
    assert (loss.metric_name, loss.count, loss.last) == ("Loss_output_0", 6, 2.5)
    assert tc.output_artifacts["debugger-trial"].media_type == "application/x-smdbg-trial"
    np.testing.assert_array_equal(tc.metric_points()["Loss_output_0"].iterations, np.arange(6))


def test_export_needs_a_known_source(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        run_cli("export", "tensorboard", "--experiment", "nope", str(tmp_path), "--db-url", sqlite_url) == 2
    )
    assert "'nope'" in capsys.readouterr().err
