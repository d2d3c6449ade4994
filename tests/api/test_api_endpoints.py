"""Endpoints through boto3: create -> InService (waiter), invoke through sagemaker-runtime with
data capture, update, delete (waiter), and the errors."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

FAST = {"Delay": 1, "MaxAttempts": 120}


def _config(sm: Any, model_dir: Path, capture_dir: Path | None = None) -> str:
    model, config = f"m-{uuid.uuid4().hex[:8]}", f"c-{uuid.uuid4().hex[:8]}"
    sm.create_model(ModelName=model, PrimaryContainer={"ModelDataUrl": str(model_dir)})
    extra = {}
    if capture_dir is not None:
        extra["DataCaptureConfig"] = {"EnableCapture": True, "InitialSamplingPercentage": 100,
                                      "DestinationS3Uri": str(capture_dir),
                                      "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                                      "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]}}  # fmt: skip
    sm.create_endpoint_config(EndpointConfigName=config, **extra,
                              ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": model,
                                                   "InstanceType": "ml.m5.xlarge", "InitialInstanceCount": 1}])  # fmt: skip
    return config


def test_endpoint_lifecycle(sm: Any, sm_runtime: Any, model_dir: Path, tmp_path: Path) -> None:
    name = f"ep-{uuid.uuid4().hex[:8]}"
    config = _config(sm, model_dir, tmp_path / "capture")
    sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    assert sm.describe_endpoint(EndpointName=name)["EndpointStatus"] in ("Creating", "InService")
    with pytest.raises(ClientError) as e:
        sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST)
    desc = sm.describe_endpoint(EndpointName=name)
    assert desc["EndpointStatus"] == "InService" and desc["DataCaptureConfig"]["EnableCapture"]
    assert name in [e["EndpointName"] for e in sm.list_endpoints(StatusEquals="InService")["Endpoints"]]

    resp = sm_runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Accept="application/json",
                                      Body=b"1,2\n3,4\n")  # fmt: skip
    out = json.loads(resp["Body"].read())
    assert out["predictions"] == pytest.approx([3.0, 7.0])
    with pytest.raises(ClientError) as e:  # the model's 400 reaches the caller as ModelError
        sm_runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=b"1,2,3\n")
    assert e.value.response["Error"]["Code"] == "ModelError" and "features" in str(e.value)

    # update to a config without capture: Updating -> InService, same name
    config2 = _config(sm, model_dir)
    sm.update_endpoint(EndpointName=name, EndpointConfigName=config2)
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST)
    assert sm.describe_endpoint(EndpointName=name)["EndpointConfigName"] == config2
    # as on AWS, the config an endpoint uses may be deleted; the endpoint keeps serving
    sm.delete_endpoint_config(EndpointConfigName=config2)
    assert sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"
    resp = sm_runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Accept="application/json",
                                      Body=b"1,2\n")  # fmt: skip
    assert json.loads(resp["Body"].read())["predictions"] == pytest.approx([3.0])

    sm.delete_endpoint(EndpointName=name)
    sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig=FAST)
    captured = list((tmp_path / "capture").rglob("*.jsonl"))
    assert captured, "the first config's data capture wrote nothing"
    record = json.loads(captured[0].read_text().splitlines()[0])
    assert record["captureData"]["endpointInput"]["data"] == "1,2\n3,4\n"
    with pytest.raises(ClientError) as e:
        sm_runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=b"1,2\n")
    assert e.value.response["Error"]["Code"] == "ValidationError"


def test_endpoint_errors(sm: Any, model_dir: Path) -> None:
    with pytest.raises(ClientError, match="endpoint config 'nope' does not exist"):
        sm.create_endpoint(EndpointName="x1", EndpointConfigName="nope")
    with pytest.raises(ClientError, match="EndpointName"):
        sm.create_endpoint(EndpointName="bad_name!", EndpointConfigName=_config(sm, model_dir))
    with pytest.raises(ClientError) as e:
        sm.describe_endpoint(EndpointName="never-made")
    assert e.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError):
        sm.delete_endpoint(EndpointName="never-made")


def test_endpoint_with_broken_model_fails(sm: Any, tmp_path: Path) -> None:
    (tmp_path / "model.joblib").write_bytes(b"not a pickle")
    model, config, name = (f"{p}-{uuid.uuid4().hex[:8]}" for p in ("m", "c", "ep"))
    sm.create_model(ModelName=model, PrimaryContainer={"ModelDataUrl": str(tmp_path)})
    sm.create_endpoint_config(
        EndpointConfigName=config, ProductionVariants=[{"VariantName": "v", "ModelName": model}]
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    from botocore.exceptions import WaiterError

    with pytest.raises(WaiterError):
        sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST)
    desc = sm.describe_endpoint(EndpointName=name)
    assert desc["EndpointStatus"] == "Failed" and desc["FailureReason"]
    sm.delete_endpoint(EndpointName=name)
    sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig=FAST)
