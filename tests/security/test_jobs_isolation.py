"""Job isolation: inputs are copies, outputs never follow a link out, workers run as an
unprivileged user on a root of their own (local backend) or in a container without capabilities
(Docker). Real jobs; the Docker cases use a real engine (scripts/setup_docker.sh)."""
# ruff: noqa: F811  (pytest fixtures imported from _jobs_helpers are used as parameters)

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from _jobs_helpers import docker_engine, jobs_home, write_script  # noqa: F401

from smdbg.platform.jobs import (
    Estimator,
    JobFailedError,
    ProcessingInput,
    ProcessingOutput,
    ScriptProcessor,
    can_isolate,
    describe_job,
)

needs_isolation = pytest.mark.skipif(
    not can_isolate(), reason="needs root (a private mount namespace) for the local backend's isolation"
)

APPEND_SCRIPT = """
import glob, os
for p in glob.glob("/opt/ml/processing/input/data/*"):
    with open(p, "a") as f:
        f.write("tampered\\n")
print("appended", flush=True)
"""

PROBE_SCRIPT = """
import json, os
def can_read(p):
    try:
        open(p, "rb").read(1)
        return True
    except OSError:
        return False
report = {
    "uid": os.getuid(), "gid": os.getgid(),
    "caller_data": os.path.exists(os.environ["CALLER_DATA"]),
    "shadow": can_read("/etc/shadow"),
    "root_home": sorted(os.listdir("/root")) if os.path.isdir("/root") else None,
    "opt_ml": sorted(os.listdir("/opt/ml")),
    "caps": [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")][0],
}
out = os.environ.get("SM_MODEL_DIR", "/opt/ml/processing/output/report")
os.makedirs(out, exist_ok=True)
json.dump(report, open(out + "/report.json", "w"))
"""


@needs_isolation
def test_script_appending_to_its_input_leaves_the_source_alone(jobs_home: Path, tmp_path: Path) -> None:
    src = tmp_path / "in" / "data.csv"
    src.parent.mkdir()
    src.write_text("a,b\n1,2\n")
    code = write_script(tmp_path, "append.py", APPEND_SCRIPT)
    ScriptProcessor(command=["python3"]).run(
        code=str(code), inputs=[ProcessingInput(str(src.parent), "/opt/ml/processing/input/data")],
        job_name="append-input", logs=False,
    )  # fmt: skip
    assert describe_job("append-input")["ProcessingJobStatus"] == "Completed"
    assert src.read_text() == "a,b\n1,2\n"
    assert src.stat().st_nlink == 1  # a copy, not a hard link


def test_training_input_is_a_copy(jobs_home: Path, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    src = tmp_path / "data" / "x.txt"
    src.write_text("original\n")
    script = write_script(
        tmp_path, "train.py",
        "import os\nopen(os.environ['SM_CHANNEL_TRAIN'] + '/x.txt', 'a').write('tampered\\n')\n",
    )  # fmt: skip
    Estimator(str(script)).fit({"train": str(tmp_path / "data")}, job_name="train-copy", logs=False)
    assert src.read_text() == "original\n" and src.stat().st_nlink == 1


@needs_isolation
def test_output_links_out_of_the_job_are_not_followed(jobs_home: Path, tmp_path: Path) -> None:
    code = write_script(
        tmp_path, "links.py",
        """
        import os
        out = "/opt/ml/processing/output/result"
        open(out + "/real.txt", "w").write("mine")
        os.symlink("/etc/hostname", out + "/stolen")
        os.symlink("../../../../..", out + "/up")
        os.symlink("real.txt", out + "/alias.txt")
        """,
    )  # fmt: skip
    dest = tmp_path / "dest"
    with pytest.raises(JobFailedError) as info:
        ScriptProcessor(command=["python3"]).run(
            code=str(code), outputs=[ProcessingOutput("/opt/ml/processing/output/result", str(dest), "result")],
            job_name="link-out", logs=False,
        )  # fmt: skip
    reason = str(info.value)
    assert "ClientError: output 'result'" in reason and "stolen -> /etc/hostname" in reason
    assert "up -> ../../../../.." in reason
    assert sorted(p.name for p in dest.iterdir()) == ["alias.txt", "real.txt"]  # the rest is copied
    assert (dest / "alias.txt").read_text() == "mine" and not (dest / "alias.txt").is_symlink()


@needs_isolation
def test_local_worker_is_unprivileged_and_sees_only_the_job(jobs_home: Path, tmp_path: Path) -> None:
    caller_data = tmp_path / "caller-private"
    caller_data.mkdir()
    (caller_data / "secret.txt").write_text("x")
    script = write_script(tmp_path, "probe.py", PROBE_SCRIPT)
    est = Estimator(str(script), environment={"CALLER_DATA": str(caller_data)})
    est.fit(job_name="local-probe", logs=False)
    report = json.loads((Path(est.model_data) / "report.json").read_text())
    assert (report["uid"], report["gid"]) == (65534, 65534)
    assert report["caller_data"] is False and report["shadow"] is False
    assert report["caps"] == "0000000000000000"
    assert ".bashrc" not in (report["root_home"] or [])  # only what the interpreter needs, if anything
    assert {"code", "input", "model", "output"} <= set(report["opt_ml"])


def test_docker_worker_is_unprivileged_without_capabilities(
    jobs_home: Path, tmp_path: Path, docker_engine: str
) -> None:
    caller_data = tmp_path / "caller-private"
    caller_data.mkdir()
    script = write_script(tmp_path, "probe.py", PROBE_SCRIPT)
    est = Estimator(str(script), image_uri=docker_engine, environment={"CALLER_DATA": str(caller_data)})
    est.fit(job_name="docker-probe", logs=False)
    report = json.loads((Path(est.model_data) / "report.json").read_text())
    expected = (65534, 65534) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    assert (report["uid"], report["gid"]) == expected
    assert report["caller_data"] is False and report["shadow"] is False
    assert report["caps"] == "0000000000000000"
