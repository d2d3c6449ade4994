"""The SageMaker Python SDK v2's PyTorch estimator and ScriptProcessor, unchanged, against
``smdbg api serve``: the SDK uploads the code and data to S3 (moto), creates the job, waits with
its own polling, and finds the outputs where it expects them."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

from _sdk_services import BUCKET, ROLE, Services

TRAIN = """
import argparse, os
parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int)
args = parser.parse_args()
rows = open(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "data.csv")).read().splitlines()
with open(os.path.join(os.environ["SM_MODEL_DIR"], "summary.txt"), "w") as f:
    f.write(f"epochs={args.epochs} rows={len(rows)} host={os.environ['SM_CURRENT_HOST']}")
print("loss=0.25")
"""

PROCESS = """
import os
src = "/opt/ml/processing/input/data.csv"
rows = [line.split(",") for line in open(src).read().splitlines()]
os.makedirs("/opt/ml/processing/output", exist_ok=True)
with open("/opt/ml/processing/output/sums.csv", "w") as f:
    f.write("\\n".join(str(sum(int(v) for v in row)) for row in rows))
"""


def _s3_text(uri: str) -> bytes:
    import boto3

    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bytes(boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def test_pytorch_estimator_fit(services: Services, session: Any, tmp_path: Path) -> None:
    from sagemaker.pytorch import PyTorch

    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text(TRAIN)
    (tmp_path / "data.csv").write_text("1,2\n3,4\n5,6\n")
    train = session.upload_data(str(tmp_path / "data.csv"), bucket=BUCKET, key_prefix="data/train")
    estimator = PyTorch(
        entry_point="train.py",
        source_dir=str(src),
        framework_version="2.1",
        py_version="py310",
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.large",
        hyperparameters={"epochs": 3},
        metric_definitions=[{"Name": "loss", "Regex": "loss=([0-9.]+)"}],
        sagemaker_session=session,
    )
    estimator.fit({"train": train}, wait=True, logs=False)
    desc = estimator.latest_training_job.describe()
    assert desc["TrainingJobStatus"] == "Completed", services.log_tail()
    assert desc["ResourceConfig"]["InstanceType"] == "ml.m5.large"
    assert estimator.model_data.startswith("s3://")
    with tarfile.open(fileobj=io.BytesIO(_s3_text(estimator.model_data)), mode="r:gz") as tar:
        member = tar.extractfile("summary.txt")
        assert member is not None and member.read().decode() == "epochs=3 rows=3 host=algo-1"


def test_script_processor_run(services: Services, session: Any, tmp_path: Path) -> None:
    from sagemaker.processing import ProcessingInput, ProcessingOutput, ScriptProcessor

    (tmp_path / "process.py").write_text(PROCESS)
    (tmp_path / "data.csv").write_text("1,2\n3,4\n")
    data = session.upload_data(str(tmp_path / "data.csv"), bucket=BUCKET, key_prefix="data/proc")
    processor = ScriptProcessor(
        command=["python3"],
        image_uri="683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.large",
        sagemaker_session=session,
    )
    processor.run(
        code=str(tmp_path / "process.py"),
        inputs=[ProcessingInput(source=data, destination="/opt/ml/processing/input")],
        outputs=[ProcessingOutput(source="/opt/ml/processing/output", destination=f"s3://{BUCKET}/out/sums")],
        wait=True,
        logs=False,
    )
    desc = processor.latest_job.describe()
    assert desc["ProcessingJobStatus"] == "Completed", services.log_tail()
    assert _s3_text(f"s3://{BUCKET}/out/sums/sums.csv").decode() == "3\n7"
