# ruff: noqa: F811  (pytest fixtures imported from _jobs_fixtures are used as parameters)
"""Training and processing jobs on a real two-node Ray cluster (tests/ray/conftest.py), with
inputs and outputs on the loopback S3 server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "platform"))
from _jobs_fixtures import jobs_home, wait_for_log, write_script  # noqa: E402, F401

from smdbg._proc import pid_alive  # noqa: E402
from smdbg.platform.jobs import (  # noqa: E402
    JobFailedError,
    ProcessingInput,
    ProcessingOutput,
    PyTorch,
    ScriptProcessor,
    list_jobs,
)
from smdbg.platform.jobs._errors import RayClusterError  # noqa: E402

CREDS = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]

DIST = """
import os, torch, torch.distributed as dist
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
t = torch.tensor([float(rank + 1)])
dist.all_reduce(t)
data = open(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "x.txt")).read().strip()
print(f"rank={rank} world={world} node={os.environ['SMDBG_RAY_NODE_ID']} sum={t.item()} data={data}", flush=True)
if rank == 0:
    open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write(f"sum={t.item()}")
dist.destroy_process_group()
"""


def _put(bucket: str, key: str, body: str) -> None:
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body.encode())


def test_two_host_gloo_job_lands_on_two_nodes(
    ray_cluster: str, s3_bucket: str, jobs_home: Path, tmp_path: Path
) -> None:
    _put(s3_bucket, "train/x.txt", "hello")
    script = write_script(tmp_path, "dist.py", DIST)
    est = PyTorch(str(script), instance_count=2, backend="ray", ray_address=ray_cluster, env_allowlist=CREDS)
    est.fit({"train": f"s3://{s3_bucket}/train"}, job_name="ray-dist", logs=False)
    logs = est.latest_training_job.logs()  # type: ignore[union-attr]
    lines = {
        h: next(ln for ln in logs[h].splitlines() if ln.startswith("rank=")) for h in ("algo-1", "algo-2")
    }
    assert lines["algo-1"].startswith("rank=0 world=2") and lines["algo-2"].startswith("rank=1 world=2")
    assert all("sum=3.0 data=hello" in ln for ln in lines.values())
    nodes = {h: ln.split("node=")[1].split()[0] for h, ln in lines.items()}
    assert nodes["algo-1"] != nodes["algo-2"]  # STRICT_SPREAD: one host per node
    assert (Path(est.model_data) / "model.txt").read_text() == "sum=3.0"


SHARD = """
import json, os
host = json.load(open("/opt/ml/config/resourceconfig.json"))["current_host"]
shard = sorted(os.listdir("/opt/ml/processing/input/shards"))
full = sorted(os.listdir("/opt/ml/processing/input/full"))
print(f"{host} shard={','.join(shard)} full={','.join(full)}", flush=True)
os.makedirs("/opt/ml/processing/output", exist_ok=True)
open(f"/opt/ml/processing/output/{host}.txt", "w").write(",".join(shard))
"""


def test_sharded_processing_job(ray_cluster: str, s3_bucket: str, jobs_home: Path, tmp_path: Path) -> None:
    for i in range(4):
        _put(s3_bucket, f"shards/part-{i}.csv", f"{i}\n")
    _put(s3_bucket, "full/a.csv", "a\n")
    _put(s3_bucket, "full/b.csv", "b\n")
    code = write_script(tmp_path, "shard.py", SHARD)
    proc = ScriptProcessor(command=["python3"], instance_count=2, backend="ray", ray_address=ray_cluster,
                           env_allowlist=CREDS)  # fmt: skip
    proc.run(
        code=str(code),
        inputs=[
            ProcessingInput(
                f"s3://{s3_bucket}/shards",
                "/opt/ml/processing/input/shards",
                "shards",
                s3_data_distribution_type="ShardedByS3Key",
            ),
            ProcessingInput(f"s3://{s3_bucket}/full", "/opt/ml/processing/input/full", "full"),
        ],  # fmt: skip
        outputs=[ProcessingOutput("/opt/ml/processing/output", f"s3://{s3_bucket}/out", "out")],
        job_name="ray-shard",
        logs=False,
    )
    logs = proc.latest_job.logs()  # type: ignore[union-attr]
    assert "algo-1 shard=part-0.csv,part-2.csv full=a.csv,b.csv" in logs["algo-1"]
    assert "algo-2 shard=part-1.csv,part-3.csv full=a.csv,b.csv" in logs["algo-2"]
    s3 = boto3.client("s3")
    got = {o["Key"]: s3.get_object(Bucket=s3_bucket, Key=o["Key"])["Body"].read().decode()
           for o in s3.list_objects_v2(Bucket=s3_bucket, Prefix="out/")["Contents"]}  # fmt: skip
    assert got == {"out/algo-1.txt": "part-0.csv,part-2.csv", "out/algo-2.txt": "part-1.csv,part-3.csv"}


def test_failed_host_fails_the_job_and_stop_cancels(
    ray_cluster: str, jobs_home: Path, tmp_path: Path
) -> None:
    script = write_script(
        tmp_path,
        "fail.py",
        """
        import os, sys, time
        if os.environ["SM_CURRENT_HOST"] == "algo-2":
            open(os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"), "w").write("bad shard 7")
            sys.exit(3)
        time.sleep(600)
        """,
    )
    est = PyTorch(str(script), instance_count=2, backend="ray", ray_address=ray_cluster, stop_grace_s=2)
    with pytest.raises(JobFailedError, match=r"worker algo-2 exited with status 3\nbad shard 7"):
        est.fit(job_name="ray-fail", logs=False)
    slow = write_script(tmp_path, "slow.py", SLOW)
    est = PyTorch(str(slow), backend="ray", ray_address=ray_cluster, stop_grace_s=2)
    est.fit(job_name="ray-stop", wait=False)
    job = est.latest_training_job
    assert job is not None
    wait_for_log(job.job_dir, "started", timeout=120)
    pid = int(job.logs()["algo-1"].split("started pid=")[1].split()[0])
    assert pid_alive(pid)
    assert job.stop()["TrainingJobStatus"] == "Stopped"
    assert not pid_alive(pid)  # the host's process went with the supervisor's stop


SLOW = "import os, time\nprint(f'started pid={os.getpid()}', flush=True)\ntime.sleep(600)\n"


def test_bad_input_is_one_clear_error(ray_cluster: str, jobs_home: Path, tmp_path: Path) -> None:
    script = write_script(tmp_path, "ok.py", "print('ok')\n")
    data = tmp_path / "data"
    data.mkdir()
    (data / "x.txt").write_text("x")
    est = PyTorch(str(script), instance_count=2, backend="ray", ray_address=ray_cluster)
    with pytest.raises(RayClusterError, match=r"channel 'train': .*data.*not shared storage.*2 nodes.*s3://"):
        est.fit({"train": str(data)}, job_name="ray-local-channel", logs=False)
    big = PyTorch(
        str(script), instance_count=2, instance_type="ml.m5.4xlarge", backend="ray", ray_address=ray_cluster
    )
    with pytest.raises(
        RayClusterError, match=r"cannot hold 2 x \{CPU=16, memory=64.0GiB\}.*2 node\(s\) with \{CPU=4"
    ):
        big.fit(job_name="ray-too-big", logs=False)
    closed = _closed_port()
    lost = PyTorch(str(script), backend="ray", ray_address=f"127.0.0.1:{closed}")
    with pytest.raises(RayClusterError, match=f"no Ray cluster is reachable at '127.0.0.1:{closed}'"):
        lost.fit(job_name="ray-lost", logs=False)
    with pytest.raises(ValueError, match="ray_address='x:1' is given but backend='local'"):
        PyTorch(str(script), backend="local", ray_address="x:1")
    assert list_jobs() == []  # nothing was started or half-written


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_without_ray_installed_the_error_names_the_extra(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from smdbg.platform.jobs._raycluster import connect\n"
        "try:\n    connect('127.0.0.1:1')\nexcept ImportError as e:\n    print(e)\n"
    )
    root = str(Path(__file__).resolve().parents[2])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": root})  # fmt: skip
    assert "the Ray backend needs ray, which is not installed: pip install 'smdbg[ray]'" in out.stdout
