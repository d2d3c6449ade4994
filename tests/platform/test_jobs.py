"""Training jobs on the local backend: the container contract, metrics, experiment config, faults, CLI."""
# ruff: noqa: F811  (pytest fixtures imported from _jobs_fixtures are used as parameters)

from __future__ import annotations

import json
import resource
from pathlib import Path

import pytest
from _jobs_fixtures import jobs_cli, jobs_home, wait_for_log, write_script  # noqa: F401

from smdbg.platform.jobs import (
    Estimator,
    JobFailedError,
    JobNotFound,
    PyTorch,
    SKLearn,
    describe_job,
    list_jobs,
)

CONTRACT_SCRIPT = """
import argparse, json, os, resource
p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int); p.add_argument("--lr", type=float); p.add_argument("--name")
a = p.parse_args()
assert os.getcwd() == "/opt/ml/code", os.getcwd()
hps = json.load(open("/opt/ml/input/config/hyperparameters.json"))
res = json.load(open("/opt/ml/input/config/resourceconfig.json"))
data = json.load(open("/opt/ml/input/config/inputdataconfig.json"))
report = {
    "args": vars(a), "hps_file": hps, "resource": res, "data_config": sorted(data),
    "env": {k: v for k, v in os.environ.items() if k.startswith("SM_")},
    "train_files": sorted(os.listdir("/opt/ml/input/data/train")),
    "affinity": len(os.sched_getaffinity(0)),
    "rlimit_as": resource.getrlimit(resource.RLIMIT_AS)[0],
    "tc": os.environ.get("SMDBG_TRIAL_COMPONENT_NAME"),
}
with open(os.path.join(os.environ["SM_MODEL_DIR"], "report.json"), "w") as f:
    json.dump(report, f)
for e in range(a.epochs):
    print(f"epoch {e}: train_loss={1.0 / (e + 1):.4f} acc={0.5 + e / 10:.2f}", flush=True)
"""


