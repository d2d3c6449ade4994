"""The platform's SDK-shaped classes take the SageMaker SDK's arguments (docs/compatibility.md):
AWS-only ones ignored or recorded, v1 spellings with a DeprecationWarning, ml.* instance types
mapped to CPU and memory limits, the API's data-capture dict."""

# ruff: noqa: F811  (pytest fixtures imported from helper modules are used as parameters)
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from _jobs_fixtures import jobs_home, write_script  # noqa: F401
from conftest_serving import make_sklearn_model, read_capture_records, smdbg_home  # noqa: F401

from smdbg._sdk_args import SdkArgumentError
from smdbg.platform.automl import AutoML
from smdbg.platform.jobs import Processor, PyTorch, SKLearn, SKLearnProcessor
from smdbg.platform.jobs._instances import AS_FACTOR, INSTANCE_TYPES
from smdbg.platform.monitor import DefaultModelMonitor
from smdbg.platform.serving import CodeExecutionWarning, DataCaptureConfig, Model

SESSION = object()  # stands for a sagemaker.Session: never touched


def _script(tmp_path: Path) -> Path:
    return write_script(tmp_path / "src", "train.py", "print('trained')\n")


def test_estimator_v1_spellings_warn_and_map(jobs_home: Path, tmp_path: Path) -> None:
    script = _script(tmp_path)
    with pytest.warns(DeprecationWarning) as rec:
        est = PyTorch(
            str(script),
            framework_version="2.1",
            py_version="py310",
            role="arn:aws:iam::111122223333:role/Sm",
            sagemaker_session=SESSION,
            train_instance_count=1,
            train_instance_type="ml.c5.xlarge",
            train_volume_size=50,
            train_max_run=3600,
            train_use_spot_instances=False,
            output_path="s3://bucket/out",
        )
    renamed = sorted(str(w.message).split(" ")[0] for w in rec)
    assert renamed == ["train_instance_count", "train_instance_type", "train_max_run",
                       "train_use_spot_instances", "train_volume_size"]  # fmt: skip
    assert all(w.filename == __file__ for w in rec)
    assert (est.instance_count, est.instance_type, est.volume_size, est.max_run) == (1, "ml.c5.xlarge", 50, 3600)
    assert est.sdk_arguments["sagemaker_session"] is SESSION
    est.fit(wait=True, logs=False)
    desc = est.describe()
    assert desc["ResourceConfig"] == {"InstanceType": "ml.c5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50}
    assert desc["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    assert desc["RoleArn"] == "arn:aws:iam::111122223333:role/Sm"
    assert desc["TrainingJobStatus"] == "Completed"


def test_estimator_bad_sdk_values_name_the_value(jobs_home: Path, tmp_path: Path) -> None:
    script = str(_script(tmp_path))
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="instance_type 'ml.z9.mega' is not known"):
        PyTorch(script, train_instance_type="ml.z9.mega")
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="instance_count=0: expected an int >= 1"):
        PyTorch(script, train_instance_count=0)
    with pytest.raises(ValueError, match="volume_size=-5: expected an int >= 1"):
        PyTorch(script, volume_size=-5)
    with pytest.warns(DeprecationWarning), pytest.raises(SdkArgumentError, match="train_instance_count=2 and instance_count=3"):
        PyTorch(script, train_instance_count=2, instance_count=3)
    with pytest.raises(SdkArgumentError, match="unexpected keyword argument 'hyperparams'"):
        PyTorch(script, hyperparams={"lr": 1})
    sdk_order = PyTorch("train.py", "2.1", "py310", str(Path(script).parent), {"lr": 0.1},
                        distribution={"torch_distributed": {"enabled": True}})  # fmt: skip
    assert (sdk_order.framework_version, sdk_order.py_version) == ("2.1", "py310")
    assert (sdk_order.source_dir, sdk_order.hyperparameters) == (str(Path(script).parent), {"lr": 0.1})
    with pytest.warns(DeprecationWarning) as rec, pytest.raises(ValueError, match="SKLearn got instance_count=2"):
        SKLearn(script, train_instance_count=2)
    assert rec[0].filename == __file__  # the caller's line, through SKLearn.__init__ and Estimator.__init__


def test_processor_takes_sdk_arguments_in_the_sdk_order(jobs_home: Path, tmp_path: Path) -> None:
    code = write_script(tmp_path / "src", "proc.py", "print('processed')\n")
    proc = SKLearnProcessor("1.2-1", "arn:aws:iam::1:role/x", "ml.m5.large", 1, sagemaker_session=SESSION,
                            volume_size_in_gb=40, max_runtime_in_seconds=600, network_config=None)  # fmt: skip
    assert (proc.instance_type, proc.instance_count, proc.volume_size) == ("ml.m5.large", 1, 40)
    proc.run(code=str(code), wait=True, logs=False)
    desc = proc.latest_job.describe()  # type: ignore[union-attr]
    assert desc["ProcessingResources"]["ClusterConfig"] == {
        "InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 40,
    }  # fmt: skip
    assert desc["StoppingCondition"] == {"MaxRuntimeInSeconds": 600}
    assert desc["ProcessingJobStatus"] == "Completed"
    with pytest.raises(SdkArgumentError, match="SDK v1 spelling of instance_type, which Processor does not take"):
        Processor(command=["python3"], train_instance_type="ml.m5.large")


