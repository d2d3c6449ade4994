"""Framework estimators: the same job, with each framework's distributed-training environment."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from smdbg.platform.jobs._estimator import Estimator

__all__ = ["PyTorch", "TensorFlow", "MXNet", "SKLearn"]


class _Framework(Estimator):
    """A framework estimator with the SageMaker SDK's positional order: ``entry_point,
    framework_version, py_version, source_dir, hyperparameters, image_uri``; everything else by
    keyword, as :class:`Estimator` takes it."""

    def __init__(
        self,
        entry_point: str,
        framework_version: str | None = None,
        py_version: str | None = None,
        source_dir: str | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        image_uri: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            entry_point,
            source_dir,
            hyperparameters,
            image_uri=image_uri,
            framework_version=framework_version,
            py_version=py_version,
            **kwargs,
        )


class PyTorch(_Framework):
    """``instance_count > 1`` starts that many workers with torchrun's variables (MASTER_ADDR,
    MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK...), so ``dist.init_process_group("gloo")`` works
    unchanged. DGL scripts run through this estimator too. With ``rules`` or a
    ``debugger_hook_config`` the entry point runs under ``smdbg run`` (the zero-code-change
    launcher), so an unmodified script is instrumented from the job's hook config."""

    framework = "pytorch"
    zero_code_change = True

    def _distributed_env(self, rank: int, world: int, port: int) -> dict[str, str]:
        return {
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "RANK": str(rank),
            "WORLD_SIZE": str(world),
            "LOCAL_RANK": "0",
            "LOCAL_WORLD_SIZE": "1",
            "GROUP_RANK": str(rank),
            "NODE_RANK": str(rank),
        }


class TensorFlow(_Framework):
    """``instance_count > 1`` sets ``TF_CONFIG`` (a MultiWorkerMirroredStrategy cluster on 127.0.0.1)."""

    framework = "tensorflow"

    def _distributed_env(self, rank: int, world: int, port: int) -> dict[str, str]:
        workers = [f"127.0.0.1:{port + i}" for i in range(world)]
        return {
            "TF_CONFIG": json.dumps(
                {"cluster": {"worker": workers}, "task": {"type": "worker", "index": rank}}
            )
        }


class MXNet(_Framework):
    """Workers get ``SM_HOSTS``/``SM_CURRENT_HOST``; MXNet's own parameter servers are not started."""

    framework = "mxnet"


class SKLearn(_Framework):
    """scikit-learn trains on one instance (as on SageMaker)."""

    framework = "sklearn"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance_count != 1:  # also when given as train_instance_count
            raise ValueError(
                f"SKLearn got instance_count={self.instance_count!r}: scikit-learn jobs run on "
                "exactly 1 instance"
            )
