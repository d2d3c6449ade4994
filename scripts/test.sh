#!/usr/bin/env bash
# The README's second command (and .ci/run): install everything, start what the tests need,
# run linters and the whole test suite (main environment, then the MXNet environment).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 DGLBACKEND=pytorch
status=0
step() { echo; echo "=================== $*"; }

step "system packages"
need=()
command -v unshare >/dev/null || need+=(util-linux)
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
{ command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing: ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null || { echo "apt-get failed"; status=1; }
  else
    echo "missing system packages (install them as root): ${need[*]}"; status=1
  fi
fi

step "python environment"
bash scripts/install.sh all || exit 1
.venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null 2>&1 || true

if [ -f scripts/setup_docker.sh ]; then
  step "docker engine and base image"
  bash scripts/setup_docker.sh || status=1
fi
if [ -f scripts/setup_mxnet_env.sh ]; then
  step "MXNet environment (.venv-mxnet)"
  bash scripts/setup_mxnet_env.sh || status=1
fi

step "lint: ruff, mypy, import contracts"
.venv/bin/ruff check smdbg tests benchmarks examples || status=1
.venv/bin/mypy smdbg || status=1
.venv/bin/lint-imports || status=1

step "tests (main environment)"
.venv/bin/python -m pytest tests --ignore=tests/mxnet -p no:cacheprovider -q -rfEs "$@"
rc=$?; [ $rc -eq 0 ] || status=1

if [ -d tests/mxnet ] && [ -x .venv-mxnet/bin/python ]; then
  step "tests (MXNet environment)"
  .venv-mxnet/bin/python -m pytest tests/mxnet -p no:cacheprovider -q -rfEs
  rc=$?; [ $rc -eq 0 ] || status=1
elif [ -d tests/mxnet ]; then
  echo "the MXNet environment is missing"; status=1
fi

step "done: $([ $status -eq 0 ] && echo OK || echo FAILED)"
exit $status
