"""Screenshots of the studio's main pages for the README and docs/studio.md.

    .venv/bin/python scripts/studio_screenshots.py [--out docs/images]

Builds a small demo tracker database in a temporary directory (an experiment with a learning-rate
sweep: 12 runs, 3 metrics each), serves the studio on 127.0.0.1, opens each page in Debian's
Chromium (``/usr/bin/chromium``) through Playwright and writes PNGs:

* ``studio_experiments.png``  the experiment's trial-component table, sorted by a metric
* ``studio_compare.png``      compared runs: smoothed curves, parallel coordinates, importance
* ``studio_component.png``    one trial component
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"


def build_demo(db_url: str) -> None:
    from smdbg.tracker import get_backend
    from smdbg.tracker._records import ComponentRecord, ExperimentRecord, MetricBatch, TrialRecord

    b = get_backend(db_url)
    t0 = time.time() - 86_400
    b.create_experiment(ExperimentRecord("cifar10-resnet", "cifar10-resnet", "ResNet-18 on CIFAR-10", {}, t0))
    b.create_experiment(ExperimentRecord("bert-finetune", "bert-finetune", "BERT on SST-2", {}, t0 + 10))
    rng = np.random.default_rng(7)
    names = []
    for i in range(12):
        lr = [0.3, 0.1, 0.03, 0.01][i % 4]
        opt = ["sgd", "adam", "adamw"][i % 3]
        batch = [64, 128, 256][(i // 4) % 3]
        name = f"resnet-lr{lr}-{opt}-b{batch}"
        names.append(name)
        start = t0 + 600 * i
        failed = i == 9
        b.create_component(ComponentRecord(name, name, "Failed" if failed else "Completed", None, start,
                                           start + 500 + 10 * i, start, start))  # fmt: skip
        steps = np.arange(0, 300 if not failed else 120)
        floor = 0.25 + abs(np.log10(lr) + 1.5) * 0.3 + (0.05 if opt == "sgd" else 0.0)
        loss = floor + 2.0 * np.exp(-steps / (40 + 200 * (0.3 - lr))) + rng.normal(0, 0.06, len(steps))
        acc = np.clip(1.0 - loss / 2.6 + rng.normal(0, 0.01, len(steps)), 0, 1)[::10]
        b.write(
            name,
            parameters={"lr": lr, "optimizer": opt, "batch_size": batch, "weight_decay": 5e-4},
            metrics=[
                MetricBatch("train_loss", loss, start + steps * 1.6, steps),
                MetricBatch("val_accuracy", acc, start + steps[::10] * 1.6, steps[::10]),
            ],
        )
    b.create_trial(TrialRecord("lr-sweep", "cifar10-resnet", "lr sweep", {}, t0 + 1), names[:8])
    b.create_trial(TrialRecord("batch-sweep", "cifar10-resnet", "batch sweep", {}, t0 + 2), names[8:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "docs" / "images"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='studio-shots-')) / 'tracker.db'}"
    build_demo(db_url)

    from playwright.sync_api import sync_playwright

    from smdbg.studio import serve

    exp = "experiment=cifar10-resnet"
    picked = ",".join(
        f"resnet-{n}" for n in ("lr0.3-sgd-b64", "lr0.1-adam-b64", "lr0.03-adamw-b64", "lr0.01-sgd-b64",
                                "lr0.03-sgd-b128", "lr0.1-adamw-b128")
    )  # fmt: skip
    shots = [
        ("studio_experiments.png", f"/experiments/experiment?{exp}&sort=Metrics.train_loss.Last&sel={picked}", False),
        ("studio_compare.png", f"/experiments/compare?{exp}&c={picked}&metric=train_loss&smooth=0.8", True),
        ("studio_component.png", f"/experiments/component?{exp}&component=resnet-lr0.1-adam-b64&metric=train_loss", True),
    ]
    with serve(port=0, tracker_db_url=db_url) as handle, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            for name, path, full in shots:
                page.goto(handle.base_url + path)
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(out / name), full_page=full)
                print(out / name)
        finally:
            browser.close()


if __name__ == "__main__":
    main()
