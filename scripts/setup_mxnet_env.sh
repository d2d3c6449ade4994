#!/usr/bin/env bash
# Create (or refresh) the MXNet test environment .venv-mxnet at the repository root.
#
# MXNet 1.9.1 (its last release) imports only with numpy < 1.24, so its tests run in a virtualenv
# of their own, with numpy 1.23.5 and the pandas/pyarrow releases built for it. smdbg itself is
# installed editable, without dependencies (its core needs only numpy and pyarrow).
#
# Idempotent: a second run checks the pins and `import mxnet` and returns quickly.
# Usage: bash scripts/setup_mxnet_env.sh   then   .venv-mxnet/bin/python -m pytest tests/mxnet
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SMDBG_MXNET_VENV:-$ROOT/.venv-mxnet}"
PY="${PYTHON:-python3}"
PINS=(
  "numpy==1.23.5"
  "pandas==1.5.3"
  "pyarrow==12.0.1"
  "mxnet==1.9.1"
  "pytest>=7"
  "pytest-timeout"
)

# mxnet's libmxnet.so links libgomp/libquadmath/libgfortran from the system on some images.
need_apt=()
for lib in libgomp.so.1 libquadmath.so.0; do
  if ! ldconfig -p 2>/dev/null | grep -q "$lib"; then
    case "$lib" in
      libgomp.so.1) need_apt+=(libgomp1) ;;
      libquadmath.so.0) need_apt+=(libquadmath0) ;;
    esac
  fi
done
if ((${#need_apt[@]})); then
  echo "setup_mxnet_env: installing system libraries: ${need_apt[*]}"
  if command -v apt-get >/dev/null; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
  else
    echo "setup_mxnet_env: please install ${need_apt[*]} with your system's package manager" >&2
    exit 1
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup_mxnet_env: creating $VENV with $($PY --version)"
  "$PY" -m venv "$VENV"
fi

# True when the pins are installed, mxnet imports, and smdbg resolves to this checkout (run from /,
# so the working directory does not stand in for the editable install).
check() {
  (cd / && "$VENV/bin/python" - "$ROOT" <<'PYCHECK'
import importlib.metadata as md
import os
import sys

want = {"numpy": "1.23.5", "pandas": "1.5.3", "pyarrow": "12.0.1", "mxnet": "1.9.1"}
for name, version in want.items():
    if md.version(name) != version:
        sys.exit(1)
md.version("pytest"), md.version("pytest-timeout")
import mxnet  # noqa: F401  (fails here if a system library is missing)
import smdbg

if os.path.realpath(os.path.dirname(smdbg.__file__)) != os.path.realpath(os.path.join(sys.argv[1], "smdbg")):
    sys.exit(1)
PYCHECK
  )
}

if check 2>/dev/null; then
  echo "setup_mxnet_env: $VENV already has the pins and imports mxnet"
else
  LOG="$VENV/setup.log"
  echo "setup_mxnet_env: installing ${PINS[*]} (downloads and sizes follow; full log: $LOG)"
  {
    "$VENV/bin/python" -m pip install --progress-bar off --upgrade pip setuptools wheel &&
      "$VENV/bin/python" -m pip install --progress-bar off "${PINS[@]}" &&
      "$VENV/bin/python" -m pip install --progress-bar off --no-deps --no-build-isolation -e "$ROOT"
  } 2>&1 | tee "$LOG" | { grep --line-buffered -E '^ *(Downloading|Successfully installed|ERROR)'; [ $? -le 1 ]; } \
    || { tail -n 40 "$LOG" >&2; echo "setup_mxnet_env: pip failed (log: $LOG)" >&2; exit 1; }
  if ! check; then
    echo "setup_mxnet_env: $VENV is not usable after installing (see $LOG)" >&2
    exit 1
  fi
fi
(cd / && "$VENV/bin/python" -c "import mxnet, numpy, pyarrow, smdbg; print('setup_mxnet_env: mxnet', mxnet.__version__, 'numpy', numpy.__version__, 'pyarrow', pyarrow.__version__, 'smdbg', smdbg.__file__)")
