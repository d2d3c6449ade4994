"""A SageMaker-compatible control plane over smdbg: the real boto3 ``sagemaker`` and
``sagemaker-runtime`` clients, pointed at ``smdbg api serve``, drive smdbg's jobs, AutoML,
endpoints, model monitor and tracker.

::

    smdbg api serve --port 8070          # or smdbg.platform.api.serve(port=8070)
    AWS_ENDPOINT_URL_SAGEMAKER=http://127.0.0.1:8070 python notebook_code.py

See docs/api.md.
"""

from __future__ import annotations

from smdbg.platform.api._auth import Credentials, load_credentials
from smdbg.platform.api._limits import ServiceLimits
from smdbg.platform.api._protocol import ApiError
from smdbg.platform.api._server import DEFAULT_PORT, serve

__all__ = ["serve", "Credentials", "load_credentials", "ApiError", "DEFAULT_PORT", "ServiceLimits"]
