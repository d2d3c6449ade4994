"""``Model``: an artifact plus how to serve it; ``deploy`` starts an endpoint's server processes."""

from __future__ import annotations

import datetime as dt
import tarfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from smdbg._optional import require_installed
from smdbg._proc import pid_alive
from smdbg._sdk_args import sdk_kwargs
from smdbg.platform.jobs._instances import resolve_instance_type
from smdbg.platform.serving._capture import DataCaptureConfig
from smdbg.platform.serving._errors import (
    CodeExecutionWarning,
    EndpointError,
    EndpointNotFound,
    ModelLoadError,
)
from smdbg.platform.serving._launch import Instances, check_instance_count
from smdbg.platform.serving._limits import EndpointLimits
from smdbg.platform.serving._loader import ARTIFACT_NAMES, ARTIFACTS, CODE_ON_LOAD, normalize_framework
from smdbg.platform.serving._predictor import _CHILDREN, Predictor, delete_endpoint
from smdbg.platform.serving._state import (
    EndpointRecord,
    endpoints_dir,
    load_record,
    save_record,
    validate_name,
)

__all__ = ["Model"]

# What the endpoint's server process imports for each framework (module, extra that installs it).
_SERVER_NEEDS: dict[str, tuple[tuple[str, str], ...]] = {
    "sklearn": (("sklearn", "platform"), ("joblib", "platform"), ("pandas", "platform")),
    "pytorch": (("torch", "torch"),),
    "tensorflow": (("keras", "tensorflow"),),
}


def _require_server_packages(framework: str) -> None:
    """One line here, not a traceback in the server's log, when the server could not import something."""
    for module in ("starlette", "uvicorn"):
        require_installed(module, extra="platform", feature="a model endpoint")
    for module, extra in _SERVER_NEEDS.get(framework, ()):
        require_installed(module, extra=extra, feature=f"serving a {framework} model")


def _artifact_names(model_data: Path) -> set[str]:
    if model_data.is_dir():
        return {p.name for p in model_data.iterdir()}
    if model_data.is_file() and model_data.name.endswith((".tar.gz", ".tgz")):
        try:
            with tarfile.open(model_data, "r:gz") as tar:
                return {Path(n).name for n in tar.getnames() if len(Path(n).parts) <= 2}
        except (tarfile.TarError, OSError) as e:
            raise ModelLoadError(f"model_data {str(model_data)!r} is not a readable .tar.gz ({e})") from e
    raise ModelLoadError(
        f"model_data {str(model_data)!r} is not a directory or a .tar.gz file; expected a directory or "
        "archive holding model.skops, model.joblib, model.pt, model.keras or inference.py"
    )


