#!/usr/bin/env bash
# The checks that need a CUDA GPU, in one run: the gpu-marked tests and the CUDA overhead table
# (ResNet-18 and a transformer encoder), on a machine whose python3 has PyTorch with CUDA,
# numpy, pyarrow and pytest. smdbg runs from this checkout (PYTHONPATH), nothing is installed.
#
#     bash benchmarks/gpu_check.sh                  # logs and the table under $OUT (or /tmp)
#     STEPS=40 REPEATS=5 SAVE_ALL=1 bash benchmarks/gpu_check.sh
#
# smdebug 1.0.34 runs beside it when wheels for it sit in .whl/ (smdebug, protobuf 3.20.3,
# numpy<2, boto3 and its needs, pyinstrument 3.4.2 and the pyinstrument_cext source archive):
# they go into their own --target folder used only by the smdebug process.
set -uo pipefail
OUT=${OUT:-/tmp/smdbg-gpu}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
$PY -c "import torch, numpy, pyarrow; print('torch', torch.__version__, torch.cuda.get_device_name(), 'numpy', numpy.__version__, 'pyarrow', pyarrow.__version__)" || exit 1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,memory.used --format=csv

echo "== gpu tests"
$PY -m pytest -q -m gpu tests/pytorch/test_pytorch_gpu.py -p no:cacheprovider 2>&1 | tee "$OUT/gpu_tests.log"
tests_rc=${PIPESTATUS[0]}

smd_args=()
if ls .whl/smdebug-*.whl >/dev/null 2>&1; then
  site=/tmp/smdebug-site
  $PY -m pip install -q --no-index --no-deps --no-compile --target "$site" .whl/*.whl &&
    $PY -m pip install -q --no-index --no-deps --no-build-isolation --target "$site" .whl/pyinstrument_cext-*.tar.gz &&
    printf '#!/bin/sh\nPYTHONPATH=%s exec %s "$@"\n' "$site" "$(command -v "$PY")" >/tmp/smdebug-python &&
    chmod +x /tmp/smdebug-python && smd_args=(--smdebug-python /tmp/smdebug-python --smdebug-timeout 300)
fi

echo "== overhead on cuda"
extra=()
[ "${SAVE_ALL:-0}" = 1 ] && extra+=(--save-all-gpu)
$PY benchmarks/hook_overhead.py --device cuda --steps "${STEPS:-40}" --repeats "${REPEATS:-5}" \
  ${MODELS:+--models "$MODELS"} "${extra[@]}" "${smd_args[@]}" 2>&1 | tee "$OUT/overhead_cuda.md"
exit "$tests_rc"
