"""Model artifacts: find the framework, load the model, score a request.

Artifact contract: ``model_data`` is a directory or a ``.tar.gz`` holding ``model.skops`` or
``model.joblib`` (scikit-learn estimator or Pipeline; optional ``metadata.json`` with
``feature_names``),
``model.pt`` (TorchScript) or ``model.keras`` (Keras 3); or an ``inference.py`` entry point with
``model_fn(model_dir)`` and optional ``input_fn(body, content_type)``,
``predict_fn(data, model)`` and ``output_fn(prediction, accept)`` (the SageMaker inference
toolkit convention). Framework imports happen here only, in the server process.

``model.joblib`` is a pickle: loading it runs whatever code the file names, so the server logs a
warning (see :data:`CODE_ON_LOAD`); ``model.skops`` is loaded by skops, which refuses types it
does not trust.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from smdbg._optional import require
from smdbg.platform.serving._codec import CSV, JSON, base_type, decode, encode
from smdbg.platform.serving._errors import BadRequest, ModelLoadError

__all__ = [
    "FRAMEWORKS", "ARTIFACTS", "ARTIFACT_NAMES", "CODE_ON_LOAD", "resolve_model_dir", "infer_framework",
    "ModelHandler",
]  # fmt: skip

log = logging.getLogger("smdbg.serving")

# The artifact files of each framework, the preferred (safe) one first.
ARTIFACTS = {
    "sklearn": ("model.skops", "model.joblib"),
    "pytorch": ("model.pt",),
    "tensorflow": ("model.keras",),
}
ARTIFACT_NAMES = frozenset(name for names in ARTIFACTS.values() for name in names)
FRAMEWORKS = (*ARTIFACTS, "custom")
# Artifacts whose loading runs code stored in the file, and what to say about it.
CODE_ON_LOAD = {
    "model.joblib": (
        "model.joblib is a pickle: loading it runs any code the file carries. Deploy only artifacts "
        "you trust, or save scikit-learn models with skops as model.skops (see docs/serving.md)"
    ),
}
_ALIASES = {"scikit-learn": "sklearn", "torch": "pytorch", "keras": "tensorflow", "tf": "tensorflow"}


def resolve_model_dir(model_data: str | Path, workdir: str | None = None) -> Path:
    """The directory holding the artifact; a ``.tar.gz`` is extracted into ``workdir`` (emptied
    first; the caller removes it when done) or a new temporary directory."""
    path = Path(model_data).expanduser()
    if path.is_dir():
        return path
    if path.is_file() and (path.name.endswith(".tar.gz") or path.name.endswith(".tgz")):
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)
            Path(workdir).mkdir(parents=True)
        target = Path(workdir or tempfile.mkdtemp(prefix="smdbg-model-"))
        try:
            with tarfile.open(path, "r:gz") as tar:
                tar.extractall(target, filter="data")
        except (tarfile.TarError, OSError) as e:
            raise ModelLoadError(f"model_data {str(path)!r} is not a readable .tar.gz ({e})") from e
        return target
    raise ModelLoadError(
        f"model_data {str(model_data)!r} is not a directory or a .tar.gz file; expected a directory "
        "or archive holding model.joblib, model.pt, model.keras or inference.py"
    )


def normalize_framework(framework: str) -> str:
    name = _ALIASES.get(framework.lower(), framework.lower())
    if name not in FRAMEWORKS:
        raise ValueError(f"framework {framework!r} is not supported; expected one of {list(FRAMEWORKS)}")
    return name


def infer_framework(model_dir: Path, entry_point: str | None = None) -> str:
    if entry_point:
        return "custom"
    for framework, artifacts in ARTIFACTS.items():
        if any((model_dir / artifact).exists() for artifact in artifacts):
            return framework
    if (model_dir / "inference.py").exists():
        return "custom"
    found = sorted(p.name for p in model_dir.iterdir())[:10]
    raise ModelLoadError(
        f"no model artifact in {str(model_dir)!r} (found {found}); expected model.skops, model.joblib, "
        "model.pt, model.keras or inference.py"
    )


def _load_entry_point(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"smdbg_user_inference_{abs(hash(path))}", path)
    if spec is None or spec.loader is None:
        raise ModelLoadError(f"entry point {str(path)!r} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "model_fn"):
        raise ModelLoadError(f"entry point {str(path)!r} defines no model_fn(model_dir); add one")
    return module


class ModelHandler:
    """A loaded model plus the input/predict/output functions around it."""

    def __init__(self, model_dir: Path, framework: str, entry_point: str | None = None) -> None:
        self.model_dir = model_dir
        self.framework = normalize_framework(framework)
        meta_path = model_dir / "metadata.json"
        self.metadata: dict[str, Any] = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        names = self.metadata.get("feature_names")
        self.feature_names: list[str] | None = list(names) if names else None
        self.user: Any = None
        self.max_json_depth: int | None = None  # set by the server from its limits
        if entry_point or self.framework == "custom":
            ep = Path(entry_point) if entry_point else model_dir / "inference.py"
            if not ep.is_absolute():
                ep = model_dir / ep if (model_dir / ep).exists() else ep.resolve()
            self.user = _load_entry_point(ep)
            self.model = self.user.model_fn(str(model_dir))
        else:
            self.model = self._load_builtin()
        self.n_features = self._n_features()

    def _load_builtin(self) -> Any:
        candidates = [self.model_dir / name for name in ARTIFACTS[self.framework]]
        path = next((p for p in candidates if p.exists()), None)
        if path is None:
            raise ModelLoadError(
                f"none of {[p.name for p in candidates]} is in {str(self.model_dir)!r}; the {self.framework} "
                f"artifact is {' or '.join(p.name for p in candidates)}"
            )
        if path.name in CODE_ON_LOAD:
            log.warning("%s: %s", path, CODE_ON_LOAD[path.name])
        try:
            if path.name == "model.skops":
                return self._load_skops(path)
            if self.framework == "sklearn":
                import joblib

                return joblib.load(path)
            if self.framework == "pytorch":
                import torch

                model = torch.jit.load(str(path), map_location="cpu")
                model.eval()
                return model
            import keras

            return keras.saving.load_model(str(path), safe_mode=True)
        except ModelLoadError:
            raise
        except Exception as e:
            raise ModelLoadError(
                f"cannot load {self.framework} model {str(path)!r}: {type(e).__name__}: {e}"
            ) from e

    def _load_skops(self, path: Path) -> Any:
        sio = require("skops.io", extra="platform", feature="serving a model.skops artifact")
        trusted = list(self.metadata.get("skops_trusted_types") or [])
        untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in trusted]
        if untrusted:
            raise ModelLoadError(
                f"{str(path)!r} holds types skops does not trust by default: {untrusted}; check them, then "
                'list the ones you trust in metadata.json as {"skops_trusted_types": [...]}'
            )
        return sio.load(path, trusted=trusted or None)

    def _n_features(self) -> int | None:
        if self.feature_names:
            return len(self.feature_names)
        if self.metadata.get("n_features"):
            return int(self.metadata["n_features"])
        n = getattr(self.model, "n_features_in_", None)
        if n is not None:
            return int(n)
        shape = getattr(self.model, "input_shape", None)  # Keras
        if isinstance(shape, tuple) and len(shape) == 2 and isinstance(shape[1], int):
            return shape[1]
        return None

    # -- scoring ---------------------------------------------------------------------------
    def input_fn(self, body: bytes, content_type: str) -> Any:
        if self.user is not None and hasattr(self.user, "input_fn"):
            return self.user.input_fn(body, content_type)
        rows = decode(body, content_type, self.feature_names, self.max_json_depth)
        width = rows.shape[1] if isinstance(rows, np.ndarray) else len(rows[0])
        if self.n_features is not None and width != self.n_features:
            raise BadRequest(
                f"request rows have {width} features but the model expects {self.n_features}; "
                f"send {self.n_features} values per row"
            )
        if self.feature_names is not None:
            import pandas as pd

            frame = pd.DataFrame(rows, columns=self.feature_names)
            for col in frame.columns:
                if frame[col].dtype == object:
                    try:
                        frame[col] = pd.to_numeric(frame[col])
                    except (ValueError, TypeError):
                        pass
            return frame
        return rows

    def predict_fn(self, data: Any) -> Any:
        if self.user is not None and hasattr(self.user, "predict_fn"):
            return self.user.predict_fn(data, self.model)
        if self.framework == "pytorch":
            import torch

            with torch.no_grad():
                out = self.model(torch.as_tensor(np.asarray(data), dtype=torch.float32))
            return out.numpy()
        if self.framework == "tensorflow":
            return np.asarray(self.model(np.asarray(data, dtype=np.float32), training=False))
        return self.model.predict(data)

    def output_fn(self, prediction: Any, accept: str) -> tuple[bytes, str]:
        if self.user is not None and hasattr(self.user, "output_fn"):
            out = self.user.output_fn(prediction, accept)
            if isinstance(out, tuple):
                body, ctype = out
            else:
                body, ctype = out, accept
            return (body.encode() if isinstance(body, str) else bytes(body)), ctype
        return encode(prediction, accept)

    def invoke(self, body: bytes, content_type: str, accept: str | None) -> tuple[bytes, str]:
        """Score one request: (response body, response content type). Raises BadRequest."""
        kind = base_type(accept)
        if not kind or kind == "*/*":
            request_kind = base_type(content_type)
            accept = request_kind if request_kind in (CSV, JSON) else JSON
        try:
            data = self.input_fn(body, content_type)
            prediction = self.predict_fn(data)
        except BadRequest:
            raise
        except ValueError as e:  # how scikit-learn and input_fn functions reject input
            raise BadRequest(f"the model rejected the input: {e}") from e
        return self.output_fn(prediction, accept or JSON)
