"""PyTorch training jobs with a debugger rule and an experiment config, on this machine.

    python examples/estimator_pytorch.py

Runs the unmodified script ``examples/train_mnist_like.py`` (it never imports smdbg) twice, as two
trials of one experiment: a sensible learning rate and one far too high. Because the jobs have a
rule, the PyTorch estimator starts the script under ``smdbg run`` (the zero-code-change launcher)
with the job's hook config, so the model's losses, weights and gradients are saved without a line
of hook code. An ``exploding_tensor`` rule job follows each run: the diverging one reports
IssuesFound (NaN loss and gradients), the other NoIssuesFound. Jobs, logs and trials go under
``$SMDBG_HOME`` (default ``~/.smdbg``); the experiment into the tracker (``$SMDBG_TRACKER_URL``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from smdbg.platform.jobs import PyTorch
from smdbg.rules import Rule, rule_configs
from smdbg.trials import create_trial

SCRIPT = Path(__file__).with_name("train_mnist_like.py")
EXPERIMENT = "example-pytorch"


def estimator(lr: float) -> PyTorch:
    return PyTorch(
        entry_point=str(SCRIPT),
        hyperparameters={"epochs": 2, "lr": lr, "samples": 512},
        metric_definitions=[
            {"Name": "train:loss", "Regex": r"train_loss=([0-9.eE+-]+|nan|inf)"},
            {"Name": "validation:accuracy", "Regex": r"val_accuracy=([0-9.]+)"},
        ],
        rules=[Rule.builtin(rule_configs.exploding_tensor())],
        debugger_hook_config={
            "HookParameters": {"save_interval": "2"},
            "CollectionConfigurations": [
                {"CollectionName": "losses"},
                {"CollectionName": "weights", "CollectionParameters": {"reductions": "l2"}},
                {"CollectionName": "gradients", "CollectionParameters": {"reductions": "l2"}},
            ],
        },
        instance_type="ml.m5.large",
        framework_version="2.1",
    )


def main() -> None:
    tag = time.strftime("%H%M%S") + f"-{os.getpid()}"
    runs = {lr: estimator(lr) for lr in (0.05, 1000.0)}
    for lr, est in runs.items():  # both jobs run at once; wait below
        trial_name = f"lr-{lr:g}-{tag}"
        est.fit(experiment_config={"ExperimentName": EXPERIMENT, "TrialName": trial_name}, wait=False)
    for lr, est in runs.items():
        job = est.latest_training_job
        assert job is not None
        desc = job.wait(logs=False)
        print(f"== lr={lr:g}: job {job.job_name} {desc['TrainingJobStatus']}")
        for m in desc["FinalMetricDataList"]:
            print(f"   metric {m['MetricName']} = {m['Value']}")
        for rule in job.rule_job_summary():
            status, detail = rule["RuleEvaluationStatus"], rule["StatusDetails"]
            print(f"   rule {rule['RuleConfigurationName']}: {status} - {detail}")
        path = est.latest_job_debugger_artifacts_path()
        assert path is not None
        trial = create_trial(path)
        loss = trial.tensor("CrossEntropyLoss_output_0").values()
        grad = trial.tensor("gradient/Sequential_0.weight")
        print(f"   debugger trial {path}: {len(trial.tensor_names())} tensors, steps {trial.steps()[:4]}...")
        print("   loss by step:", {s: round(float(v), 4) for s, v in list(loss.items())[:4]})
        print(
            "   conv weight-gradient l2:",
            {s: float(grad.reduction_value(s, "l2")) for s in trial.steps()[:4]},
        )
        print(f"   model: {est.model_data}")

    from smdbg.tracker import ExperimentAnalytics

    df = ExperimentAnalytics(experiment_name=EXPERIMENT).dataframe()
    cols = [
        c for c in ("TrialComponentName", "lr", "train:loss - Last", "validation:accuracy - Last") if c in df
    ]
    print(f"== experiment {EXPERIMENT!r} (last {len(runs)} of {len(df)} trial components):")
    print(df[cols].tail(len(runs)).to_string(index=False))


if __name__ == "__main__":
    main()
