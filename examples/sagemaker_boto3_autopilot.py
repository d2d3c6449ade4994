"""An Autopilot notebook's boto3 code, unchanged, against smdbg's SageMaker-compatible API.

Start the control plane and point the AWS SDK at it (an S3 server such as moto on 127.0.0.1
holds the data)::

    smdbg api serve --port 8070 &
    export AWS_ENDPOINT_URL_SAGEMAKER=http://127.0.0.1:8070
    export AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=http://127.0.0.1:8070
    export AWS_ENDPOINT_URL_S3=http://127.0.0.1:5000 AWS_DEFAULT_REGION=us-east-1
    export AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=y
    python examples/sagemaker_boto3_autopilot.py [--max-candidates 3] [--budget 60]

Everything below is plain boto3, as written for SageMaker; only the environment says where it goes.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import time
import uuid

import boto3

parser = argparse.ArgumentParser()
parser.add_argument("--max-candidates", type=int, default=5)
parser.add_argument("--budget", type=int, default=120, help="MaxAutoMLJobRuntimeInSeconds")
args = parser.parse_args()

region = boto3.Session().region_name or "us-east-1"
sm = boto3.Session().client(service_name="sagemaker", region_name=region)
sm_rt = boto3.Session().client(service_name="sagemaker-runtime", region_name=region)
s3 = boto3.client("s3", region_name=region)
role = "arn:aws:iam::000000000000:role/service-role/AmazonSageMaker-ExecutionRole"

# -- the data: a small churn table, uploaded as the notebook's "train_data.csv" -----------------
bucket = f"sagemaker-{region}-{uuid.uuid4().hex[:8]}"
prefix = "sagemaker/autopilot-churn"
s3.create_bucket(Bucket=bucket)
rng = random.Random(0)
buf = io.StringIO()
writer = csv.writer(buf)
writer.writerow(["account_length", "day_mins", "eve_mins", "cust_serv_calls", "intl_plan", "Churn?"])
for _ in range(300):
    day, calls, plan = rng.uniform(0, 350), rng.randint(0, 9), rng.choice(["yes", "no"])
    churn = day > 250 or calls > 5 or (plan == "yes" and rng.random() < 0.3)
    writer.writerow([rng.randint(1, 240), round(day, 1), round(rng.uniform(0, 350), 1), calls, plan,
                     "True." if churn else "False."])  # fmt: skip
s3.put_object(Bucket=bucket, Key=f"{prefix}/train/train_data.csv", Body=buf.getvalue().encode())

# -- Autopilot ---------------------------------------------------------------------------------
input_data_config = [{
    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/{prefix}/train/train_data.csv"}},
    "TargetAttributeName": "Churn?",
}]  # fmt: skip
output_data_config = {"S3OutputPath": f"s3://{bucket}/{prefix}/output"}
auto_ml_job_name = "automl-churn-" + time.strftime("%d-%H-%M-%S", time.gmtime())
print("AutoMLJobName: " + auto_ml_job_name)
sm.create_auto_ml_job(
    AutoMLJobName=auto_ml_job_name,
    InputDataConfig=input_data_config,
    OutputDataConfig=output_data_config,
    AutoMLJobConfig={
        "CompletionCriteria": {
            "MaxCandidates": args.max_candidates,
            "MaxAutoMLJobRuntimeInSeconds": args.budget,
        }
    },  # fmt: skip
    RoleArn=role,
)

print("JobStatus - Secondary Status")
describe_response = sm.describe_auto_ml_job(AutoMLJobName=auto_ml_job_name)
job_run_status = describe_response["AutoMLJobStatus"]
while job_run_status not in ("Failed", "Completed", "Stopped"):
    describe_response = sm.describe_auto_ml_job(AutoMLJobName=auto_ml_job_name)
    job_run_status = describe_response["AutoMLJobStatus"]
    print(describe_response["AutoMLJobStatus"] + " - " + describe_response["AutoMLJobSecondaryStatus"])
    time.sleep(2)
if job_run_status != "Completed":
    raise SystemExit(f"AutoML job ended {job_run_status}: {describe_response.get('FailureReason')}")

best_candidate = sm.describe_auto_ml_job(AutoMLJobName=auto_ml_job_name)["BestCandidate"]
best_candidate_name = best_candidate["CandidateName"]
print("CandidateName: " + best_candidate_name)
print("FinalAutoMLJobObjectiveMetricName: " + best_candidate["FinalAutoMLJobObjectiveMetric"]["MetricName"])
print("FinalAutoMLJobObjectiveMetricValue: " + str(best_candidate["FinalAutoMLJobObjectiveMetric"]["Value"]))

candidates = sm.list_candidates_for_auto_ml_job(
    AutoMLJobName=auto_ml_job_name, SortBy="FinalObjectiveMetricValue", SortOrder="Descending"
)["Candidates"]
for index, candidate in enumerate(candidates):
    print(
        str(index)
        + "  "
        + candidate["CandidateName"]
        + "  "
        + str(candidate["FinalAutoMLJobObjectiveMetric"]["Value"])
    )

# -- host the best candidate with data capture ----------------------------------------------------
timestamp_suffix = time.strftime("%d-%H-%M-%S", time.gmtime())
model_name = best_candidate_name + "-" + timestamp_suffix
model_arn = sm.create_model(Containers=best_candidate["InferenceContainers"], ModelName=model_name,
                            ExecutionRoleArn=role)  # fmt: skip
epc_name = "automl-churn-epc-" + timestamp_suffix
ep_name = "automl-churn-ep-" + timestamp_suffix
variant_name = "automl-churn-variant-" + timestamp_suffix
data_capture_config = {
    "EnableCapture": True,
    "InitialSamplingPercentage": 100,
    "DestinationS3Uri": f"s3://{bucket}/{prefix}/datacapture",
    "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
    "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]},
}
sm.create_endpoint_config(
    EndpointConfigName=epc_name,
    ProductionVariants=[
        {
            "InstanceType": "ml.m5.2xlarge",
            "InitialInstanceCount": 1,
            "ModelName": model_name,
            "VariantName": variant_name,
        }
    ],  # fmt: skip
    DataCaptureConfig=data_capture_config,
)
sm.create_endpoint(EndpointName=ep_name, EndpointConfigName=epc_name)
sm.get_waiter("endpoint_in_service").wait(EndpointName=ep_name, WaiterConfig={"Delay": 2, "MaxAttempts": 120})
print("EndpointStatus: " + sm.describe_endpoint(EndpointName=ep_name)["EndpointStatus"])

rows = buf.getvalue().splitlines()[1:6]
payload = "\n".join(",".join(r.split(",")[:-1]) for r in rows)
response = sm_rt.invoke_endpoint(
    EndpointName=ep_name, ContentType="text/csv", Accept="text/csv", Body=payload
)
predictions = response["Body"].read().decode().split()
print("predictions: " + " ".join(predictions))
print("actual:      " + " ".join(r.split(",")[-1] for r in rows))

artifacts = sm.describe_auto_ml_job(AutoMLJobName=auto_ml_job_name)["AutoMLJobArtifacts"]
print("DataExplorationNotebookLocation: " + artifacts["DataExplorationNotebookLocation"])
print("CandidateDefinitionNotebookLocation: " + artifacts["CandidateDefinitionNotebookLocation"])

# -- clean up ---------------------------------------------------------------------------------------
sm.delete_endpoint(EndpointName=ep_name)
sm.get_waiter("endpoint_deleted").wait(EndpointName=ep_name, WaiterConfig={"Delay": 2, "MaxAttempts": 60})
sm.delete_endpoint_config(EndpointConfigName=epc_name)
sm.delete_model(ModelName=model_name)
print("done")
