"""Several real processes logging into one SQLite file; artifacts into a real S3 API server."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from smdbg.tracker import Experiment, Tracker, TrialComponent

_WORKER = textwrap.dedent(
    """
    import sys
    from smdbg.tracker import Tracker, Trial
    url, k, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    # small batches and a short interval: many transactions racing for the write lock
    with Tracker.create(trial_component_name=f"worker-{k}", db_url=url, batch_size=97, flush_interval_s=0.05) as tr:
        Trial.load("shared", db_url=url).add_trial_component(tr)
        tr.log_parameter("worker", k)
        for i in range(n):
            tr.log_metric("loss", float(k * n + i), iteration_number=i)
            tr.log_metric("shared/acc", 0.5)
    """
)


def test_four_processes_into_one_sqlite_file_lose_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    exp = Experiment.create("concurrent", db_url=url)
    exp.create_trial("shared")
    n, procs = 3000, []
    for k in range(4):
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", _WORKER, url, str(k), str(n)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        )
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0, err.decode()
        assert b"database is locked" not in err
    comps = TrialComponent.list(trial_name="shared", db_url=url)
    assert sorted(c.trial_component_name for c in comps) == [f"worker-{k}" for k in range(4)]
    for c in comps:
        k = int(c.parameters["worker"])
        summary = {m.metric_name: m for m in c.metrics}
        assert summary["loss"].count == n and summary["shared/acc"].count == n
        points = c.metric_points("loss")["loss"]
        np.testing.assert_array_equal(np.sort(points.values), np.arange(k * n, (k + 1) * n, dtype=float))
        assert c.status.primary_status == "Completed"


def test_log_artifact_to_s3(s3_bucket: str, sqlite_url: str, tmp_path: Path) -> None:
    import boto3

    f = tmp_path / "weights.bin"
    f.write_bytes(b"\x00\x01weights")
    tr = Tracker.create(db_url=sqlite_url, artifact_bucket=s3_bucket, artifact_prefix="arts")
    uri = tr.log_artifact(f, name="weights")
    assert uri.startswith(f"s3://{s3_bucket}/arts/{tr.trial_component_name}/weights/")
    key = uri.removeprefix(f"s3://{s3_bucket}/")
    body = boto3.client("s3").get_object(Bucket=s3_bucket, Key=key)["Body"].read()
    assert body == b"\x00\x01weights"
    assert tr.trial_component.output_artifacts["weights"].value == uri
    with pytest.raises(Exception, match="does not exist"):
        tr.log_artifact(tmp_path / "missing.bin")
