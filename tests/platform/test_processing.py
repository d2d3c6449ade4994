"""Processing jobs on the local backend: the /opt/ml/processing contract, sharding, S3, faults."""
# ruff: noqa: F811  (pytest fixtures imported from _jobs_fixtures are used as parameters)

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _jobs_fixtures import jobs_home, write_script  # noqa: F401
from _processing_scripts import SHARD_SCRIPT, SPLIT_SCRIPT, make_csv

from smdbg.platform.jobs import (
    JobFailedError,
    ProcessingInput,
    ProcessingOutput,
    ScriptProcessor,
    SKLearnProcessor,
    describe_job,
    list_jobs,
)


def _split_outputs(out: Path) -> list[ProcessingOutput]:
    return [
        ProcessingOutput(f"/opt/ml/processing/output/{n}", str(out / n), output_name=n)
        for n in ("train", "validation", "test")
    ]


def test_sklearn_split_csv(jobs_home: Path, tmp_path: Path) -> None:
    code = write_script(tmp_path, "preprocess.py", SPLIT_SCRIPT)
    make_csv(tmp_path / "in" / "data.csv", 100)
    proc = SKLearnProcessor(
        framework_version="1.2-1", role="local", instance_count=1, instance_type="ml.m5.xlarge"
    )
    exp = {"ExperimentName": "prep", "TrialName": "prep-1"}
    proc.run(
        code=str(code),
        inputs=[ProcessingInput(str(tmp_path / "in"), "/opt/ml/processing/input/data", input_name="data")],
        outputs=_split_outputs(tmp_path / "out"),
        arguments=["--test-size", "0.1"],
        job_name="split-1",
        experiment_config=exp,
        logs=False,
    )
    desc = describe_job("split-1")
    assert desc["ProcessingJobStatus"] == "Completed", desc.get("FailureReason")
    sizes = {
        n: len((tmp_path / "out" / n / f"{n}.csv").read_text().splitlines()) - 1
        for n in ("train", "validation", "test")
    }
    assert sizes == {"train": 80, "validation": 10, "test": 10}
    assert desc["ProcessingResources"]["ClusterConfig"]["InstanceType"] == "ml.m5.xlarge"
    assert [i["InputName"] for i in desc["ProcessingInputs"]] == ["data", "code"]
    assert desc["AppSpecification"]["ContainerArguments"][-2:] == ["--test-size", "0.1"]
    assert "job split-1 host algo-1 rows 100" in proc.latest_job.logs()["algo-1"]  # type: ignore[union-attr]
    from smdbg.tracker import TrialComponent

    tc = TrialComponent.load("split-1-processing-job")
    assert tc.status.primary_status == "Completed"
    assert tc.output_artifacts["train"].value == str(tmp_path / "out" / "train")
    assert not Path("/opt/ml/processing/input/data").exists()  # the mounts stayed private to the job


def test_sharded_by_s3_key_across_two_instances(jobs_home: Path, tmp_path: Path) -> None:
    code = write_script(tmp_path, "shard.py", SHARD_SCRIPT)
    for i in range(5):
        make_csv(tmp_path / "parts" / f"part-{i}.csv", 3)
    ScriptProcessor(command=["python3"], instance_count=2).run(
        code=str(code),
        inputs=[
            ProcessingInput(
                str(tmp_path / "parts"), "/opt/ml/processing/input/parts", "parts", "ShardedByS3Key"
            )
        ],
        outputs=[ProcessingOutput("/opt/ml/processing/output/seen", str(tmp_path / "seen"), "seen")],
        job_name="shard-1",
        logs=False,
    )
    seen = {p.stem: p.read_text().split() for p in (tmp_path / "seen").iterdir()}
    assert seen == {
        "algo-1": ["part-0.csv", "part-2.csv", "part-4.csv"],
        "algo-2": ["part-1.csv", "part-3.csv"],
    }