def test_training_contract_metrics_and_experiment(jobs_home: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_script(src, "train.py", CONTRACT_SCRIPT)
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("1,2\n")
    (data / "b.csv").write_text("3,4\n")
    est = Estimator(
        "train.py",
        source_dir=str(src),
        hyperparameters={"epochs": 3, "lr": 0.1, "name": "run one"},
        metric_definitions=[
            {"Name": "train:loss", "Regex": r"train_loss=([0-9.]+)"},
            {"Name": "acc", "Regex": r"acc=([0-9.]+)"},
        ],
        instance_type="ml.m5.large",
    )
    exp = {"ExperimentName": "exp-a", "TrialName": "trial-a", "TrialComponentDisplayName": "training"}
    est.fit({"train": str(data)}, job_name="contract-1", experiment_config=exp, logs=False)

    desc = est.describe()
    assert desc["TrainingJobStatus"] == "Completed"
    assert desc["HyperParameters"] == {"epochs": "3", "lr": "0.1", "name": "run one"}
    assert desc["TrainingStartTime"] <= desc["TrainingEndTime"]
    final = {m["MetricName"]: m["Value"] for m in desc["FinalMetricDataList"]}
    assert final == {"train:loss": pytest.approx(1 / 3, abs=1e-4), "acc": pytest.approx(0.7)}

    report = json.loads((Path(est.model_data) / "report.json").read_text())
    assert report["args"] == {"epochs": 3, "lr": 0.1, "name": "run one"}
    assert report["hps_file"] == {"epochs": "3", "lr": "0.1", "name": "run one"}
    assert report["resource"]["current_host"] == "algo-1" and report["resource"]["hosts"] == ["algo-1"]
    assert report["train_files"] == ["a.csv", "b.csv"]
    env = report["env"]
    assert env["SM_MODEL_DIR"] == "/opt/ml/model"
    assert env["SM_CHANNEL_TRAIN"] == "/opt/ml/input/data/train"
    assert json.loads(env["SM_CHANNELS"]) == ["train"]
    assert json.loads(env["SM_HPS"]) == {"epochs": 3, "lr": 0.1, "name": "run one"}
    assert env["SM_HP_LR"] == "0.1" and env["SM_CURRENT_HOST"] == "algo-1"
    assert json.loads(env["SM_HOSTS"]) == ["algo-1"] and env["SM_NUM_GPUS"] == "0"
    assert env["SM_OUTPUT_DATA_DIR"] == "/opt/ml/output/data"
    # ml.m5.large: at most 2 CPUs, address space capped at 4 x 8 GiB
    assert report["affinity"] <= 2
    assert report["rlimit_as"] == 4 * 8 * 1024**3
    assert resource.getrlimit(resource.RLIMIT_AS)[0] != report["rlimit_as"]  # only the job's

    from smdbg.tracker import Trial, TrialComponent

    tc = TrialComponent.load("contract-1-training-job")
    assert report["tc"] == tc.trial_component_name
    assert tc.status.primary_status == "Completed" and tc.end_time is not None
    assert tc.display_name == "training"
    assert tc.parameters["lr"] == 0.1 and tc.parameters["name"] == "run one"
    points = tc.metric_points("train:loss")["train:loss"]
    assert [round(v, 4) for v in points.values] == [1.0, 0.5, 0.3333]
    assert [c.trial_component_name for c in Trial.load("trial-a").list_trial_components()] == [
        "contract-1-training-job"
    ]


def test_failed_script_reports_last_log_lines(jobs_home: Path, tmp_path: Path) -> None:
    script = write_script(
        tmp_path,
        "bad.py",
        """
        for i in range(30):
            print(f"line {i}")
        raise SystemExit("the data was bad: column 'y' missing")
        """,
    )
    est = Estimator(str(script))
    with pytest.raises(JobFailedError) as info:
        est.fit(job_name="fails-1", logs=False)
    desc = describe_job("fails-1")
    assert desc["TrainingJobStatus"] == "Failed"
    reason = desc["FailureReason"]
    assert "exited with status 1" in reason and "column 'y' missing" in reason
    assert "line 29" in reason and "line 5\n" not in reason  # the tail, not the whole log
    assert "column 'y' missing" in str(info.value)


def test_failure_file_is_the_reason(jobs_home: Path, tmp_path: Path) -> None:
    script = write_script(
        tmp_path,
        "bad.py",
        """
        import os, sys
        open("/opt/ml/output/failure", "w").write("CustomError: learning rate too high")
        sys.exit(2)
        """,
    )
    with pytest.raises(JobFailedError, match="learning rate too high"):
        Estimator(str(script)).fit(job_name="fails-2", logs=False)


def test_bad_input(jobs_home: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="entry_point 'nope.py' does not exist"):
        Estimator("nope.py", source_dir=str(tmp_path))
    script = write_script(tmp_path, "ok.py", "print('hi')\n")
    with pytest.raises(ValueError, match=r"metric_definitions\[0\] 'loss'.*does not compile"):
        Estimator(str(script), metric_definitions=[{"Name": "loss", "Regex": "loss=([0-9"}])
    with pytest.raises(ValueError, match="instance_type 'ml.x9.huge' is not known"):
        Estimator(str(script), instance_type="ml.x9.huge")
    with pytest.raises(ValueError, match="exactly 1 instance"):
        SKLearn(str(script), instance_count=2)
    est = Estimator(str(script))
    with pytest.raises(FileNotFoundError, match=r"input channel 'train'.*does not exist"):
        est.fit({"train": str(tmp_path / "missing")}, job_name="no-input")
    with pytest.raises(ValueError, match="TrialName"):
        est.fit(job_name="no-trial", experiment_config={"ExperimentName": "e"})
    from smdbg.tracker import Experiment, Trial

    Experiment.create("owner")
    Trial.create("taken", "owner")
    with pytest.raises(ValueError, match="trial 'taken' belongs to experiment 'owner', not 'other'"):
        est.fit(job_name="wrong-experiment", experiment_config={"ExperimentName": "other", "TrialName": "taken"})
    with pytest.raises(ValueError, match="job name 'bad_name!'"):
        est.fit(job_name="bad_name!")
    assert list_jobs() == []  # nothing half-written
    est.fit(job_name="twice", logs=False)
    with pytest.raises(Exception, match="already exists"):
        est.fit(job_name="twice", logs=False)
    assert describe_job("twice")["TrainingJobStatus"] == "Completed"
    with pytest.raises(JobNotFound, match="no job named 'ghost'"):
        describe_job("ghost")


def test_stop_mid_run_from_another_process(jobs_home: Path, tmp_path: Path) -> None:
    script = write_script(
        tmp_path,
        "slow.py",
        """
        import time
        for i in range(600):
            print(f"step {i} loss={1.0 / (i + 1)}", flush=True)
            time.sleep(0.1)
        """,
    )
    est = Estimator(str(script), metric_definitions=[{"Name": "loss", "Regex": r"loss=([0-9.]+)"}])
    est.fit(job_name="stop-me", wait=False, experiment_config={"ExperimentName": "e", "TrialName": "t"})
    job = est.latest_training_job
    assert job is not None
    wait_for_log(job.job_dir, "step 3")
    assert job.status() == "InProgress"
    res = jobs_cli("stop", "stop-me")
    assert res.returncode == 0, res.stderr
    assert "Stopped" in res.stdout
    desc = job.describe()
    assert desc["TrainingJobStatus"] == "Stopped" and desc["TrainingEndTime"]
    pid = int(json.loads((job.job_dir / "job.json").read_text())["_smdbg"]["workers"]["algo-1"])
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3]
    from smdbg.tracker import TrialComponent

    tc = TrialComponent.load("stop-me-training-job")
    assert tc.status.primary_status == "Stopped" and tc.end_time is not None
    assert len(tc.metric_points("loss")["loss"].values) >= 3  # what was logged before the stop is kept
    job.wait(logs=False)  # a Stopped job does not raise


