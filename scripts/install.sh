#!/usr/bin/env bash
# Create .venv and install smdbg into it, saying what it does and how long each step took.
#   scripts/install.sh demo   core + PyTorch (what the demo needs)
#   scripts/install.sh all    every framework, component and test tool
#
# PyTorch is installed first, so that no other package pulls in a different build of it.
# Which build (printed before anything is downloaded):
#   TORCH_BUILD=cpu    (default) the CPU-only build, about 200 MB. If pip's own configuration
#                      already offers a CPU wheel (a local wheel folder or a mirror), that one is
#                      used and nothing is downloaded; otherwise it comes from PyTorch's CPU index,
#                      https://download.pytorch.org/whl/cpu
#   TORCH_BUILD=cuda   the package index's default build: on Linux x86_64, PyPI's torch is the CUDA
#                      build, several GB with its nvidia-* packages
#   TORCH_INDEX_URL=URL  take torch from this index instead, e.g. https://download.pytorch.org/whl/cu126
# A torch already in .venv is kept. Re-running is quick: when every requirement is already
# satisfied nothing is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-demo}"
case "$what" in
  demo) extras="torch,query" ;;
  all) extras="all,dev" ;;
  *) echo "usage: scripts/install.sh demo|all" >&2; exit 2 ;;
esac
PY="${PYTHON:-python3}"
TORCH_VERSION="2.13.0"
TORCH_BUILD="${TORCH_BUILD:-cpu}"
TORCH_INDEX_URL="${TORCH_INDEX_URL:-}"
CPU_INDEX="https://download.pytorch.org/whl/cpu"
started=$SECONDS
step_started=$SECONDS
step() { step_started=$SECONDS; echo "== install: $*"; }
took() { echo "   ($((SECONDS - step_started)) s)"; }

# pip's download progress bars need a terminal; elsewhere (CI logs) pip prints each download
# with its size, and the many "Requirement already satisfied" lines are left out.
pip() {
  if [ -t 1 ]; then
    .venv/bin/python -m pip --disable-pip-version-check "$@"
  else
    local cmd="$1"; shift  # --progress-bar is an option of `pip install`, after the command
    .venv/bin/python -m pip --disable-pip-version-check "$cmd" --progress-bar off "$@" 2>&1 \
      | { grep --line-buffered -v '^Requirement already satisfied'; [ $? -le 1 ]; }
  fi
}

if [ ! -x .venv/bin/python ]; then
  step "creating .venv with $($PY --version)"
  "$PY" -m venv .venv
  pip install -q --upgrade pip wheel setuptools
  took
fi

step "torch"
version_of() { .venv/bin/python -c 'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' "$1" 2>/dev/null; }
if have="$(version_of torch)"; then
  echo "   keeping the installed torch $have"
else
  index_args=()
  if [ -n "$TORCH_INDEX_URL" ]; then
    echo "   torch $TORCH_VERSION from TORCH_INDEX_URL=$TORCH_INDEX_URL"
    index_args=(--index-url "$TORCH_INDEX_URL")
  elif [ "$TORCH_BUILD" = cuda ]; then
    echo "   torch $TORCH_VERSION, the package index's default build (CUDA on Linux x86_64: several GB)"
  elif [ "$TORCH_BUILD" = cpu ]; then
    # What would plain pip choose with this machine's configuration? (resolves metadata only)
    report="$(mktemp)"
    offered="$(.venv/bin/python -m pip --disable-pip-version-check install --dry-run --ignore-installed \
      --no-deps -q --report "$report" "torch==$TORCH_VERSION" >/dev/null 2>&1 \
      && .venv/bin/python -c 'import json,sys; print(json.load(open(sys.argv[1]))["install"][0]["metadata"]["version"])' "$report" \
      || true)"
    rm -f "$report"
    if [[ "$offered" == *+cpu ]]; then
      echo "   torch $offered: the CPU build, offered by pip's own configuration (pip config list)"
    else
      echo "   torch $TORCH_VERSION, the CPU build from $CPU_INDEX (TORCH_BUILD=cuda for the CUDA build)"
      index_args=(--index-url "$CPU_INDEX")
    fi
  else
    echo "TORCH_BUILD=$TORCH_BUILD: expected cpu or cuda (or set TORCH_INDEX_URL)" >&2
    exit 2
  fi
  pip install "${index_args[@]}" "torch==$TORCH_VERSION"
  echo "   installed torch $(version_of torch)"
fi
took

step "smdbg[$extras] (editable, from $(pwd))"
# Only smdbg itself left to install means every dependency is satisfied: then a smdbg that is
# already installed is kept (an editable install follows the checkout's files anyway).
report="$(mktemp)"
todo="$(.venv/bin/python -m pip --disable-pip-version-check install --dry-run -q --report "$report" -e ".[$extras]" \
  >/dev/null 2>&1 && .venv/bin/python -c '
import json, sys
print(" ".join(i["metadata"]["name"] for i in json.load(open(sys.argv[1]))["install"]))' "$report" || echo "?")"
rm -f "$report"
root="$(pwd)"  # smdbg as an installed package sees it: from /, so the checkout does not stand in for it
installed="$(cd / && "$root/.venv/bin/python" -c 'import os, smdbg; print(os.path.dirname(os.path.dirname(smdbg.__file__)))' 2>/dev/null || true)"
if [ "$todo" = smdbg ] && [ -n "$installed" ]; then
  echo "   every requirement is already satisfied; smdbg imports from $installed"
else
  [ "$todo" = "?" ] || echo "   to install: $todo"
  pip install -e ".[$extras]"
fi
took
echo "== install: done in $((SECONDS - started)) s"
