"""With only the core installed (numpy, pyarrow), every feature that needs more says so in one line.

Each check runs in a fresh interpreter where ``_core_only.py`` hides every optional package (the
import fails exactly as it does when the package is not installed). The API raises
``MissingDependencyError`` (an ``ImportError`` and a ``SmdbgError``) naming the package and the
extra to install; the command line prints that one line, with no traceback, and exits with 2.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from smdbg.store import BackgroundWriter, Record

ROOT = str(Path(__file__).resolve().parents[2])
CORE_ONLY = str(Path(__file__).with_name("_core_only.py"))

# what the snippet under test raises is printed as: extra|package|is an ImportError|is an SmdbgError
_REPORT = """
import sys
from smdbg._optional import MissingDependencyError
from smdbg.exceptions import SmdbgError
try:
{body}
except MissingDependencyError as e:
    print(e.extra, e.package, isinstance(e, ImportError), isinstance(e, SmdbgError), sep="|")
    print(e)
    sys.exit(3)
print("no error")
"""


def core_only(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": ROOT, "SMDBG_HOME": str(tmp_path / "home")}
    return subprocess.run(
        [sys.executable, CORE_ONLY, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def trial(tmp_path: Path) -> Path:
    path = tmp_path / "trial"
    with BackgroundWriter(path, "worker_0") as w:
        w.write_trial_metadata({"framework": "test", "num_workers": 1})
        for step in range(3):
            w.add(step, "TRAIN", step, [Record("loss", ("losses",), "raw", float(step), "float32", (), None)])
    return path


def assert_one_line_hint(message: str, extra: str, package: str) -> None:
    assert "\n" not in message.strip(), message
    assert f"needs {package}, which is not installed" in message, message
    assert f"pip install 'smdbg[{extra}]'" in message and f"pip install -e '.[{extra}]'" in message, message


API_CASES = {
    "trial.to_pandas": ("create_trial(TRIAL).to_pandas()", "query", "pandas"),
    "trial.sql": ("create_trial(TRIAL).sql('select count(*) from trial')", "query", "duckdb"),
    "Tracker.create": (
        "from smdbg.tracker import Tracker; Tracker.create(db_url=DB)",
        "tracker",
        "sqlalchemy",
    ),
    "Experiment.create": (
        "from smdbg.tracker import Experiment; Experiment.create('e', db_url=DB)",
        "tracker",
        "sqlalchemy",
    ),  # fmt: skip
    "s3 trial": ("create_trial('s3://bucket/trial', timeout=0)", "s3", "fsspec"),
    "smdbg.pytorch": ("import smdbg.pytorch", "torch", "torch"),
    "smdbg.tensorflow": ("import smdbg.tensorflow", "tensorflow", "tensorflow"),
    "AutoML": ("from smdbg.platform.automl import AutoML", "platform", "pandas"),
    "Model.deploy": (
        "from smdbg.platform.serving import Model; Model(MODEL).deploy(endpoint_name='e')",
        "platform",
        "starlette",
    ),  # fmt: skip
    "monitor baseline": (
        "from smdbg.platform.monitor import DefaultModelMonitor; "
        "DefaultModelMonitor().suggest_baseline(CSV, output_s3_uri=OUT)",
        "platform",
        "datasketches",
    ),  # fmt: skip
    "TensorBoard export": (
        "from smdbg.tb import TensorBoardWriter; TensorBoardWriter(OUT)",
        "tensorboard",
        "tensorboard",
    ),  # fmt: skip
}


@pytest.mark.parametrize("case", list(API_CASES))
def test_api_names_the_missing_package_and_its_extra(case: str, tmp_path: Path, trial: Path) -> None:
    body, extra, package = API_CASES[case]
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.joblib").write_bytes(b"")  # never loaded: deploy stops before
    (tmp_path / "data.csv").write_text("a,b\n1,2\n3,4\n")
    setup = (
        f"from smdbg.trials import create_trial\nTRIAL = {str(trial)!r}\n"
        f"DB = 'sqlite:///{tmp_path / 'tracker.db'}'\nMODEL = {str(tmp_path / 'model')!r}\n"
        f"CSV = {str(tmp_path / 'data.csv')!r}\nOUT = {str(tmp_path / 'out')!r}\n"
    )
    code = _REPORT.format(body=textwrap.indent(setup + body, "    "))
    out = core_only(tmp_path, "-c", code)
    assert out.returncode == 3, out.stdout + out.stderr
    report, message = out.stdout.strip().split("\n", 1)
    assert report == f"{extra}|{package}|True|True"
    assert_one_line_hint(message, extra, package)
    assert not (tmp_path / "tracker.db").exists()  # nothing was half-created


CLI_CASES = {
    "run": (["run", "train.py"], "torch", "torch"),
    "experiments list": (["experiments", "list", "--db-url", "sqlite:///t.db"], "tracker", "sqlalchemy"),
    "export tensorboard": (["export", "tensorboard", "--trial", "TRIAL", "tb"], "tensorboard", "tensorboard"),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_cli_prints_one_line_and_exits_2(case: str, tmp_path: Path, trial: Path) -> None:
    argv, extra, package = CLI_CASES[case]
    (tmp_path / "train.py").write_text("print('trained')\n")
    argv = [str(trial) if a == "TRIAL" else a for a in argv]
    out = core_only(tmp_path, "-m", "smdbg.cli", *argv)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr and "trained" not in out.stdout
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"smdbg {case}: error: "), out.stderr
    assert_one_line_hint(lines[0], extra, package)


def test_the_core_works_without_any_optional_package(tmp_path: Path, trial: Path) -> None:
    code = f"""
import smdbg, smdbg.rules, smdbg.tracker, smdbg.platform.jobs, smdbg.platform.serving, smdbg.platform.monitor
from smdbg.cli import build_parser
build_parser()
t = smdbg.create_trial({str(trial)!r})
assert t.steps() == [0, 1, 2] and t.to_arrow().num_rows == 3
assert list(t.tensor("loss").history()[1]) == [0.0, 1.0, 2.0]
print("core ok")
"""
    out = core_only(tmp_path, "-c", code)
    assert out.returncode == 0 and out.stdout.strip() == "core ok", out.stdout + out.stderr
    listing = core_only(tmp_path, "-m", "smdbg.cli", "trial", "summary", str(trial))
    assert listing.returncode == 0 and "Traceback" not in listing.stderr, listing.stdout + listing.stderr


def test_the_hiding_is_real(tmp_path: Path) -> None:
    """The harness itself: a hidden package fails to import as a missing one does, core packages import."""
    out = core_only(tmp_path, "-c", "import numpy, pyarrow\ntry:\n    import pandas\nexcept ModuleNotFoundError as e:\n"
                                    "    print(e.name)")  # fmt: skip
    assert out.returncode == 0 and out.stdout.strip() == "pandas", out.stdout + out.stderr
