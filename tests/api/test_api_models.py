"""Models and endpoint configs through the real boto3 client: happy paths and AWS-shaped errors."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_model_create_describe_list_delete(sm: Any, model_dir: Path) -> None:
    name = _name("m")
    arn = sm.create_model(ModelName=name, ExecutionRoleArn="arn:aws:iam::1:role/x",
                          PrimaryContainer={"Image": "sklearn", "ModelDataUrl": str(model_dir)})["ModelArn"]  # fmt: skip
    assert arn.endswith(f"model/{name}")
    desc = sm.describe_model(ModelName=name)
    assert desc["PrimaryContainer"]["ModelDataUrl"] == str(model_dir)
    assert isinstance(desc["CreationTime"], dt.datetime)  # parsed by botocore from epoch seconds
    assert name in [m["ModelName"] for m in sm.list_models(NameContains=name[2:])["Models"]]
    with pytest.raises(ClientError) as e:
        sm.create_model(ModelName=name, PrimaryContainer={"ModelDataUrl": str(model_dir)})
    assert e.value.response["Error"]["Code"] == "ValidationException" and name in str(e.value)
    sm.delete_model(ModelName=name)
    with pytest.raises(ClientError) as e:
        sm.describe_model(ModelName=name)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_model_without_artifact_is_refused(sm: Any) -> None:
    with pytest.raises(ClientError, match="ModelDataUrl"):
        sm.create_model(ModelName=_name("m"), PrimaryContainer={"Image": "x"})


def test_list_models_pages(sm: Any, model_dir: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    for i in range(3):
        sm.create_model(ModelName=f"pg-{tag}-{i}", PrimaryContainer={"ModelDataUrl": str(model_dir)})
    pages = sm.get_paginator("list_models").paginate(NameContains=tag, PaginationConfig={"PageSize": 2})
    names = [m["ModelName"] for p in pages for m in p["Models"]]
    assert names == [f"pg-{tag}-{i}" for i in (2, 1, 0)]  # newest first by default
    asc = sm.list_models(NameContains=tag, SortBy="Name", SortOrder="Ascending")["Models"]
    assert [m["ModelName"] for m in asc] == [f"pg-{tag}-{i}" for i in range(3)]


def test_server_side_validation_names_the_field(api_server: Any) -> None:
    """With the client's own validation off, the server's (botocore's model) answers."""
    raw = api_server.client(config=Config(parameter_validation=False, retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as e:
        raw.create_model(ModelName=5, PrimaryContainer={"ModelDataUrl": "/x"})
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "ModelName" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        raw.create_endpoint_config(EndpointConfigName="c")
    assert "ProductionVariants" in e.value.response["Error"]["Message"]


def test_unknown_operation(api_server: Any) -> None:
    import urllib.request

    req = urllib.request.Request(api_server.url + "/", data=b"{}", method="POST",
                                 headers={"X-Amz-Target": "SageMaker.MakeCoffee",
                                          "Content-Type": "application/x-amz-json-1.1"})  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    body = e.value.read().decode()
    assert e.value.code == 400 and "UnknownOperationException" in body and "MakeCoffee" in body


def test_endpoint_config_with_capture(sm: Any, model_dir: Path, tmp_path: Path) -> None:
    model = _name("m")
    sm.create_model(ModelName=model, PrimaryContainer={"ModelDataUrl": str(model_dir)})
    name = _name("cfg")
    capture = {"EnableCapture": True, "InitialSamplingPercentage": 50, "DestinationS3Uri": str(tmp_path),
               "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]}  # fmt: skip
    sm.create_endpoint_config(EndpointConfigName=name, DataCaptureConfig=capture,
                              ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": model,
                                                   "InstanceType": "ml.m5.xlarge", "InitialInstanceCount": 1}])  # fmt: skip
    desc = sm.describe_endpoint_config(EndpointConfigName=name)
    assert desc["DataCaptureConfig"]["InitialSamplingPercentage"] == 50
    assert name in [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]]
    with pytest.raises(ClientError, match="does not exist"):
        sm.create_endpoint_config(EndpointConfigName=_name("cfg"),
                                  ProductionVariants=[{"VariantName": "v", "ModelName": "nope"}])  # fmt: skip
    bad = {**capture, "CaptureOptions": [{"CaptureMode": "Sideways"}]}
    with pytest.raises(ClientError) as e:
        sm.create_endpoint_config(EndpointConfigName=_name("cfg"), DataCaptureConfig=bad,
                                  ProductionVariants=[{"VariantName": "v", "ModelName": model}])  # fmt: skip
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "DataCaptureConfig" in str(e.value) and "Sideways" in str(e.value)
    sm.delete_endpoint_config(EndpointConfigName=name)
    with pytest.raises(ClientError):
        sm.describe_endpoint_config(EndpointConfigName=name)
