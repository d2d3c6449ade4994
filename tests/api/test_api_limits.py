"""Instance types and service quotas through boto3: an endpoint variant's ``InstanceType`` limits
its server as ``Model.deploy(instance_type=...)`` does; an unknown type is a
``ValidationException`` worded as the SDK path's error; requests beyond the server's quotas answer
``ResourceLimitExceeded`` (HTTP 400)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _api_server import ApiServer, start_api_server, stop_api_server
from botocore.exceptions import ClientError

from smdbg._proc import pid_alive

FAST = {"Delay": 1, "MaxAttempts": 120}


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _code(e: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def _variant(model: str, instance_type: str, count: int = 1) -> list[dict[str, Any]]:
    return [{"VariantName": "AllTraffic", "ModelName": model, "InstanceType": instance_type,
             "InitialInstanceCount": count}]  # fmt: skip


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A server of its own with small quotas: 4 vCPUs per request, 1 endpoint."""
    server = start_api_server(tmp_path_factory.mktemp("api-limits"), ("--max-vcpus", "4", "--max-endpoints", "1"))
    try:
        yield server
    finally:
        stop_api_server(server)


def test_unknown_instance_type_is_refused_as_the_sdk_path_does(sm: Any, model_dir: Path) -> None:
    from smdbg.platform.serving import CodeExecutionWarning, Model

    model = _name("m")
    sm.create_model(ModelName=model, PrimaryContainer={"ModelDataUrl": str(model_dir)})
    with pytest.raises(ClientError) as e:
        sm.create_endpoint_config(EndpointConfigName=_name("c"), ProductionVariants=_variant(model, "ml.x9.mega"))
    assert _code(e) == ("ValidationException", 400)
    with pytest.warns(CodeExecutionWarning):  # model.joblib is a pickle
        local = Model(str(model_dir))
    with pytest.raises(ValueError) as sdk:
        local.deploy(instance_type="ml.x9.mega")
    message = str(e.value)
    assert "ProductionVariants[0].InstanceType" in message and str(sdk.value) in message
    assert "'ml.x9.mega'" in message and "ml.m5.large" in message  # the type and the known ones
    with pytest.raises(ClientError) as e:  # more instances than an endpoint runs
        sm.create_endpoint_config(EndpointConfigName=_name("c"), ProductionVariants=_variant(model, "local", 33))
    assert _code(e) == ("ValidationException", 400)
    assert "ProductionVariants[0].InitialInstanceCount=33 is not valid: expected an int from 1 to 32" in str(e.value)


def test_job_quota(small_server: ApiServer) -> None:
    sm = small_server.client()
    training = {"TrainingJobName": _name("tj"), "RoleArn": "arn:aws:iam::000000000000:role/x",
                "AlgorithmSpecification": {"TrainingImage": "no-such-image", "TrainingInputMode": "File"},
                "OutputDataConfig": {"S3OutputPath": "s3://b/out"},
                "StoppingCondition": {"MaxRuntimeInSeconds": 60},
                "ResourceConfig": {"InstanceCount": 2, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 5}}  # fmt: skip
    with pytest.raises(ClientError) as e:
        sm.create_training_job(**training)
    assert _code(e) == ("ResourceLimitExceeded", 400)
    assert "'ml.m5.xlarge for training job usage' is 4 vCPUs" in str(e.value) and "asks for 8 (2 x 4)" in str(e.value)
    training["ResourceConfig"] = {**training["ResourceConfig"], "InstanceType": "ml.x9.mega"}
    with pytest.raises(ClientError) as e:
        sm.create_training_job(**training)
    assert _code(e) == ("ValidationException", 400)
    assert "ResourceConfig.InstanceType: instance_type 'ml.x9.mega' is not known" in str(e.value)
    training["ResourceConfig"] = {**training["ResourceConfig"], "InstanceType": "ml.m5.xlarge"}
    # within the quota the request goes on to the handler (which refuses the image, not the size)
    training["ResourceConfig"] = {**training["ResourceConfig"], "InstanceCount": 1}
    with pytest.raises(ClientError) as e:
        sm.create_training_job(**training)
    assert _code(e) == ("ValidationException", 400) and "TrainingImage" in str(e.value)
    with pytest.raises(ClientError) as e:
        sm.create_processing_job(
            ProcessingJobName=_name("pj"), RoleArn="arn:aws:iam::000000000000:role/x",
            AppSpecification={"ImageUri": "x", "ContainerEntrypoint": ["python3", "-c", "pass"]},
            ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.2xlarge", "VolumeSizeInGB": 5}},
        )  # fmt: skip
    assert _code(e) == ("ResourceLimitExceeded", 400) and "ml.m5.2xlarge for processing job usage" in str(e.value)


