# ruff: noqa: F811  (pytest fixtures imported from _jobs_fixtures are used as parameters)
"""A rule job beside a two-host Ray training job: the trial is on S3, the rule runs as a Ray
actor following it, and its stop_training action stops both hosts."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "platform"))
from _jobs_fixtures import jobs_home, write_script  # noqa: E402, F401

from smdbg.platform.jobs import PyTorch  # noqa: E402
from smdbg.rules import Rule, rule_configs  # noqa: E402

BAD_RUN = """
import argparse, os, time
import torch
import torch.distributed as dist
import smdbg.pytorch as smd

p = argparse.ArgumentParser()
p.add_argument("--steps", type=int)
p.add_argument("--nan-at", type=int)
a = p.parse_args()
dist.init_process_group("gloo")
model = torch.nn.Linear(4, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
loss_fn = torch.nn.MSELoss()
hook = smd.get_hook(create_if_not_exists=True)
hook.register_module(model)
hook.register_loss(loss_fn)
opt = hook.wrap_optimizer(opt)
for step in range(a.steps):
    x = torch.randn(8, 4)
    if step >= a.nan_at:
        x[0, 0] = float("nan")
    loss = loss_fn(model(x), torch.zeros(8, 1))
    opt.zero_grad()
    loss.backward()
    opt.step()
    print(f"step={step}", flush=True)
    time.sleep(0.05)
print("finished all steps", flush=True)
"""


def test_rule_actor_stops_every_host(
    ray_cluster: str, s3_bucket: str, jobs_home: Path, tmp_path: Path
) -> None:
    script = write_script(tmp_path, "bad.py", BAD_RUN)
    est = PyTorch(
        str(script),
        hyperparameters={"steps": 4000, "nan-at": 5},
        rules=[Rule.builtin(rule_configs.exploding_tensor())],
        rule_actions=["stop_training"],
        debugger_hook_config={
            "S3OutputPath": f"s3://{s3_bucket}/debug",
            "HookParameters": {"save_interval": "1", "include_workers": "all"},
        },
        instance_count=2,
        backend="ray",
        ray_address=ray_cluster,
        env_allowlist=["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
    )
    est.fit(job_name="ray-rule", logs=False)
    desc = est.describe()
    assert desc["TrainingJobStatus"] == "Stopped", desc.get("FailureReason")
    assert desc["DebugRuleEvaluationStatuses"][0]["RuleEvaluationStatus"] == "IssuesFound"
    logs = est.latest_training_job.logs()  # type: ignore[union-attr]
    for host in ("algo-1", "algo-2"):  # the stop request on S3 reached both hosts
        assert "StopTrainingRequested" in logs[host], logs[host][-2000:]
        assert "finished all steps" not in logs[host]
    trial = est.latest_job_debugger_artifacts_path()
    assert trial == f"s3://{s3_bucket}/debug/ray-rule/debug-output"
    from smdbg.trials import create_trial

    assert sorted(create_trial(trial).workers()) == ["worker_0", "worker_1"]
    rule_log = (est.latest_training_job.job_dir / "rules" / "exploding_tensor.log").read_text()  # type: ignore[union-attr]
    assert "FINDING" in rule_log
