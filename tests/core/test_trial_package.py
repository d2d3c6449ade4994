"""The trial package's own contracts: the smdebug-named alias, the read interface, the documents
rule jobs leave in a trial, the follow loop and worker states."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import smdbg
import smdbg.trial as trial_api
import smdbg.trials
from smdbg.exceptions import NoTrialFound
from smdbg.store import BackgroundWriter
from smdbg.testing.store_contract import write_steps
from smdbg.trial import (
    Finding,
    RuleStatus,
    RuleStatusDoc,
    create_trial,
    follow_steps,
    read_findings,
    read_rule_statuses,
    read_stop_request,
    request_stop,
    write_findings,
    write_rule_status,
)


def _writer(path: Path, worker: str = "worker_0", workers: int = 1) -> BackgroundWriter:
    w = BackgroundWriter(path, worker, flush_secs=60, fsync=False)
    w.write_trial_metadata({"framework": "test", "num_workers": workers})
    return w


def test_smdebug_names_are_the_same_objects() -> None:
    from smdbg.rules import Finding as RulesFinding
    from smdbg.rules import RuleStatus as RulesRuleStatus

    assert smdbg.trials.create_trial is trial_api.create_trial is smdbg.create_trial
    assert smdbg.trials.Trial is trial_api.Trial and smdbg.trials.Tensor is trial_api.Tensor
    assert RulesFinding is Finding and RulesRuleStatus is RuleStatus


def test_the_tracker_does_not_load_the_trial_api() -> None:
    code = (
        "import sys, smdbg.tracker, smdbg.tracker._tensorboard, smdbg.tracker.cli; "
        "print(sorted(m for m in sys.modules if m.startswith(('smdbg.trial', 'smdbg.store', 'smdbg.bridges'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_trial_reads_through_its_source(tmp_path: Path) -> None:
    with _writer(tmp_path / "t") as w:
        saved = write_steps(w, range(3))
    trial = create_trial(tmp_path / "t")
    src = trial.source
    assert src.url() == trial.path and src.exists()
    assert sorted(src.tensors.names) == ["Loss_output_0", "Net_fc.weight"]
    assert len(src.cols["step"]) == src.nrows == 12  # 3 steps x (raw + mean + l2 + loss); cols reads them
    np.testing.assert_array_equal(trial.tensor("Net_fc.weight").value(1, mode="train"), saved[1])
    # A second trial over the same source object sees the same index, read once.
    again = trial_api.Trial(src, name="again")
    assert again.steps() == trial.steps() == [0, 1, 2] and again.name == "again"


def test_rule_status_document_round_trip_and_mapping_view() -> None:
    doc = RuleStatusDoc(rule="r", status=RuleStatus.ISSUES_FOUND, reason="1 finding", last_step=7,
                        findings_count=1, updated=5.0, parameters={"threshold": 1.0}, actions=["stop_training"])  # fmt: skip
    d = doc.to_dict()
    assert d == {
        "rule": "r", "status": "IssuesFound", "reason": "1 finding", "last_step": 7, "findings_count": 1,
        "updated": 5.0, "parameters": {"threshold": 1.0}, "actions": ["stop_training"],
    }  # fmt: skip
    assert RuleStatusDoc.from_dict(json.loads(json.dumps(d))) == doc
    assert doc["status"] == "IssuesFound" and doc.get("started") is None and dict(doc) == d and doc == d
    assert "action_errors" in RuleStatusDoc("r", RuleStatus.ERROR, action_errors=["x: down"]).to_dict()


def test_rule_documents_before_the_trial_has_data(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A job runner reads rule statuses and stop requests of a trial that saved nothing yet."""
    path = str(tmp_path / "empty")
    assert read_rule_statuses(path) == {} and read_stop_request(path) is None
    write_rule_status(path, RuleStatusDoc("exploding_tensor", RuleStatus.IN_PROGRESS, "starting"))
    stray = tmp_path / "empty" / "rules" / "stray"
    stray.mkdir()
    (stray / "status.json").write_text('{"not": "a status"}')
    with caplog.at_level(logging.WARNING, logger="smdbg.trial._rules"):
        statuses = read_rule_statuses(path)
    assert {k: str(v.status) for k, v in statuses.items()} == {"exploding_tensor": "InProgress"}
    assert "stray" in caplog.text
    with pytest.raises(NoTrialFound):  # still no trial: only rule documents
        create_trial(path, timeout=0)
    with pytest.raises(ValueError, match=r"rule name '\.\./x'"):
        write_rule_status(path, RuleStatusDoc("../x", RuleStatus.ERROR))


def test_findings_and_stop_requests_through_an_open_trial(tmp_path: Path) -> None:
    with _writer(tmp_path / "t") as w:
        write_steps(w, range(2))
    trial = create_trial(tmp_path / "t")
    found = [Finding("r", 1, "NaN", "w", "TRAIN", 1, {"value": float("nan"), "n": 3})]
    write_findings(trial, "r", found)
    back = read_findings(str(tmp_path / "t"), "r")
    assert back[0].step == 1 and np.isnan(back[0].values["value"]) and back[0].values["n"] == 3
    assert read_findings(trial, "other") == []
    assert trial.stop_requested() is None
    request_stop(trial, "rule r: NaN", rule="r")
    assert trial.stop_requested()["rule"] == "r"  # type: ignore[index]
    assert read_stop_request(str(tmp_path / "t"))["reason"] == "rule r: NaN"  # type: ignore[index]


def test_follow_steps_yields_each_complete_step_once(tmp_path: Path) -> None:
    w = _writer(tmp_path / "t")
    write_steps(w, range(3))
    w.flush()
    trial = create_trial(tmp_path / "t", refresh_interval=0)
    windows = follow_steps(trial, poll_interval=0.01)
    first = next(windows)
    assert (first.start, first.end, first.first, first.last, first.ended) == (0, 3, True, False, False)
    write_steps(w, range(3, 6))
    w.flush()
    second = next(windows)
    assert (second.start, second.end, second.first, second.last) == (3, 6, False, False)
    w.close()
    third = next(windows)
    assert third.start == 6 and third.last and third.ended and third.end > 6
    assert list(windows) == []


def test_follow_steps_one_window_a_stop_step_and_a_timeout(tmp_path: Path) -> None:
    w = _writer(tmp_path / "t")
    write_steps(w, range(4))
    w.flush()
    trial = create_trial(tmp_path / "t", refresh_interval=0)
    (once,) = follow_steps(trial, 1, follow=False)
    assert (once.start, once.end, once.first, once.last, once.ended) == (1, 4, True, True, False)
    (upto,) = follow_steps(trial, 0, 2, poll_interval=0.01)
    assert (upto.start, upto.end, upto.last) == (0, 2, True)
    with pytest.raises(
        TimeoutError, match=r"stopped following .*after its timeout of 0\.05s, before training ended"
    ):
        list(follow_steps(trial, poll_interval=0.01, timeout=0.05))
    w.close()


def test_worker_states(tmp_path: Path) -> None:
    a, b = _writer(tmp_path / "t", "worker_0", 2), _writer(tmp_path / "t", "worker_1", 2)
    write_steps(a, range(3))
    write_steps(b, range(2))
    a.close()
    b.flush()
    trial = create_trial(tmp_path / "t")
    states = {s.worker: s for s in trial.worker_states()}
    assert (states["worker_0"].ended, states["worker_1"].ended) == (True, False)
    assert states["worker_1"].step == 2 and states["worker_1"].time is not None
    assert not trial.training_has_ended() and trial.last_complete_step() == 1
    b.close()
