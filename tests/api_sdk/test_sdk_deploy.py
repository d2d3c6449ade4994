"""The SageMaker Python SDK v2's Model.deploy / Predictor, unchanged, against ``smdbg api serve``:
the SDK uploads nothing itself here, creates the model, endpoint config (with its
DataCaptureConfig) and endpoint, waits with its own polling, and predicts through the runtime."""

from __future__ import annotations

import json
import time
from typing import Any

from _sdk_services import BUCKET, ROLE, Services, run_main

# Trains a tiny scikit-learn model in the main environment, uploads model.tar.gz to the S3 server
# and prints the rows to predict with what the model answers for them.
MAKE_MODEL = f"""
import io, json, tarfile, tempfile, os
import boto3, joblib, numpy as np
from sklearn.linear_model import LogisticRegression
rng = np.random.default_rng(0)
X = rng.normal(size=(200, 4)); y = (X[:, 0] + X[:, 1] > 0).astype(int)
model = LogisticRegression().fit(X, y)
d = tempfile.mkdtemp(); joblib.dump(model, os.path.join(d, "model.joblib"))
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w:gz") as t:
    t.add(os.path.join(d, "model.joblib"), arcname="model.joblib")
boto3.client("s3").put_object(Bucket="{BUCKET}", Key="models/lr/model.tar.gz", Body=buf.getvalue())
rows = X[:5]
print(json.dumps({{"rows": rows.tolist(), "expected": model.predict(rows).tolist()}}))
"""


def _capture_keys(prefix: str, timeout: float = 60.0) -> list[str]:
    import boto3

    s3 = boto3.client("s3")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]
        if keys:
            return keys
        time.sleep(0.5)
    return []


def test_model_deploy_predict_and_capture(services: Services, session: Any) -> None:
    from sagemaker.deserializers import CSVDeserializer
    from sagemaker.model import Model
    from sagemaker.model_monitor import DataCaptureConfig
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import CSVSerializer

    made = json.loads(run_main(services, MAKE_MODEL))
    model = Model(
        image_uri="683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
        model_data=f"s3://{BUCKET}/models/lr/model.tar.gz",
        role=ROLE,
        sagemaker_session=session,
        predictor_cls=Predictor,
        name="sdk-lr",
    )
    predictor = model.deploy(
        initial_instance_count=2,  # two server processes behind the endpoint
        instance_type="ml.m5.xlarge",
        endpoint_name="sdk-lr-ep",
        serializer=CSVSerializer(),
        deserializer=CSVDeserializer(),
        data_capture_config=DataCaptureConfig(
            enable_capture=True, sampling_percentage=100, destination_s3_uri=f"s3://{BUCKET}/capture"
        ),
    )
    try:
        desc = session.sagemaker_client.describe_endpoint(EndpointName="sdk-lr-ep")
        assert desc["EndpointStatus"] == "InService", services.log_tail()
        assert desc["DataCaptureConfig"]["EnableCapture"] is True
        assert desc["ProductionVariants"][0]["CurrentInstanceCount"] == 2
        answer = predictor.predict(made["rows"])
        assert [int(float(v)) for row in answer for v in row] == made["expected"]
        assert _capture_keys("capture/sdk-lr-ep/AllTraffic/"), "no capture file reached the S3 server"
    finally:
        # The SDK's default delete_endpoint() deletes the endpoint config first, which AWS (and
        # the server) allow while an endpoint uses it.
        predictor.delete_endpoint()
    names = [e["EndpointName"] for e in session.sagemaker_client.list_endpoints()["Endpoints"]]
    status = {e["EndpointName"]: e["EndpointStatus"] for e in session.sagemaker_client.list_endpoints()["Endpoints"]}
    assert "sdk-lr-ep" not in names or status["sdk-lr-ep"] == "Deleting"