class Model:
    """A model artifact and how to serve it (``sklearn``, ``pytorch``, ``tensorflow`` or ``custom``).

    ``framework`` is inferred from the files when not given; ``entry_point`` names an
    ``inference.py``-style script (relative to the model directory, or absolute). A
    ``model.joblib`` artifact (a pickle, which runs code when loaded) issues a
    :class:`CodeExecutionWarning`; ``model.skops`` is the safe scikit-learn format.
    """

    def __init__(
        self,
        model_data: str | Path,
        entry_point: str | None = None,
        framework: str | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        #: the SageMaker SDK arguments given (role, sagemaker_session, ...); see docs/compatibility.md
        self.sdk_arguments = sdk_kwargs("Model", kwargs).values
        path = Path(model_data).expanduser().resolve()
        names = _artifact_names(path)
        if framework is not None:
            framework = normalize_framework(framework)
        elif entry_point or ("inference.py" in names and not names & ARTIFACT_NAMES):
            framework = "custom"
        else:
            found = [fw for fw, arts in ARTIFACTS.items() if names & set(arts)]
            if not found:
                raise ModelLoadError(
                    f"no model artifact in {str(path)!r} (found {sorted(names)[:10]}); expected "
                    "model.skops, model.joblib, model.pt, model.keras or inference.py, or pass framework="
                )
            framework = found[0]
        artifact = next((a for a in ARTIFACTS.get(framework, ()) if a in names), None)
        if artifact in CODE_ON_LOAD and not (entry_point or framework == "custom"):
            warnings.warn(f"{path}: {CODE_ON_LOAD[artifact]}", CodeExecutionWarning, stacklevel=2)
        if entry_point is not None:
            ep = Path(entry_point)
            if not ep.is_absolute() and not (path.is_dir() and (path / ep).exists()):
                ep = ep.resolve()
            entry_point = str(ep)
        self.model_data = str(path)
        self.entry_point = entry_point
        self.framework = framework
        self.name = name

    def deploy(
        self,
        initial_instance_count: int = 1,
        instance_type: str = "local",
        endpoint_name: str | None = None,
        data_capture_config: DataCaptureConfig | Mapping[str, Any] | None = None,
        wait: bool = True,
        startup_timeout: float = 120.0,
        limits: EndpointLimits | None = None,
        **kwargs: Any,
    ) -> Predictor:
        """Start the endpoint's ``initial_instance_count`` server processes and return a :class:`Predictor`.

        The instances share the endpoint's one port (see :mod:`smdbg.platform.serving._launch`);
        each loads the model, holds the instance type's CPU and memory limits, and writes its own
        capture files. A count that is not an int from 1 to ``MAX_INSTANCES`` (32) is a ``ValueError``.

        ``limits`` (an :class:`EndpointLimits`) sets the body size, concurrency, timeouts and JSON
        depth the server enforces. ``instance_type`` (``local`` or an ``ml.*`` type of
        ``smdbg.platform.jobs.INSTANCE_TYPES``) limits the server's CPUs and memory as a local job's.
        ``data_capture_config`` is a :class:`DataCaptureConfig` or the API's dict
        (``{"EnableCapture": True, "InitialSamplingPercentage": 50, "DestinationS3Uri": ...}``).
        Other SageMaker SDK arguments (``serializer``, ``tags``, ...) are accepted and ignored.

        Returns once every instance answers ``GET /ping`` with 200. Raises :class:`EndpointError`
        with the failing instance's log tail when one exits during startup (e.g. a model that
        cannot be loaded); the other instances are stopped then.
        """
        sdk_kwargs("Model.deploy", kwargs)  # AWS-only arguments: accepted, ignored
        instance = resolve_instance_type(instance_type)
        count = check_instance_count(initial_instance_count)
        _require_server_packages(self.framework)
        now = dt.datetime.now(dt.timezone.utc)
        name = validate_name(endpoint_name or f"{self.name or self.framework}-{now:%Y%m%d-%H%M%S-%f}"[:63])
        try:
            existing = load_record(name)
            if any(pid_alive(pid, start) for pid, start in existing.processes()):
                raise EndpointError(
                    f"endpoint {name!r} already runs at {existing.url}; delete it first "
                    f"(smdbg endpoints delete {name}) or choose another endpoint_name"
                )
        except EndpointNotFound:
            pass
        endpoints_dir().mkdir(parents=True, exist_ok=True)
        capture = (
            None if data_capture_config is None else DataCaptureConfig.coerce(data_capture_config).to_dict()
        )
        if limits is not None and not isinstance(limits, EndpointLimits):
            raise TypeError(f"limits={limits!r}: expected an EndpointLimits or None")
        record = EndpointRecord(
            name=name,
            port=0,
            model_data=self.model_data,
            framework=self.framework,
            entry_point=self.entry_point,
            capture=capture,
            limits=(limits or EndpointLimits()).to_dict(),
            instance_type=instance.name,
            created=now.isoformat(timespec="seconds"),
            log_path=str(endpoints_dir() / f"{name}.log"),
        )
        instances = Instances(record, instance, count)
        try:
            instances.start(save_record(record))
        except BaseException:  # e.g. a socket or process that could not be made: stop those started
            _CHILDREN[name] = instances.procs
            delete_endpoint(name)
            raise
        _CHILDREN[name] = instances.procs
        if not wait:
            return Predictor(name)
        failure = instances.wait_ready(startup_timeout)
        if failure is None:
            return Predictor(name)
        try:  # stop the others (and a slow one), keep nothing of the endpoint
            delete_endpoint(name)
        except EndpointError:
            pass
        raise EndpointError(f"endpoint {name!r} failed to start: {failure}")