def test_endpoint_instance_type_and_quotas(small_server: ApiServer, model_dir: Path) -> None:
    sm = small_server.client()
    model = _name("m")
    sm.create_model(ModelName=model, PrimaryContainer={"ModelDataUrl": str(model_dir)})
    with pytest.raises(ClientError) as e:  # 8 vCPUs > 4
        sm.create_endpoint_config(EndpointConfigName=_name("c"), ProductionVariants=_variant(model, "ml.m5.2xlarge"))
    assert _code(e) == ("ResourceLimitExceeded", 400) and "ml.m5.2xlarge for endpoint usage" in str(e.value)
    config = _name("c")
    sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=_variant(model, "ml.t3.medium"))

    first, second = _name("ep"), _name("ep")
    sm.create_endpoint(EndpointName=first, EndpointConfigName=config)
    with pytest.raises(ClientError) as e:  # the first one counts from Creating on
        sm.create_endpoint(EndpointName=second, EndpointConfigName=config)
    assert _code(e) == ("ResourceLimitExceeded", 400)
    assert "'number of endpoints' is 1" in str(e.value) and first in str(e.value)
    sm.get_waiter("endpoint_in_service").wait(EndpointName=first, WaiterConfig=FAST)

    # the variant's type reached the server: its record, and the address-space cap prlimit set
    record = json.loads((small_server.root / "home" / "endpoints" / f"{first}.json").read_text())
    assert record["instance_type"] == "ml.t3.medium"
    if shutil.which("prlimit"):
        limits = Path(f"/proc/{record['pid']}/limits").read_text().splitlines()
        address_space = next(line for line in limits if line.startswith("Max address space")).split()
        assert int(address_space[3]) == 4 * 4 * 1024**3  # AS_FACTOR x the type's 4 GiB

    sm.delete_endpoint(EndpointName=first)
    sm.get_waiter("endpoint_deleted").wait(EndpointName=first, WaiterConfig=FAST)
    # two instances of 2 vCPUs fit the 4-vCPU quota, three do not
    with pytest.raises(ClientError) as e:
        sm.create_endpoint_config(EndpointConfigName=_name("c"), ProductionVariants=_variant(model, "ml.t3.medium", 3))
    assert _code(e) == ("ResourceLimitExceeded", 400) and "asks for 6 (3 x 2)" in str(e.value)
    two = _name("c")
    sm.create_endpoint_config(EndpointConfigName=two, ProductionVariants=_variant(model, "ml.t3.medium", 2))
    sm.create_endpoint(EndpointName=second, EndpointConfigName=two)  # room again
    sm.get_waiter("endpoint_in_service").wait(EndpointName=second, WaiterConfig=FAST)
    (variant,) = sm.describe_endpoint(EndpointName=second)["ProductionVariants"]
    assert variant["CurrentInstanceCount"] == variant["DesiredInstanceCount"] == 2
    record = json.loads((small_server.root / "home" / "endpoints" / f"{second}.json").read_text())
    pids = [(i["pid"], i["pid_start"]) for i in record["instances"]]
    assert len({pid for pid, _ in pids}) == 2 and all(pid_alive(pid, start) for pid, start in pids)
    runtime = small_server.client("sagemaker-runtime")
    for i in range(10):  # InvokeEndpoint reaches the endpoint's port, whichever instance answers
        resp = runtime.invoke_endpoint(EndpointName=second, ContentType="text/csv", Body=f"{i},1\n".encode())
        assert resp["Body"].read()
    os.kill(pids[1][0], signal.SIGKILL)  # an instance this test's server started exits
    deadline = time.monotonic() + 60
    while pid_alive(*pids[1]) and time.monotonic() < deadline:
        time.sleep(0.1)
    (variant,) = sm.describe_endpoint(EndpointName=second)["ProductionVariants"]
    assert (variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]) == (1, 2)
    sm.update_endpoint(EndpointName=second, EndpointConfigName=config)  # back to one instance
    sm.get_waiter("endpoint_in_service").wait(EndpointName=second, WaiterConfig=FAST)
    (variant,) = sm.describe_endpoint(EndpointName=second)["ProductionVariants"]
    assert variant["CurrentInstanceCount"] == variant["DesiredInstanceCount"] == 1
    assert not any(pid_alive(pid, start) for pid, start in pids)  # the two old instances stopped
    record = json.loads((small_server.root / "home" / "endpoints" / f"{second}.json").read_text())
    assert record["instance_count"] == 1 and len(record["instances"]) == 1
    sm.delete_endpoint(EndpointName=second)
    sm.get_waiter("endpoint_deleted").wait(EndpointName=second, WaiterConfig=FAST)
    assert not pid_alive(record["pid"], record["pid_start"])


def test_quota_flags_are_checked() -> None:
    out = subprocess.run([sys.executable, "-m", "smdbg.platform.api.cli", "serve", "--max-vcpus", "0"],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 2 and "--max-vcpus" in out.stderr and "'0'" in out.stderr
    from smdbg.platform.api import ServiceLimits

    with pytest.raises(ValueError, match="max_endpoints=0"):
        ServiceLimits(max_endpoints=0)
