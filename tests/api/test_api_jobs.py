"""Training and processing jobs through boto3, with code and data on the moto S3 server, as the
SageMaker SDK sends them (sagemaker_program / sagemaker_submit_directory), and the waiters."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

FAST = {"Delay": 1, "MaxAttempts": 180}
TRAIN = """\
import argparse, os, time
p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int)
p.add_argument("--sleep", type=float, default=0)
a = p.parse_args()
rows = open(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "data.csv")).read().splitlines()
for e in range(a.epochs):
    print(f"loss={1.0 / (e + 1)}", flush=True)
    time.sleep(a.sleep)
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w") as f:
    f.write(f"rows={len(rows)}")
"""


def _tar(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _training_request(bucket: str, name: str, epochs: int, sleep: float = 0) -> dict[str, Any]:
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1-cpu",
                                   "TrainingInputMode": "File",
                                   "MetricDefinitions": [{"Name": "loss", "Regex": "loss=([0-9.]+)"}]},
        "HyperParameters": {"epochs": str(epochs), "sleep": json.dumps(sleep), "sagemaker_program": '"train.py"',
                            "sagemaker_submit_directory": json.dumps(f"s3://{bucket}/code/sourcedir.tar.gz")},
        "RoleArn": "arn:aws:iam::000000000000:role/SageMakerRole",
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/data/", "S3DataDistributionType": "FullyReplicated"}}}],
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/output"},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }  # fmt: skip


@pytest.fixture
def bucket(s3_bucket: str, s3_server: str) -> str:
    s3 = boto3.client("s3", endpoint_url=s3_server)
    s3.put_object(Bucket=s3_bucket, Key="code/sourcedir.tar.gz", Body=_tar({"train.py": TRAIN}))
    s3.put_object(Bucket=s3_bucket, Key="data/data.csv", Body=b"1,2\n3,4\n5,6\n")
    return s3_bucket


def test_training_job_to_model_artifacts(sm: Any, bucket: str, s3_server: str) -> None:
    name = f"train-{uuid.uuid4().hex[:8]}"
    sm.create_training_job(**_training_request(bucket, name, epochs=3))
    with pytest.raises(ClientError) as e:
        sm.create_training_job(**_training_request(bucket, name, epochs=3))
    assert e.value.response["Error"]["Code"] == "ResourceInUse"
    sm.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=name, WaiterConfig=FAST)
    desc = sm.describe_training_job(TrainingJobName=name)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    assert desc["FinalMetricDataList"][0]["MetricName"] == "loss"
    assert desc["FinalMetricDataList"][0]["Value"] == pytest.approx(1 / 3)
    url = desc["ModelArtifacts"]["S3ModelArtifacts"]
    assert url == f"s3://{bucket}/output/{name}/output/model.tar.gz"
    body = (
        boto3.client("s3", endpoint_url=s3_server)
        .get_object(Bucket=bucket, Key=url.split("/", 3)[3])["Body"]
        .read()
    )
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        assert tar.extractfile("model.txt").read() == b"rows=3"  # type: ignore[union-attr]
    summaries = sm.list_training_jobs(NameContains=name, StatusEquals="Completed")["TrainingJobSummaries"]
    assert [s["TrainingJobName"] for s in summaries] == [name]


def test_stop_training_job(sm: Any, bucket: str) -> None:
    name = f"stop-{uuid.uuid4().hex[:8]}"
    sm.create_training_job(**_training_request(bucket, name, epochs=200, sleep=0.5))
    sm.stop_training_job(TrainingJobName=name)
    sm.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=name, WaiterConfig=FAST)
    assert sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "Stopped"


def test_training_job_errors(sm: Any, bucket: str) -> None:
    req = _training_request(bucket, f"bad-{uuid.uuid4().hex[:8]}", 1)
    req["HyperParameters"] = {"epochs": "1"}
    with pytest.raises(ClientError, match="sagemaker_program"):
        sm.create_training_job(**req)
    req = _training_request(bucket, f"bad-{uuid.uuid4().hex[:8]}", 1)
    req["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = f"s3://{bucket}/nothing-here/"
    with pytest.raises(ClientError, match="nothing-here"):
        sm.create_training_job(**req)
    with pytest.raises(ClientError) as e:
        sm.describe_training_job(TrainingJobName="never-ran")
    assert e.value.response["Error"]["Code"] == "ResourceNotFound"
    with pytest.raises(ClientError):
        sm.stop_training_job(TrainingJobName="never-ran")


PREPROCESS = """\
import os
src = "/opt/ml/processing/input/raw/data.csv"
rows = open(src).read().splitlines()
os.makedirs("/opt/ml/processing/output/train", exist_ok=True)
open("/opt/ml/processing/output/train/train.csv", "w").write("\\n".join(rows[:2]) + "\\n")
"""


def test_processing_job(sm: Any, bucket: str, s3_server: str) -> None:
    s3 = boto3.client("s3", endpoint_url=s3_server)
    s3.put_object(Bucket=bucket, Key="code/preprocess.py", Body=PREPROCESS.encode())
    name = f"proc-{uuid.uuid4().hex[:8]}"
    sm.create_processing_job(
        ProcessingJobName=name, RoleArn="arn:aws:iam::000000000000:role/r",
        AppSpecification={"ImageUri": "sklearn:1.2-1", "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/preprocess.py"]},
        ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 5}},
        ProcessingInputs=[
            {"InputName": "raw", "S3Input": {"S3Uri": f"s3://{bucket}/data/", "LocalPath": "/opt/ml/processing/input/raw",
                                             "S3DataType": "S3Prefix", "S3InputMode": "File"}},
            {"InputName": "code", "S3Input": {"S3Uri": f"s3://{bucket}/code/preprocess.py", "LocalPath": "/opt/ml/processing/input/code",
                                              "S3DataType": "S3Prefix", "S3InputMode": "File"}}],
        ProcessingOutputConfig={"Outputs": [{"OutputName": "train", "S3Output": {
            "S3Uri": f"s3://{bucket}/processed/train", "LocalPath": "/opt/ml/processing/output/train", "S3UploadMode": "EndOfJob"}}]},
    )  # fmt: skip
    sm.get_waiter("processing_job_completed_or_stopped").wait(ProcessingJobName=name, WaiterConfig=FAST)
    desc = sm.describe_processing_job(ProcessingJobName=name)
    assert desc["ProcessingJobStatus"] == "Completed", desc.get("FailureReason")
    out = s3.get_object(Bucket=bucket, Key="processed/train/train.csv")["Body"].read()
    assert out == b"1,2\n3,4\n"
    assert name in [j["ProcessingJobName"] for j in sm.list_processing_jobs()["ProcessingJobSummaries"]]
    with pytest.raises(ClientError, match="ContainerEntrypoint"):
        sm.create_processing_job(ProcessingJobName=f"p-{uuid.uuid4().hex[:6]}", RoleArn="arn:aws:iam::000000000000:role/r",
                                 AppSpecification={"ImageUri": "x"},
                                 ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                                        "VolumeSizeInGB": 5}})  # fmt: skip
