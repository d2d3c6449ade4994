"""AutoML on tabular data: ranked candidate pipelines, the best one saved and deployable.

The local counterpart of SageMaker Autopilot (``sagemaker.automl.automl.AutoML``)::

    from smdbg.platform.automl import AutoML

    automl = AutoML("label", total_job_runtime_in_seconds=60, output_path="automl-out")
    automl.fit("train.csv", job_name="churn")
    automl.list_candidates()[:3]          # best first
    predictor = automl.deploy()           # serves best_model/ through smdbg.platform.serving

See docs/automl.md.
"""

from __future__ import annotations

from smdbg._optional import require

for _module in ("pandas", "sklearn", "optuna"):  # AutoML needs all three: say so on import, in one line
    require(_module, extra="platform", feature="AutoML (smdbg.platform.automl)")

from ._errors import AutoMLError, AutoMLInputError, AutoMLJobError  # noqa: E402
from ._job import DEFAULT_TOTAL_RUNTIME, AutoML, read_job, stop_automl_job  # noqa: E402
from ._problem import OBJECTIVES, PROBLEM_TYPES, infer_problem_type  # noqa: E402
from ._space import ALGORITHMS, SEARCH_SPACES, build_pipeline  # noqa: E402

__all__ = [
    "AutoML",
    "AutoMLError",
    "AutoMLInputError",
    "AutoMLJobError",
    "ALGORITHMS",
    "DEFAULT_TOTAL_RUNTIME",
    "OBJECTIVES",
    "PROBLEM_TYPES",
    "SEARCH_SPACES",
    "build_pipeline",
    "infer_problem_type",
    "read_job",
    "stop_automl_job",
]
