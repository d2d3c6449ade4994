"""Jobs on the Docker backend: a real dockerd (scripts/setup_docker.sh) and a locally built image."""
# ruff: noqa: F811  (pytest fixtures imported from _jobs_fixtures are used as parameters)

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _jobs_fixtures import docker_engine, jobs_home, wait_for_log, write_script  # noqa: F401
from _processing_scripts import SPLIT_SCRIPT, make_csv

from smdbg.platform.jobs import (
    DockerUnavailableError,
    Estimator,
    JobError,
    ProcessingInput,
    ProcessingOutput,
    SKLearnProcessor,
    describe_job,
    stop_job,
)

LIMITS_SCRIPT = """
import json, os
def first(*paths):
    for p in paths:
        if os.path.exists(p):
            return open(p).read().strip()
report = {
    "mem": first("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory.max"),
    "quota": first("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu.max"),
    "model_dir": os.environ["SM_MODEL_DIR"],
    "files": sorted(os.listdir("/opt/ml/input/data/train")),
    "in_container": os.path.exists("/.dockerenv"),
}
json.dump(report, open("/opt/ml/model/report.json", "w"))
print("loss=0.25", flush=True)
"""


def test_processing_script_runs_unchanged_in_docker(
    jobs_home: Path, tmp_path: Path, docker_engine: str
) -> None:
    code = write_script(tmp_path, "preprocess.py", SPLIT_SCRIPT)
    make_csv(tmp_path / "in" / "data.csv", 100)
    SKLearnProcessor("1.2-1", "role", backend="docker").run(
        code=str(code),
        inputs=[ProcessingInput(str(tmp_path / "in"), "/opt/ml/processing/input/data")],
        outputs=[
            ProcessingOutput(f"/opt/ml/processing/output/{n}", str(tmp_path / "out" / n), n)
            for n in ("train", "validation", "test")
        ],
        job_name="docker-split",
        logs=False,
    )
    desc = describe_job("docker-split")
    assert desc["ProcessingJobStatus"] == "Completed", desc.get("FailureReason")
    assert desc["AppSpecification"]["ImageUri"] == docker_engine
    rows = {
        n: len((tmp_path / "out" / n / f"{n}.csv").read_text().splitlines()) - 1
        for n in ("train", "validation", "test")
    }
    assert rows == {"train": 60, "validation": 20, "test": 20}


def test_training_in_docker_with_instance_limits(jobs_home: Path, tmp_path: Path, docker_engine: str) -> None:
    script = write_script(tmp_path, "train.py", LIMITS_SCRIPT)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("x")
    est = Estimator(
        str(script),
        image_uri=docker_engine,
        instance_type="ml.m5.large",
        metric_definitions=[{"Name": "loss", "Regex": r"loss=([0-9.]+)"}],
    )
    est.fit({"train": str(tmp_path / "data")}, job_name="docker-train", logs=False)
    desc = est.describe()
    assert desc["TrainingJobStatus"] == "Completed"
    assert desc["FinalMetricDataList"][0]["Value"] == 0.25
    report = json.loads((Path(est.model_data) / "report.json").read_text())
    assert report["in_container"] and report["files"] == ["a.txt"]
    assert report["mem"] == str(8 * 1024**3)  # ml.m5.large: 8 GiB
    assert report["quota"] in ("200000", "200000 100000")  # 2 vCPUs of nano_cpus


def test_docker_failure_and_stop(jobs_home: Path, tmp_path: Path, docker_engine: str) -> None:
    bad = write_script(tmp_path, "bad.py", "print('about to fail', flush=True)\nraise SystemExit(4)\n")
    with pytest.raises(JobError, match="exited with status 4"):
        Estimator(str(bad), image_uri=docker_engine).fit(job_name="docker-bad", logs=False)
    assert "about to fail" in describe_job("docker-bad")["FailureReason"]
    slow = write_script(
        tmp_path,
        "slow.py",
        "import time\nfor i in range(600):\n    print(i, flush=True)\n    time.sleep(0.1)\n",
    )
    est = Estimator(str(slow), image_uri=docker_engine, stop_grace_s=2)
    est.fit(job_name="docker-stop", wait=False)
    wait_for_log(est.latest_training_job.job_dir, "3\n")  # type: ignore[union-attr]
    assert stop_job("docker-stop")["TrainingJobStatus"] == "Stopped"
    import docker

    assert docker.from_env().containers.list(all=True, filters={"label": "smdbg.job=docker-stop"}) == []


def test_unreachable_engine_and_missing_image(
    jobs_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, docker_engine: str
) -> None:
    script = write_script(tmp_path, "t.py", "print(1)\n")
    with pytest.raises(JobError, match="image_uri 'no-such-image:1' is not in the local Docker engine"):
        Estimator(str(script), image_uri="no-such-image:1").fit(job_name="no-image")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    with pytest.raises(DockerUnavailableError) as info:
        Estimator(str(script), image_uri=docker_engine).fit(job_name="no-engine")
    msg = str(info.value)
    assert "nothing.sock" in msg and "setup_docker.sh" in msg and "backend='local'" in msg
    assert not (jobs_home / "jobs" / "no-engine").exists()