def test_cli_list_describe_logs(jobs_home: Path, tmp_path: Path) -> None:
    script = write_script(tmp_path, "hello.py", "print('hello from the job')\n")
    Estimator(str(script)).fit(job_name="cli-1", logs=False)
    res = jobs_cli("list")
    assert res.returncode == 0 and "cli-1" in res.stdout and "Completed" in res.stdout
    res = jobs_cli("describe", "cli-1")
    assert json.loads(res.stdout)["TrainingJobName"] == "cli-1"
    res = jobs_cli("logs", "cli-1")
    assert res.stdout.strip() == "hello from the job"
    res = jobs_cli("describe", "ghost")
    assert res.returncode == 2 and "no job named 'ghost'" in res.stderr


DIST_SCRIPT = """
import os, torch, torch.distributed as dist
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
t = torch.tensor([float(rank + 1)])
dist.all_reduce(t)
print(f"rank={rank} world={world} host={os.environ['SM_CURRENT_HOST']} sum={t.item()}", flush=True)
dist.destroy_process_group()
"""


def test_pytorch_two_workers_gloo(jobs_home: Path, tmp_path: Path) -> None:
    script = write_script(tmp_path, "dist.py", DIST_SCRIPT)
    est = PyTorch(str(script), instance_count=2, framework_version="2.1")
    est.fit(job_name="dist-1", logs=False)
    logs = est.latest_training_job.logs()  # type: ignore[union-attr]
    assert sorted(logs) == ["algo-1", "algo-2"]
    assert "rank=0 world=2 host=algo-1 sum=3.0" in logs["algo-1"]
    assert "rank=1 world=2 host=algo-2 sum=3.0" in logs["algo-2"]
