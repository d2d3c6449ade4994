#!/usr/bin/env bash
# The README's second command (and .ci/run): install everything, start what the tests need,
# run linters and the whole test suite (main environment, then the MXNet environment, then the
# SageMaker Python SDK v2 environment against smdbg's API server).
# Each step prints its name and, when it ends, how long it took; a table of the steps and the
# total closes the run. Whatever the run started and left running (a Docker engine it had to
# start, servers a test did not stop) is stopped at the end, by pid; nothing else is touched.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 DGLBACKEND=pytorch
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # test this checkout, wherever .venv's smdbg points
SMDBG_RUN_MARKER="$(date +%s)-$$-$RANDOM"
export SMDBG_RUN_MARKER  # inherited by every process this run starts: how stop_started.py finds them
status=0
started=$SECONDS
current="" current_started=$SECONDS
timings=()
end_step() {
  if [ -n "$current" ]; then
    local took=$((SECONDS - current_started))
    timings+=("$(printf '%6d s  %s' "$took" "$current")")
    echo "------------------- $current: $took s"
  fi
  current=""
}
step() {
  end_step
  current="$*" current_started=$SECONDS
  echo; echo "=================== $* (at $((SECONDS - started)) s)"
}
finish() {
  end_step
  step "stop what this run started"
  python3 scripts/stop_started.py "$SMDBG_RUN_MARKER"
  end_step
  echo; echo "=================== step times"
  printf '%s\n' "${timings[@]}"
  printf '%6d s  total\n' $((SECONDS - started))
  echo "=================== done: $([ $status -eq 0 ] && echo OK || echo FAILED)"
}
trap finish EXIT
trap 'status=130; exit 130' INT TERM

step "system packages"
need=()
command -v unshare >/dev/null || need+=(util-linux)
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v chromium >/dev/null || need+=(chromium)  # the studio's pages are tested in a real browser
{ command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing: ${need[*]}"
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"; } \
      | { grep --line-buffered -E '^(Get:|Setting up|Need to get|After this operation|E:)'; [ $? -le 1 ]; } \
      || { echo "apt-get failed"; status=1; }
  else
    echo "missing system packages (install them as root): ${need[*]}"; status=1
  fi
else
  echo "present: util-linux, docker.io, debootstrap, postgresql, chromium"
fi

step "python environment (.venv)"
bash scripts/install.sh all || { status=1; exit 1; }
.venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null 2>&1 || true

if [ -f scripts/setup_docker.sh ]; then
  step "docker engine and base image"
  bash scripts/setup_docker.sh || status=1
fi
if [ -f scripts/setup_mxnet_env.sh ]; then
  step "MXNet environment (.venv-mxnet)"
  bash scripts/setup_mxnet_env.sh || status=1
fi
if [ -f scripts/setup_sagemaker_env.sh ]; then
  step "SageMaker SDK v2 environment (.venv-sagemaker)"
  bash scripts/setup_sagemaker_env.sh || status=1
fi

step "lint: ruff, mypy, import contracts"
.venv/bin/ruff check smdbg tests benchmarks examples || status=1
.venv/bin/mypy smdbg || status=1
.venv/bin/lint-imports || status=1

step "tests (main environment)"
.venv/bin/python -m pytest tests --ignore=tests/mxnet -p no:cacheprovider -q -rfEs --durations=15 "$@"
rc=$?; [ $rc -eq 0 ] || status=1

if [ -d tests/mxnet ] && [ -x .venv-mxnet/bin/python ]; then
  step "tests (MXNet environment)"
  .venv-mxnet/bin/python -m pytest tests/mxnet -p no:cacheprovider -q -rfEs
  rc=$?; [ $rc -eq 0 ] || status=1
elif [ -d tests/mxnet ]; then
  echo "the MXNet environment is missing"; status=1
fi

if [ -d tests/api_sdk ] && [ -x .venv-sagemaker/bin/python ]; then
  step "tests (SageMaker SDK v2 environment, against smdbg api serve)"
  .venv-sagemaker/bin/python -m pytest tests/api_sdk -p no:cacheprovider -q -rfEs
  rc=$?; [ $rc -eq 0 ] || status=1
elif [ -d tests/api_sdk ]; then
  echo "the SageMaker SDK environment is missing"; status=1
fi

exit $status
