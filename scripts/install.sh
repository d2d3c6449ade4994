#!/usr/bin/env bash
# Create .venv and install smdbg into it.
#   scripts/install.sh demo   core + PyTorch (what the demo needs)
#   scripts/install.sh all    every framework, component and test tool
# PyTorch is installed first, as the CPU build, so that no dependency pulls a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-demo}"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }
pip install --upgrade pip wheel setuptools >/dev/null
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  echo "== installing torch 2.13.0 (CPU build)"
  pip install "torch==2.13.0"
fi
case "$what" in
  demo) extras="torch,query" ;;
  all) extras="all,dev" ;;
  *) echo "usage: scripts/install.sh demo|all" >&2; exit 2 ;;
esac
echo "== installing smdbg[$extras]"
pip install -e ".[$extras]"