def _limits_of(pid: int) -> tuple[int, int]:
    """(CPUs the process may run on, its address-space limit in bytes) read from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    cpus = next(line.split(":", 1)[1].strip() for line in status.splitlines() if line.startswith("Cpus_allowed_list"))
    count = sum(int(b) - int(a) + 1 if "-" in part else 1
                for part in cpus.split(",") for a, _, b in [part.partition("-")])  # fmt: skip
    limit = next(line for line in Path(f"/proc/{pid}/limits").read_text().splitlines() if "address space" in line)
    return count, int(limit.split()[4])


def test_deploy_maps_instance_type_and_takes_the_api_capture_dict(smdbg_home: Path, tmp_path: Path) -> None:
    model_dir, _, X = make_sklearn_model(tmp_path / "m")
    capture = tmp_path / "capture"
    with pytest.warns(CodeExecutionWarning):  # model.joblib is a pickle
        model = Model(str(model_dir), role="arn:aws:iam::1:role/x", sagemaker_session=SESSION)
    predictor = model.deploy(
        initial_instance_count=1,
        instance_type="ml.t3.medium",
        endpoint_name="sdk-args",
        serializer=None,
        tags=[{"Key": "team", "Value": "ml"}],
        data_capture_config={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": str(capture),
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]},
        },
    )
    try:
        from smdbg.platform.serving._state import load_record

        record = load_record("sdk-args")
        assert record.instance_type == "ml.t3.medium"
        assert record.capture is not None and record.capture["sampling_percentage"] == 100
        cpus, address_space = _limits_of(int(record.pid or 0))
        t3 = INSTANCE_TYPES["ml.t3.medium"]
        assert cpus == min(int(t3.vcpus or 0), len(os.sched_getaffinity(0)))
        assert address_space == int(t3.memory_bytes or 0) * AS_FACTOR
        predictor.predict(X[:2])
    finally:
        predictor.delete_endpoint()
    records = read_capture_records(capture / "sdk-args")
    assert records and {"endpointInput", "endpointOutput"} <= set(records[0]["captureData"])


def test_capture_dict_bad_values_name_them(tmp_path: Path) -> None:
    good = {"DestinationS3Uri": str(tmp_path), "InitialSamplingPercentage": 10}
    assert DataCaptureConfig.coerce(good).capture_options == ["REQUEST", "RESPONSE"]
    only_input = DataCaptureConfig.coerce({**good, "CaptureOptions": [{"CaptureMode": "input"}]})
    assert only_input.capture_options == ["REQUEST"]
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['SamplingPercentage'\]"):
        DataCaptureConfig.coerce({**good, "SamplingPercentage": 5})
    with pytest.raises(ValueError, match="CaptureOptions item {'CaptureMode': 'Body'}"):
        DataCaptureConfig.coerce({**good, "CaptureOptions": [{"CaptureMode": "Body"}]})
    with pytest.raises(ValueError, match="sampling_percentage=250"):
        DataCaptureConfig.coerce({**good, "InitialSamplingPercentage": 250})
    with pytest.raises(TypeError, match="data_capture_config='yes'"):
        DataCaptureConfig.coerce("yes")

    class SdkLike:  # the SageMaker SDK's DataCaptureConfig hands its request dict over
        def _to_request_dict(self) -> dict[str, object]:
            return {**good, "EnableCapture": True, "CaptureOptions": [{"CaptureMode": "Output"}]}

    assert DataCaptureConfig.coerce(SdkLike()).capture_options == ["RESPONSE"]


def test_automl_and_monitor_accept_aws_arguments(tmp_path: Path) -> None:
    automl = AutoML(target_attribute_name="y", role="arn:aws:iam::1:role/x", sagemaker_session=SESSION,
                    vpc_config={"Subnets": []}, output_path=str(tmp_path / "out"))  # fmt: skip
    assert set(automl.sdk_arguments) == {"role", "sagemaker_session", "vpc_config"}
    with pytest.raises(SdkArgumentError, match="AutoML\\(\\) got an unexpected keyword argument 'target'"):
        AutoML("y", target="y")
    monitor = DefaultModelMonitor(role="r", instance_count=1, instance_type="ml.m5.xlarge", volume_size_in_gb=20,
                                  max_runtime_in_seconds=3600, sagemaker_session=SESSION, base_job_name="m")  # fmt: skip
    assert monitor.instance_type == "ml.m5.xlarge" and monitor.sdk_arguments["volume_size_in_gb"] == 20
    with pytest.raises(ValueError, match="instance_type 'ml.m5.huge' is not known"):
        DefaultModelMonitor(instance_type="ml.m5.huge")
    with pytest.raises(SdkArgumentError, match="'instance_cnt'"):
        DefaultModelMonitor(instance_cnt=1)
    json.dumps(monitor.sdk_arguments, default=str)  # what was given stays inspectable
