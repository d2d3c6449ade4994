"""Jobs and secrets: workers get only what they need, nothing secret is written or shown in clear,
and a job's folder is its owner's alone. Real jobs (supervisor and worker subprocesses)."""
# ruff: noqa: F811  (pytest fixtures imported from _jobs_helpers are used as parameters)

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from _jobs_helpers import jobs_cli, jobs_home, write_script  # noqa: F401

from smdbg.platform.jobs import Estimator, ScriptProcessor, describe_job, job_logs

ENV_SCRIPT = """
import json, os
json.dump(dict(os.environ), open(os.environ["SM_MODEL_DIR"] + "/env.json", "w"))
print("token is", os.environ.get("API_TOKEN"), "db is", os.environ.get("DB_URL"), flush=True)
"""
CLOUD_KEY = "AKIAcallerSecretValue0001"
TOKEN = "tok-7a1b2c3d4e5f"
DB_PASSWORD = "pw-s3cr3t-99"


def _everything_written(job_dir: Path) -> str:
    """Every file smdbg wrote for the job (outside the worker's own /opt/ml tree)."""
    texts = []
    for p in job_dir.rglob("*"):
        if p.is_file() and "ml" not in p.relative_to(job_dir).parts:
            texts.append(p.read_text(errors="replace"))
    return "\n".join(texts)


@pytest.fixture
def secret_caller(jobs_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CLOUD_KEY)
    monkeypatch.setenv("CALLER_ONLY_SETTING", "not-for-jobs")
    return jobs_home


def test_caller_environment_does_not_reach_the_worker(secret_caller: Path, tmp_path: Path) -> None:
    script = write_script(tmp_path, "train.py", ENV_SCRIPT)
    est = Estimator(str(script))
    est.fit(job_name="env-min", logs=False)
    seen = json.loads((Path(est.model_data) / "env.json").read_text())
    assert "AWS_SECRET_ACCESS_KEY" not in seen and "CALLER_ONLY_SETTING" not in seen
    assert seen["SMDBG_HOME"] == str(secret_caller) and "PATH" in seen and "SM_MODEL_DIR" in seen
    assert CLOUD_KEY not in _everything_written(est.latest_training_job.job_dir)  # type: ignore[union-attr]


def test_allowlist_parameter_and_setting_let_named_variables_through(
    secret_caller: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMDBG_JOBS_ENV_ALLOWLIST", "CALLER_ONLY_*")
    script = write_script(tmp_path, "train.py", ENV_SCRIPT)
    est = Estimator(str(script), env_allowlist=["AWS_SECRET_ACCESS_KEY"])
    est.fit(job_name="env-allow", logs=False)
    seen = json.loads((Path(est.model_data) / "env.json").read_text())
    assert seen["AWS_SECRET_ACCESS_KEY"] == CLOUD_KEY and seen["CALLER_ONLY_SETTING"] == "not-for-jobs"
    job_dir = est.latest_training_job.job_dir  # type: ignore[union-attr]
    assert CLOUD_KEY not in _everything_written(job_dir)  # the worker has it; no file does
    spec = json.loads((job_dir / "spec.json").read_text())
    assert spec["workers"][0]["env"]["AWS_SECRET_ACCESS_KEY"] == "***"


def test_bad_allowlist_entry_is_refused_before_anything_is_written(
    secret_caller: Path, tmp_path: Path
) -> None:
    script = write_script(tmp_path, "train.py", ENV_SCRIPT)
    with pytest.raises(ValueError, match="env_allowlist entry 'A=B' is not a variable name"):
        Estimator(str(script), env_allowlist=["A=B"])
    with pytest.raises(ValueError, match="expected a list of variable names"):
        ScriptProcessor(command=["python3"], env_allowlist="HF_TOKEN")  # type: ignore[arg-type]
    assert not (secret_caller / "jobs").exists()


def test_explicit_secrets_reach_the_worker_but_are_redacted_everywhere(
    secret_caller: Path, tmp_path: Path
) -> None:
    script = write_script(tmp_path, "train.py", ENV_SCRIPT)
    db_url = f"postgresql://admin:{DB_PASSWORD}@127.0.0.1/db"
    est = Estimator(str(script), environment={"API_TOKEN": TOKEN, "DB_URL": db_url})
    est.fit(job_name="env-explicit", logs=False)
    seen = json.loads((Path(est.model_data) / "env.json").read_text())
    assert seen["API_TOKEN"] == TOKEN and seen["DB_URL"] == db_url  # the worker gets the real values
    job_dir = est.latest_training_job.job_dir  # type: ignore[union-attr]
    written = _everything_written(job_dir)
    assert TOKEN not in written and DB_PASSWORD not in written
    desc = describe_job("env-explicit")
    assert desc["Environment"] == {"API_TOKEN": "***", "DB_URL": "postgresql://admin:***@127.0.0.1/db"}
    shown = jobs_cli("describe", "env-explicit")
    assert shown.returncode == 0 and TOKEN not in shown.stdout and DB_PASSWORD not in shown.stdout
    log = job_logs("env-explicit")["algo-1"]
    assert "token is *** db is postgresql://admin:***@127.0.0.1/db" in log  # masked in the job's log
    logs_cli = jobs_cli("logs", "env-explicit")
    assert TOKEN not in logs_cli.stdout and DB_PASSWORD not in logs_cli.stdout


def test_job_folder_and_files_are_owner_only(secret_caller: Path, tmp_path: Path) -> None:
    code = write_script(tmp_path, "p.py", "print('hello', flush=True)\n")
    ScriptProcessor(command=["python3"], env={"X_PASSWORD": "p4ssw0rd!"}).run(
        code=str(code), job_name="perm-check", logs=False
    )
    job_dir = secret_caller / "jobs" / "perm-check"
    for d in (secret_caller / "jobs", job_dir, job_dir / "logs"):
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700, d
    for f in ("spec.json", "job.json", "supervisor.log", "logs/algo-1.log"):
        assert stat.S_IMODE(os.stat(job_dir / f).st_mode) == 0o600, f
    assert "p4ssw0rd!" not in _everything_written(job_dir)
