#!/usr/bin/env bash
# Create (or refresh) the SageMaker Python SDK v2 test environment .venv-sagemaker at the
# repository root.
#
# The SageMaker Python SDK pins its own boto3, protobuf, numpy and pandas ranges; installing it into
# the shared .venv would move packages the rest of the suite relies on. Its tests (tests/api_sdk)
# therefore run in a virtualenv of their own, with `sagemaker<3`, pytest and requests. smdbg is NOT
# installed there: the tests start smdbg's API server (and the moto S3 server) as subprocesses of
# the main .venv, so this environment holds only what a user's SDK script would have.
#
# Idempotent: a second run checks `import sagemaker` (major version 2) and returns quickly.
# Usage: bash scripts/setup_sagemaker_env.sh   then   .venv-sagemaker/bin/python -m pytest tests/api_sdk
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SMDBG_SAGEMAKER_VENV:-$ROOT/.venv-sagemaker}"
PY="${PYTHON:-python3}"
PINS=(
  "sagemaker>=2.200,<3"
  "pytest>=7"
  "pytest-timeout"
)

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup_sagemaker_env: creating $VENV with $($PY --version)"
  "$PY" -m venv "$VENV"
fi

# True when the SDK v2 and pytest import (run from /, so the checkout is not on sys.path).
check() {
  (cd / && SAGEMAKER_SUPPRESS_V2_WARNING=1 "$VENV/bin/python" - <<'PYCHECK'
import importlib.metadata as md
import sys

if not md.version("sagemaker").startswith("2."):
    sys.exit(1)
md.version("pytest"), md.version("pytest-timeout")
import sagemaker  # noqa: F401
import sagemaker.estimator, sagemaker.processing, sagemaker.model  # noqa: F401,E401
PYCHECK
  )
}

if check 2>/dev/null; then
  echo "setup_sagemaker_env: $VENV already has the SageMaker SDK v2"
else
  mkdir -p "$VENV"
  LOG="$VENV/setup.log"
  echo "setup_sagemaker_env: installing ${PINS[*]} (downloads and sizes follow; full log: $LOG)"
  {
    "$VENV/bin/python" -m pip install --progress-bar off --upgrade pip setuptools wheel &&
      "$VENV/bin/python" -m pip install --progress-bar off "${PINS[@]}"
  } 2>&1 | tee "$LOG" | { grep --line-buffered -E '^ *(Downloading|Successfully installed|ERROR)'; [ $? -le 1 ]; } \
    || { tail -n 40 "$LOG" >&2; echo "setup_sagemaker_env: pip failed (log: $LOG)" >&2; exit 1; }
  if ! check; then
    echo "setup_sagemaker_env: $VENV is not usable after installing (see $LOG)" >&2
    exit 1
  fi
fi
(cd / && SAGEMAKER_SUPPRESS_V2_WARNING=1 "$VENV/bin/python" -c "import sagemaker, boto3; print('setup_sagemaker_env: sagemaker', sagemaker.__version__, 'boto3', boto3.__version__)")
