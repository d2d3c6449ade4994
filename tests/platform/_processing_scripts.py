"""Processing scripts written for the container paths, used unchanged on both backends."""

SPLIT_SCRIPT = """
import argparse, json, os
import pandas as pd
from sklearn.model_selection import train_test_split

p = argparse.ArgumentParser()
p.add_argument("--test-size", type=float, default=0.2)
args = p.parse_args()
config = json.load(open("/opt/ml/config/processingjobconfig.json"))
resources = json.load(open("/opt/ml/config/resourceconfig.json"))
df = pd.read_csv("/opt/ml/processing/input/data/data.csv")
train, rest = train_test_split(df, test_size=2 * args.test_size, random_state=0)
validation, test = train_test_split(rest, test_size=0.5, random_state=0)
for name, part in (("train", train), ("validation", validation), ("test", test)):
    os.makedirs(f"/opt/ml/processing/output/{name}", exist_ok=True)
    part.to_csv(f"/opt/ml/processing/output/{name}/{name}.csv", index=False)
print("job", config["ProcessingJobName"], "host", resources["current_host"], "rows", len(df), flush=True)
"""

SHARD_SCRIPT = """
import json, os, shutil
host = json.load(open("/opt/ml/config/resourceconfig.json"))["current_host"]
files = sorted(os.listdir("/opt/ml/processing/input/parts"))
os.makedirs("/opt/ml/processing/output/seen", exist_ok=True)
with open(f"/opt/ml/processing/output/seen/{host}.txt", "w") as f:
    f.write("\\n".join(files))
print(host, files, flush=True)
"""


def make_csv(path, rows: int = 100) -> None:  # type: ignore[no-untyped-def]
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["x,y"] + [f"{i},{i % 2}" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
