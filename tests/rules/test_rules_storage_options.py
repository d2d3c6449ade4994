"""A rule job on an S3 trial opened with storage options writes its status, findings and stop
request with those options (it used to reopen the trial's path without them)."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from smdbg.rules import RuleJob, RuleStatus, builtin_rule, read_findings
from smdbg.store import BackgroundWriter, Record
from smdbg.trial import create_trial, read_rule_statuses, read_stop_request


def test_rule_job_keeps_the_trials_storage_options(
    s3_server: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only the storage options know the server: the environment points at a closed loopback port.
    with socket.socket() as s:  # a port nothing listens on once this closes
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", dead)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", dead)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    opts = {"client_kwargs": {"endpoint_url": s3_server}}
    url = f"s3://{s3_bucket}/runs/opts"
    with BackgroundWriter(url, "worker_0", flush_secs=60, storage_options=opts) as w:
        w.write_trial_metadata({"framework": "test", "num_workers": 1})
        for step in range(5):
            loss = np.float32("nan" if step == 3 else 1.0 / (step + 1))
            w.add(
                step,
                "TRAIN",
                step,
                [Record("loss", ("losses",), "raw", float(loss), "float32", (), loss.tobytes())],
            )
            w.set_progress(step + 1, "TRAIN", step + 1)
    trial = create_trial(url, storage_options=opts, timeout=5)
    result = RuleJob(builtin_rule("exploding_tensor", trial), actions=["stop_training"]).run()
    assert (result.status, result.findings_count) == (RuleStatus.ISSUES_FOUND, 1), result.reason
    assert trial.rule_statuses()["exploding_tensor"]["status"] == "IssuesFound"
    assert [f.step for f in read_findings(trial, "exploding_tensor")] == [3]
    assert trial.stop_requested()["rule"] == "exploding_tensor"  # type: ignore[index]
    # Read back by URL, with the same options, as a job runner would.
    assert read_rule_statuses(url, storage_options=opts)["exploding_tensor"]["findings_count"] == 1
    assert read_stop_request(url, storage_options=opts) is not None
