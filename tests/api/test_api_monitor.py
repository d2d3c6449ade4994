"""Monitoring schedules through boto3: create on a capturing endpoint, stop, start, delete; errors."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError


@pytest.fixture(scope="module")
def capturing_endpoint(api_server: Any, model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    sm = api_server.client()
    folder = model_dir
    capture = tmp_path_factory.mktemp("mon-capture")
    tag = uuid.uuid4().hex[:8]
    sm.create_model(ModelName=f"mm-{tag}", PrimaryContainer={"ModelDataUrl": str(folder)})
    sm.create_endpoint_config(EndpointConfigName=f"mc-{tag}", ProductionVariants=[{"VariantName": "v", "ModelName": f"mm-{tag}"}],
                              DataCaptureConfig={"EnableCapture": True, "InitialSamplingPercentage": 100,
                                                 "DestinationS3Uri": str(capture),
                                                 "CaptureOptions": [{"CaptureMode": "Input"}]})  # fmt: skip
    sm.create_endpoint(EndpointName=f"me-{tag}", EndpointConfigName=f"mc-{tag}")
    sm.get_waiter("endpoint_in_service").wait(
        EndpointName=f"me-{tag}", WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    return f"me-{tag}"


def _config(endpoint: str, out: Path, constraints: str | None) -> dict[str, Any]:
    baseline = {"ConstraintsResource": {"S3Uri": constraints}} if constraints else {}
    return {
        "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"},
        "MonitoringJobDefinition": {
            "BaselineConfig": baseline,
            "MonitoringInputs": [{"EndpointInput": {"EndpointName": endpoint, "LocalPath": "/opt/ml/processing/input"}}],
            "MonitoringOutputConfig": {"MonitoringOutputs": [{"S3Output": {"S3Uri": str(out), "LocalPath": "/opt/ml/processing/output"}}]},
            "MonitoringResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 5}},
            "MonitoringAppSpecification": {"ImageUri": "model-monitor"},
            "RoleArn": "arn:aws:iam::000000000000:role/r",
        },
    }  # fmt: skip


def test_schedule_lifecycle(sm: Any, capturing_endpoint: str, tmp_path: Path) -> None:
    from smdbg.platform.monitor import DatasetFormat, DefaultModelMonitor

    (tmp_path / "base.csv").write_text("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(20)))
    DefaultModelMonitor().suggest_baseline(str(tmp_path / "base.csv"), dataset_format=DatasetFormat.csv(header=True),
                                           output_s3_uri=str(tmp_path / "baseline"))  # fmt: skip
    constraints = str(tmp_path / "baseline" / "constraints.json")
    name = f"sched-{uuid.uuid4().hex[:8]}"
    sm.create_monitoring_schedule(MonitoringScheduleName=name,
                                  MonitoringScheduleConfig=_config(capturing_endpoint, tmp_path / "reports", constraints))  # fmt: skip
    with pytest.raises(ClientError) as e:
        sm.create_monitoring_schedule(MonitoringScheduleName=name,
                                      MonitoringScheduleConfig=_config(capturing_endpoint, tmp_path / "reports", constraints))  # fmt: skip
    assert e.value.response["Error"]["Code"] == "ResourceInUse"
    desc = sm.describe_monitoring_schedule(MonitoringScheduleName=name)
    assert desc["MonitoringScheduleStatus"] == "Scheduled" and desc["EndpointName"] == capturing_endpoint
    listed = sm.list_monitoring_schedules(EndpointName=capturing_endpoint)["MonitoringScheduleSummaries"]
    assert [s["MonitoringScheduleName"] for s in listed] == [name]
    sm.stop_monitoring_schedule(MonitoringScheduleName=name)
    assert (
        sm.describe_monitoring_schedule(MonitoringScheduleName=name)["MonitoringScheduleStatus"] == "Stopped"
    )
    sm.start_monitoring_schedule(MonitoringScheduleName=name)
    assert (
        sm.describe_monitoring_schedule(MonitoringScheduleName=name)["MonitoringScheduleStatus"]
        == "Scheduled"
    )
    sm.delete_monitoring_schedule(MonitoringScheduleName=name)
    with pytest.raises(ClientError) as e:
        sm.describe_monitoring_schedule(MonitoringScheduleName=name)
    assert e.value.response["Error"]["Code"] == "ResourceNotFound"


def test_schedule_errors(sm: Any, capturing_endpoint: str, tmp_path: Path) -> None:
    with pytest.raises(ClientError, match="ConstraintsResource"):
        sm.create_monitoring_schedule(MonitoringScheduleName=f"s-{uuid.uuid4().hex[:6]}",
                                      MonitoringScheduleConfig=_config(capturing_endpoint, tmp_path, None))  # fmt: skip
    with pytest.raises(ClientError, match="no-such-endpoint"):
        sm.create_monitoring_schedule(MonitoringScheduleName=f"s-{uuid.uuid4().hex[:6]}",
                                      MonitoringScheduleConfig=_config("no-such-endpoint", tmp_path, "/x/constraints.json"))  # fmt: skip
    with pytest.raises(ClientError, match="cannot be read"):
        sm.create_monitoring_schedule(MonitoringScheduleName=f"s-{uuid.uuid4().hex[:6]}",
                                      MonitoringScheduleConfig=_config(capturing_endpoint, tmp_path, str(tmp_path / "none.json")))  # fmt: skip
    for call in (sm.stop_monitoring_schedule, sm.start_monitoring_schedule, sm.delete_monitoring_schedule):
        with pytest.raises(ClientError) as e:
            call(MonitoringScheduleName="never-made")
        assert e.value.response["Error"]["Code"] in ("ResourceNotFound", "ValidationException")
