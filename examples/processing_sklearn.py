"""A scikit-learn processing job that splits a CSV into train, validation and test.

    python examples/processing_sklearn.py [--backend docker]

The same file is the processing script: inside the job (``/opt/ml/config`` exists there) it reads
``/opt/ml/processing/input/data/*.csv`` and writes ``/opt/ml/processing/output/<split>/``,
unchanged on the local backend (private mount namespace) and the Docker backend.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile


def process() -> None:
    import glob

    import pandas as pd
    from sklearn.model_selection import train_test_split

    p = argparse.ArgumentParser()
    p.add_argument("--validation", type=float, default=0.15)
    p.add_argument("--test", type=float, default=0.15)
    args = p.parse_args()
    df = pd.concat(pd.read_csv(f) for f in sorted(glob.glob("/opt/ml/processing/input/data/*.csv")))
    held = args.validation + args.test
    train, rest = train_test_split(df, test_size=held, random_state=0, stratify=df["label"])
    validation, test = train_test_split(
        rest, test_size=args.test / held, random_state=0, stratify=rest["label"]
    )
    for name, part in (("train", train), ("validation", validation), ("test", test)):
        out = f"/opt/ml/processing/output/{name}"
        os.makedirs(out, exist_ok=True)
        part.to_csv(f"{out}/{name}.csv", index=False)
        print(f"{name}: {len(part)} rows", flush=True)


def launch() -> None:
    import numpy as np
    import pandas as pd

    from smdbg.platform.jobs import ProcessingInput, ProcessingOutput, SKLearnProcessor

    p = argparse.ArgumentParser()
    p.add_argument("--backend", choices=("local", "docker"), default="local")
    backend = p.parse_args().backend
    work = tempfile.mkdtemp(prefix="smdbg-processing-")
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(1000, 4)), columns=["a", "b", "c", "d"])
    df["label"] = (df["a"] + df["b"] > 0).astype(int)
    os.makedirs(f"{work}/raw")
    df.to_csv(f"{work}/raw/data.csv", index=False)

    processor = SKLearnProcessor(framework_version="1.2-1", role="local", instance_count=1,
                                 instance_type="ml.m5.xlarge", backend=backend)  # fmt: skip
    processor.run(
        code=os.path.abspath(__file__),
        inputs=[ProcessingInput(source=f"{work}/raw", destination="/opt/ml/processing/input/data")],
        outputs=[
            ProcessingOutput(
                source=f"/opt/ml/processing/output/{n}", destination=f"{work}/{n}", output_name=n
            )
            for n in ("train", "validation", "test")
        ],
        arguments=["--validation", "0.15", "--test", "0.15"],
    )
    for n in ("train", "validation", "test"):
        print(n, len(pd.read_csv(f"{work}/{n}/{n}.csv")), "rows in", f"{work}/{n}")


if __name__ == "__main__":
    process() if os.path.isdir("/opt/ml/config") and "--backend" not in sys.argv else launch()