def test_s3_input_and_output(jobs_home: Path, tmp_path: Path, s3_bucket: str) -> None:
    import boto3

    s3 = boto3.client("s3")
    make_csv(tmp_path / "data.csv", 50)
    s3.upload_file(str(tmp_path / "data.csv"), s3_bucket, "raw/data.csv")
    code = write_script(tmp_path, "preprocess.py", SPLIT_SCRIPT)
    SKLearnProcessor("1.2-1", "role").run(
        code=str(code),
        inputs=[ProcessingInput(f"s3://{s3_bucket}/raw", "/opt/ml/processing/input/data")],
        outputs=[ProcessingOutput("/opt/ml/processing/output/train", f"s3://{s3_bucket}/split/train")],
        job_name="s3-1",
        logs=False,
    )
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket, Prefix="split/")["Contents"]]
    assert keys == ["split/train/train.csv"]


def test_output_never_written_fails_and_keeps_the_others(jobs_home: Path, tmp_path: Path) -> None:
    code = write_script(
        tmp_path,
        "partial.py",
        """
        import os
        open("/opt/ml/processing/output/good/x.txt", "w").write("kept")
        """,
    )
    with pytest.raises(
        JobFailedError,
        match="output 'missing': the script wrote nothing to /opt/ml/processing/output/missing",
    ):
        ScriptProcessor(command=["python3"]).run(
            code=str(code),
            outputs=[
                ProcessingOutput("/opt/ml/processing/output/good", str(tmp_path / "good"), "good"),
                ProcessingOutput("/opt/ml/processing/output/missing", str(tmp_path / "missing"), "missing"),
            ],
            job_name="partial-1",
            logs=False,
        )
    assert (tmp_path / "good" / "x.txt").read_text() == "kept"
    assert describe_job("partial-1")["ProcessingJobStatus"] == "Failed"


def test_bad_processing_input(jobs_home: Path, tmp_path: Path) -> None:
    code = write_script(tmp_path, "p.py", "print(1)\n")
    proc = ScriptProcessor(command=["python3"])
    with pytest.raises(FileNotFoundError, match=r"input 'data': '.*nowhere' does not exist"):
        proc.run(
            code=str(code),
            inputs=[ProcessingInput(str(tmp_path / "nowhere"), input_name="data")],
            job_name="bad-1",
        )
    with pytest.raises(ValueError, match="expected a path under /opt/ml/processing/"):
        proc.run(code=str(code), inputs=[ProcessingInput(str(code), "/etc/data")], job_name="bad-2")
    with pytest.raises(ValueError, match="expected a path under /opt/ml/processing/"):
        proc.run(code=str(code), outputs=[ProcessingOutput("/tmp/out")], job_name="bad-3")
    with pytest.raises(FileNotFoundError, match="code '.*missing.py' does not exist"):
        proc.run(code=str(tmp_path / "missing.py"), job_name="bad-4")
    with pytest.raises(ValueError, match="ShardedByKey"):
        ProcessingInput("x", s3_data_distribution_type="ShardedByKey")
    assert list_jobs() == []


def test_processing_config_files(jobs_home: Path, tmp_path: Path) -> None:
    code = write_script(
        tmp_path,
        "cfg.py",
        """
        import json, shutil
        shutil.copytree("/opt/ml/config", "/opt/ml/processing/output/cfg", dirs_exist_ok=True)
        """,
    )
    ScriptProcessor(command=["python3"], env={"MODE": "x"}).run(
        code=str(code),
        outputs=[ProcessingOutput("/opt/ml/processing/output/cfg", str(tmp_path / "cfg"))],
        job_name="cfg-1",
        logs=False,
    )
    job_config = json.loads((tmp_path / "cfg" / "processingjobconfig.json").read_text())
    assert job_config["ProcessingJobName"] == "cfg-1" and job_config["Environment"] == {"MODE": "x"}
    assert (
        job_config["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["LocalPath"]
        == "/opt/ml/processing/output/cfg"
    )
    assert json.loads((tmp_path / "cfg" / "resourceconfig.json").read_text())["hosts"] == ["algo-1"]
