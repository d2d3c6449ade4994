"""Model artifacts: extraction folders do not outlive endpoints; formats that run code on load say so."""

from __future__ import annotations

import os
import signal
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from _endpoint_helpers import endpoint_home, sklearn_model_dir

from smdbg._proc import pid_alive
from smdbg.platform.serving import CodeExecutionWarning, EndpointError, Model
from smdbg.platform.serving._state import load_record

__all__ = ["endpoint_home"]  # fixture imported for pytest


def _tarball(model_dir: Path, out: Path) -> Path:
    with tarfile.open(out, "w:gz") as tar:
        for f in model_dir.iterdir():
            tar.add(f, arcname=f.name)
    return out


def test_tar_gz_extraction_folders_go_with_the_endpoint(endpoint_home: Path, tmp_path: Path) -> None:
    archive = _tarball(sklearn_model_dir(tmp_path / "m"), tmp_path / "model.tar.gz")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CodeExecutionWarning)
        model = Model(str(archive))
    extracted = endpoint_home / "endpoints" / "tgz.model"
    predictor = model.deploy(endpoint_name="tgz")
    assert (extracted / "model.joblib").is_file()
    predictor.delete_endpoint()  # a clean stop: the server removes it
    assert not extracted.exists()

    predictor = model.deploy(endpoint_name="tgz")  # killed: delete_endpoint removes what it left
    pid = load_record("tgz").pid
    assert pid is not None and extracted.is_dir()
    os.killpg(pid, signal.SIGKILL)
    predictor.delete_endpoint()
    assert not pid_alive(pid)
    assert not extracted.exists()
    left = sorted(p.name for p in (endpoint_home / "endpoints").iterdir() if p.name.startswith("tgz"))
    assert left == ["tgz.log"]  # the server log is kept


def test_a_pickle_model_warns_that_loading_it_runs_code(endpoint_home: Path, tmp_path: Path) -> None:
    model_dir = sklearn_model_dir(tmp_path / "m")
    with pytest.warns(CodeExecutionWarning, match="model.joblib is a pickle: loading it runs any code"):
        model = Model(str(model_dir))
    predictor = model.deploy(endpoint_name="pickled")
    log = Path(load_record("pickled").log_path).read_text()
    predictor.delete_endpoint()
    assert "WARNING" in log and "model.joblib is a pickle" in log


def test_skops_serves_scikit_learn_without_running_code(endpoint_home: Path, tmp_path: Path) -> None:
    sio = pytest.importorskip("skops.io")
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    X = rng.normal(size=(100, 3))
    fitted = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
    safe = tmp_path / "safe"
    safe.mkdir()
    sio.dump(fitted, safe / "model.skops")
    with warnings.catch_warnings():
        warnings.simplefilter("error", CodeExecutionWarning)  # no warning for the safe format
        model = Model(str(safe))
    assert model.framework == "sklearn"
    predictor = model.deploy(endpoint_name="skops")
    try:
        np.testing.assert_array_equal(predictor.predict(X[:5]), fitted.predict(X[:5]))
    finally:
        predictor.delete_endpoint()
    # A file holding a type skops does not trust is refused, naming the type.
    unsafe = tmp_path / "unsafe"
    unsafe.mkdir()
    sio.dump({"model": fitted, "extra": Path("x")}, unsafe / "model.skops")
    with pytest.raises(EndpointError, match="does not trust by default.*PosixPath"):
        Model(str(unsafe)).deploy(endpoint_name="unsafe")
