"""A PyTorch training job with a debugger rule and an experiment config, on this machine.

    python examples/estimator_pytorch.py            # launches the job (this file is its script)

The same file is the training script: inside the job (where ``SM_MODEL_DIR`` is set) it trains a
small model, with the hook configured by the job's JSON config (no hook code beyond get_hook),
and one NaN input at --nan-at so that the exploding_tensor rule finds it.
"""

from __future__ import annotations

import argparse
import os


def train() -> None:
    import torch

    import smdbg.pytorch as smd

    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--nan-at", type=int, default=-1)
    args = p.parse_args()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    loss_fn = torch.nn.MSELoss()
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    hook = smd.get_hook(create_if_not_exists=True)  # from $SMDBG_CONFIG_FILE_PATH, set by the job
    if hook is not None:
        hook.register_module(model)
        hook.register_loss(loss_fn)
        opt = hook.wrap_optimizer(opt)
    x, w = torch.randn(256, 8), torch.randn(8, 1)
    y = x @ w
    step = 0
    for epoch in range(args.epochs):
        for i in range(0, 256, 32):
            xb = x[i : i + 32].clone()
            if step == args.nan_at:
                xb[0, 0] = float("nan")
            loss = loss_fn(model(xb), y[i : i + 32])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
        print(f"epoch={epoch} train_loss={loss.item():.5f}", flush=True)
    torch.save(model.state_dict(), os.path.join(os.environ["SM_MODEL_DIR"], "model.pt"))
    if hook is not None:
        hook.close()


def launch() -> None:
    from smdbg.platform.jobs import PyTorch
    from smdbg.rules import Rule, rule_configs

    est = PyTorch(
        entry_point=os.path.abspath(__file__),
        hyperparameters={"epochs": 3, "lr": 0.05, "nan-at": 12},
        metric_definitions=[{"Name": "train:loss", "Regex": r"train_loss=([0-9.eE+-]+)"}],
        rules=[Rule.builtin(rule_configs.exploding_tensor())],
        debugger_hook_config={"HookParameters": {"save_interval": "1"}},
        instance_type="ml.m5.large",
        framework_version="2.1",
    )
    est.fit(experiment_config={"ExperimentName": "example-pytorch", "TrialName": f"trial-{os.getpid()}"})
    job = est.latest_training_job
    assert job is not None
    print("status:", job.describe()["TrainingJobStatus"])
    print("final metrics:", job.describe()["FinalMetricDataList"])
    for rule in job.rule_job_summary():
        print(
            "rule:", rule["RuleConfigurationName"], rule["RuleEvaluationStatus"], "-", rule["StatusDetails"]
        )
    print("debugger trial:", est.latest_job_debugger_artifacts_path())
    print("model:", est.model_data)


if __name__ == "__main__":
    train() if "SM_MODEL_DIR" in os.environ else launch()
